"""Runs one compiled pipeline with `kfp.local`, inside a pipeline's built environment.

Started by `LocalRunner` as `<env>/bin/python -m mlops_bot.backends.local.kfp_worker REQUEST`, so
the components' subprocesses use that environment's interpreter and packages; with the Docker
builder (`"runner": "docker"` in the request) it runs under mlops-bot's own interpreter and the
tasks run in their images with kfp.local's DockerRunner. It runs the registry's compiled spec
itself (not the Python definition), then writes a JSON result with every task's output artifacts
and the metrics they logged.
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from mlops_bot.backends.local.files import replace_json
from mlops_bot.backends.local.run_owner import Heartbeat
from mlops_bot.backends.run_metrics import final_tasks, float_outputs

__all__ = ["main"]


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    root = Path(request["pipeline_root"])
    result: dict[str, Any] = {"status": "succeeded", "error": None}
    # The worker beats too: when the push that started it dies, an orphaned worker that still
    # runs is seen as alive (from other hosts as well) until it has written its result.
    beating = request.get("heartbeat_path")
    with Heartbeat(Path(beating)) if beating else contextlib.nullcontext():
        try:
            _run(Path(request["spec_path"]), request["parameters"], root,
                 request.get("runner", "subprocess"))
        except Exception as error:  # the run failed: the record says why, the runner carries on
            result = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                      "traceback": traceback.format_exc()}
        result["outputs"] = _outputs(Path(request["spec_path"]), root)
        # Whole or not at all: the runner folds in an orphan's result only when it is complete.
        replace_json(Path(request["result_path"]), result)
    return 0


def _run(spec_path: Path, parameters: dict[str, Any], root: Path, runner: str) -> None:
    from kfp import components, local

    _record_container_outputs()
    chosen = local.DockerRunner() if runner == "docker" else local.SubprocessRunner(use_venv=False)
    local.init(runner=chosen, pipeline_root=str(root), raise_on_error=True)
    pipeline = components.load_component_from_file(str(spec_path))
    pipeline(**parameters)


def _record_container_outputs() -> None:
    """Let kfp.local pass on what container components write, as KFP's launcher does.

    kfp.local takes a task's outputs from the executor output file only Python components write;
    a container component (component.yaml) writes just its files at `{outputPath: ...}`, so a
    downstream task could not get them. On Vertex the launcher records each declared output
    artifact at its path; this does the same for the artifacts the task wrote and that the file
    does not already list.
    """
    from kfp.local import executor_output_utils as outputs

    if getattr(outputs.get_outputs_for_task, "_mlops_bot", False):
        return

    def get_outputs_for_task(executor_input: Any, component_spec: Any) -> dict[str, Any]:
        executor_output = outputs.load_executor_output(executor_input.outputs.output_file)
        for name, listing in executor_input.outputs.artifacts.items():
            written = [a for a in listing.artifacts if Path(a.uri).exists()]
            if name not in executor_output.artifacts and written:
                for artifact in written:
                    executor_output.artifacts[name].artifacts.add().CopyFrom(artifact)
        found: dict[str, Any] = outputs.get_outputs_from_executor_output(
            executor_output=executor_output, executor_input=executor_input,
            component_spec=component_spec)
        return found

    get_outputs_for_task._mlops_bot = True  # type: ignore[attr-defined]
    outputs.get_outputs_for_task = get_outputs_for_task


def _outputs(spec_path: Path, root: Path) -> list[dict[str, Any]]:
    """Every artifact the tasks wrote, typed from the spec (system.Model, system.Metrics...)."""
    import yaml

    # The first document is the pipeline spec; a second one (platform config) names no task.
    spec = next(yaml.safe_load_all(spec_path.read_text()), None) or {}
    tasks = spec.get("root", {}).get("dag", {}).get("tasks", {})
    component_specs = spec.get("components", {})
    final = final_tasks(spec)
    outputs = []
    for task_root in sorted(p for p in root.glob("*/*") if p.is_dir()):
        task = task_root.name
        component = component_specs.get(tasks.get(task, {}).get("componentRef", {}).get("name"), {})
        if task in final:  # where the pipeline ends: its float outputs may be metrics
            outputs += float_outputs(task, _parameters(task_root), component)
        declared = component.get("outputDefinitions", {}).get("artifacts", {})
        written = _written(task_root, declared)
        for name, listing in sorted(written.items()):
            artifact_type = declared.get(name, {}).get("artifactType", {}).get("schemaTitle")
            for artifact in listing.get("artifacts", []):
                outputs.append({"task": task, "name": name, "type": artifact_type,
                                "uri": artifact.get("uri"),
                                "metadata": artifact.get("metadata", {})})
    return outputs


def _parameters(task_root: Path) -> dict[str, Any]:
    output_file = task_root / "executor_output.json"
    if not output_file.is_file():
        return {}
    values = json.loads(output_file.read_text()).get("parameterValues")
    return values if isinstance(values, dict) else {}


def _written(task_root: Path, declared: dict[str, Any]) -> dict[str, Any]:
    """The artifacts a task wrote: its executor output (Python components write one), else the
    declared outputs found at their paths (a container component writes only the files)."""
    output_file = task_root / "executor_output.json"
    if output_file.is_file():
        written: dict[str, Any] = json.loads(output_file.read_text()).get("artifacts", {})
        return written
    return {name: {"artifacts": [{"uri": str(task_root / name), "metadata": {}}]}
            for name in declared if (task_root / name).exists()}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
