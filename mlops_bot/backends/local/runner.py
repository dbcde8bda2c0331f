"""The local pipeline runner: `kfp.local` in the pipeline's environment, records on disk.

```
<state>/runs/<run_id>/run.json        # the record (RunRecord as JSON)
<state>/runs/<run_id>/pipeline.yaml   # the exact spec that ran
<state>/runs/<run_id>/artifacts/      # kfp.local's pipeline root: models, datasets, metrics
<state>/runs/<run_id>/log.txt         # everything the tasks printed
```
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_bot.backends.local.builder import environment_dir, run_environment
from mlops_bot.backends.types import RunRecord, RunRequest, metrics_of
from mlops_bot.console import progress
from mlops_bot.errors import UserError

__all__ = ["LocalRunner"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TAIL_LINES = 30


class LocalRunner:
    def __init__(self, runs: Path, envs: Path, docker: bool = False) -> None:
        self._runs = runs
        self._envs = envs
        self._docker = docker  # tasks run in their images with kfp.local's DockerRunner

    def run(self, request: RunRequest) -> RunRecord:
        existing = self.get(request.run_id)
        if existing is not None and existing.status in ("succeeded", "running"):
            return existing
        folder = self._runs / request.run_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pipeline.yaml").write_bytes(request.spec)
        record = RunRecord(
            run_id=request.run_id, pipeline=request.pipeline, version=request.version,
            git_sha=request.git_sha, status="running", parameters=request.parameters,
            started_at=_now(), trigger=request.trigger, url=str(folder),
        )
        self._save(record)
        try:
            result = self._execute(request, folder)
        except UserError as error:  # its environment could not be made: this run fails
            message, _, details = str(error).partition("\n")
            (folder / "log.txt").write_text(f"{details or message}\n")
            result = {"status": "failed", "error": message}
        outputs = result.get("outputs", [])
        finished = dataclasses.replace(
            record, status=result["status"], finished_at=_now(), artifacts=outputs,
            metrics=metrics_of(outputs), error=_error(result, folder),
        )
        self._save(finished)
        return finished

    def get(self, run_id: str) -> RunRecord | None:
        path = self._runs / run_id / "run.json"
        if not path.is_file():
            return None
        return RunRecord(**json.loads(path.read_text()))

    def runs(self, pipeline: str | None = None, git_sha: str | None = None) -> list[RunRecord]:
        records = [RunRecord(**json.loads(p.read_text()))
                   for p in self._runs.glob("*/run.json")]
        records = [r for r in records if (pipeline is None or r.pipeline == pipeline)
                   and (git_sha is None or r.git_sha.startswith(git_sha))]
        return sorted(records, key=lambda r: r.started_at, reverse=True)

    def _execute(self, request: RunRequest, folder: Path) -> dict[str, Any]:
        if self._docker:
            from mlops_bot.backends.local.docker_runs import prepare_run

            refused = prepare_run(request, folder / "artifacts")
            if refused:
                return {"status": "failed", "error": refused}
        # With Docker the worker only orchestrates (the tasks run in their images): its own
        # interpreter has kfp and the Docker SDK.
        python = sys.executable if self._docker else self._python_for(request)
        request_file = folder / "request.json"
        result_file = folder / "result.json"
        result_file.unlink(missing_ok=True)
        request_file.write_text(json.dumps({
            "spec_path": str(folder / "pipeline.yaml"), "parameters": request.parameters,
            "pipeline_root": str(folder / "artifacts"), "result_path": str(result_file),
            "runner": "docker" if self._docker else "subprocess",
        }))
        progress(f"  running {request.pipeline}@{request.version} as {request.run_id} "
                 f"(log: {folder / 'log.txt'})")
        with open(folder / "log.txt", "w") as log:
            code = subprocess.run(
                [python, "-m", "mlops_bot.backends.local.kfp_worker", str(request_file)],
                stdout=log, stderr=subprocess.STDOUT,
            ).returncode
        if not result_file.is_file():
            return {"status": "failed", "error": f"the local runner exited with code {code} "
                    "before writing a result"}
        result: dict[str, Any] = json.loads(result_file.read_text())
        return result

    def _python_for(self, request: RunRequest) -> str:
        """A run environment over the pipeline image's environment, else over the bot's packages
        only: what the run pip-installs lands there, never in the bot's or the image's."""
        envs = [environment_dir(self._envs, ref) for ref in request.images.values()
                if ref.startswith("mlops-local/")]
        base = next((env for env in envs if (env / "bin" / "python").exists()), None)
        return str(run_environment(self._envs, request.spec, base))

    def _save(self, record: RunRecord) -> None:
        path = self._runs / record.run_id / "run.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(record), indent=2))
        tmp.replace(path)



def _error(result: dict[str, Any], folder: Path) -> str | None:
    if result["status"] == "succeeded":
        return None
    message = _ANSI.sub("", str(result.get("error") or "the run failed"))
    log = folder / "log.txt"
    if not log.is_file():  # refused before anything ran
        return message
    tail = _ANSI.sub("", log.read_text(errors="replace")).strip().splitlines()[-_TAIL_LINES:]
    return message + f"\n  last lines of {log}:\n" + "\n".join(f"    {line}" for line in tail)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
