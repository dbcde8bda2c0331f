"""Runs one compiled pipeline with `kfp.local`, inside a pipeline's built environment.

Started by `LocalRunner` as `<env>/bin/python -m mlops_bot.backends.local.kfp_worker REQUEST`, so
the components' subprocesses use that environment's interpreter and packages. It runs the
registry's compiled spec itself (not the Python definition), then writes a JSON result with every
task's output artifacts and the metrics they logged.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

__all__ = ["main"]


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    root = Path(request["pipeline_root"])
    result: dict[str, Any] = {"status": "succeeded", "error": None}
    try:
        _run(Path(request["spec_path"]), request["parameters"], root)
    except Exception as error:  # the run failed: the record says why, the runner carries on
        result = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                  "traceback": traceback.format_exc()}
    result["outputs"] = _outputs(Path(request["spec_path"]), root)
    Path(request["result_path"]).write_text(json.dumps(result, indent=2))
    return 0


def _run(spec_path: Path, parameters: dict[str, Any], root: Path) -> None:
    from kfp import components, local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               raise_on_error=True)
    pipeline = components.load_component_from_file(str(spec_path))
    pipeline(**parameters)


def _outputs(spec_path: Path, root: Path) -> list[dict[str, Any]]:
    """Every artifact the tasks wrote, typed from the spec (system.Model, system.Metrics...)."""
    import yaml

    spec = yaml.safe_load(spec_path.read_text())
    tasks = spec.get("root", {}).get("dag", {}).get("tasks", {})
    component_specs = spec.get("components", {})
    outputs = []
    for output_file in sorted(root.glob("*/*/executor_output.json")):
        task = output_file.parent.name
        component = component_specs.get(tasks.get(task, {}).get("componentRef", {}).get("name"), {})
        declared = component.get("outputDefinitions", {}).get("artifacts", {})
        written = json.loads(output_file.read_text()).get("artifacts", {})
        for name, listing in sorted(written.items()):
            artifact_type = declared.get(name, {}).get("artifactType", {}).get("schemaTitle")
            for artifact in listing.get("artifacts", []):
                outputs.append({"task": task, "name": name, "type": artifact_type,
                                "uri": artifact.get("uri"),
                                "metadata": artifact.get("metadata", {})})
    return outputs


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
