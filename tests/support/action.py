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
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens there
# A gcp project whose every API is CLOSED: a job that must not reach the cloud fails if it tries.
UNREACHABLE_GCP_CONFIG = f"""
backend: gcp
gcp:
  project: acme-ml
  region: europe-west4
  artifact_repository: images
  registry_bucket: acme-ml-registry
  api_endpoints: {{aiplatform: "{CLOSED}", cloudbuild: "{CLOSED}", storage: "{CLOSED}"}}
environments:
  staging:
    endpoint: alpha-staging
"""


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
               image: str | None = None) -> ActionRun:
    """The entry point as a process on this machine, or with `image` in its container as
    GitHub runs a `using: docker` action (see `run_in_image`)."""
    if image is not None:
        return run_in_image(image, workspace, tmp, event_name, event, inputs, env)
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


# The uid GitHub-hosted runners run as (and the action image's USER): what the runner creates is
# owned by it.
RUNNER_UID = 1001
ACTION_YML = Path(__file__).parents[2] / "action.yml"


def action_inputs(given: dict[str, str]) -> dict[str, str]:
    """The INPUT_* variables the runner sets: every input action.yml declares, upper-cased with
    its dashes kept, the given value or the default (a `${{ ... }}` default evaluates to "" here,
    as `github.token` does where no token is given)."""
    import yaml

    declared = yaml.safe_load(ACTION_YML.read_text())["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"action.yml declares no input {sorted(unknown)}"
    values = {name: str(spec.get("default", "")) for name, spec in declared.items()}
    values = {name: "" if value.startswith("${{") else value for name, value in values.items()}
    return {f"INPUT_{name.upper()}": value for name, value in {**values, **given}.items()}


def hand_to(path: Path, uid: int, mode: int | None = None) -> None:
    """`path` and everything below owned by `uid` (and chmod'ed to `mode`, folders kept
    traversable), as a runner of that user would have left them. Where the tests do not run as
    root (GitHub-hosted runners run them as uid 1001), a root container makes the change."""
    if os.geteuid() != 0:
        _hand_to_in_container(path, uid, mode)
        return
    for folder, dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, uid, uid)
            if mode is not None and not os.path.islink(name):
                os.chmod(name, mode | (0o111 if os.path.isdir(name) else 0))


def _hand_to_in_container(path: Path, uid: int, mode: int | None) -> None:
    from tests.support.docker import docker

    script = f"chown -R {uid}:{uid} /target"
    if mode is not None:
        script += (f" && find /target -type d -exec chmod {mode | 0o111:o} {{}} +"
                   f" && find /target ! -type d ! -type l -exec chmod {mode:o} {{}} +")
    docker("run", "--rm", "--user", "0", "-v", f"{path}:/target", "--entrypoint", "sh",
           "python:3.11-slim", "-c", script)


def run_in_image(image: str, workspace: Path, tmp: Path, event_name: str, event: dict[str, Any],
                 inputs: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 ) -> ActionRun:
    """`docker run` as the runner starts a `using: docker` action: the workspace at
    /github/workspace (also the working directory), the event at /github/workflow/event.json,
    GITHUB_OUTPUT and GITHUB_STEP_SUMMARY in /github/file_commands, HOME at /github/home (the
    runner's folders owned by its uid), GITHUB_* and INPUT_* in the environment, the image's own
    USER, the engine's socket mounted as GitHub mounts it. The host network, so the container
    reaches fakes listening on 127.0.0.1."""
    from tests.support.docker import docker

    runner = tmp / "runner"
    folders = {name: runner / name for name in ("_github_home", "_github_workflow",
                                                "_runner_file_commands")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    (folders["_github_workflow"] / "event.json").write_text(json.dumps(event))
    commands = folders["_runner_file_commands"]
    output, summary = commands / "set_output_0", commands / "step_summary_0"
    output.write_text("")
    summary.write_text("")
    hand_to(runner, RUNNER_UID)
    environment = {
        "HOME": "/github/home", "CI": "true", "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_WORKSPACE": "/github/workspace", "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_OUTPUT": "/github/file_commands/set_output_0",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/step_summary_0",
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_RUN_ID": "4242", "GITHUB_RUN_NUMBER": "7", "GITHUB_ACTOR": "alice",
        "GITHUB_SHA": str(event.get("after") or ""), "GITHUB_REF": str(event.get("ref") or ""),
        "RUNNER_OS": "Linux", "RUNNER_TEMP": "/home/runner/work/_temp",
        **action_inputs(inputs or {}), **(env or {}),
    }
    args = ["run", "--rm", "--network", "host", "--workdir", "/github/workspace",
            "-v", "/var/run/docker.sock:/var/run/docker.sock",
            "-v", f"{workspace}:/github/workspace",
            "-v", f"{folders['_github_home']}:/github/home",
            "-v", f"{folders['_github_workflow']}:/github/workflow",
            "-v", f"{commands}:/github/file_commands"]
    for name, value in environment.items():
        args += ["-e", f"{name}={value}"]
    result = docker(*args, image, timeout=600, check=False)
    return ActionRun(result.returncode, read_outputs(output.read_text()), summary.read_text(),
                     result.stderr)
