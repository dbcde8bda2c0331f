"""Running the action's entry point as the runner does: a process with GITHUB_* and INPUT_*."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENTRYPOINT = Path(__file__).parents[2] / "action" / "entrypoint.py"


@dataclass
class ActionRun:
    returncode: int
    outputs: dict[str, str]
    summary: str
    stderr: str


def read_outputs(text: str) -> dict[str, str]:
    outputs, lines = {}, iter(text.splitlines())
    for line in lines:
        name, delimiter = line.split("<<", 1)
        value = []
        for body in lines:
            if body == delimiter:
                break
            value.append(body)
        outputs[name] = "\n".join(value)
    return outputs


def run_action(workspace: Path, tmp: Path, event_name: str, event: dict[str, Any],
               inputs: dict[str, str] | None = None, env: dict[str, str] | None = None,
               ) -> ActionRun:
    event_path, output, summary = tmp / "event.json", tmp / "output", tmp / "summary.md"
    event_path.write_text(json.dumps(event))
    output.write_text("")
    summary.write_text("")
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("GITHUB_", "INPUT_"))}
    environment.update({
        "GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_WORKSPACE": str(workspace), "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_REPOSITORY": "acme/models",
        **{f"INPUT_{k.upper()}": v for k, v in (inputs or {}).items()}, **(env or {}),
    })
    result = subprocess.run([sys.executable, str(ENTRYPOINT)], cwd=workspace, env=environment,
                            capture_output=True, text=True)
    return ActionRun(result.returncode, read_outputs(output.read_text()), summary.read_text(),
                     result.stderr)
