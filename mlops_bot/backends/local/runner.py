"""The local pipeline runner: `kfp.local` in the pipeline's environment, records on disk.

```
<state>/runs/<run_id>/run.json        # the record (RunRecord as JSON, plus `owner`, `attempts`)
<state>/runs/<run_id>/pipeline.yaml   # the exact spec that ran
<state>/runs/<run_id>/artifacts/      # kfp.local's pipeline root: models, datasets, metrics
<state>/runs/<run_id>/log.txt         # everything the tasks printed (log.attempt-N.txt: earlier)
<state>/runs/<run_id>/.claim          # flock: held by whoever runs it, and by its worker
<state>/runs/<run_id>/heartbeat       # touched every few seconds by both while they live
```

A run has one owner. Claiming it takes the exclusive lock of `.claim`, held until the record says
how the run ended (the kfp worker inherits it, so it stays held while an orphaned worker still
runs). A second push or thread asking for the same run id waits for the lock (until its
deadline) and reports the outcome of the run it waited for. A `running` record whose owner is
gone (run_owner.gone_why) is taken over: the result its worker wrote is folded in if there is
one, else it is marked failed with why and run again as the next attempt, as a failed run is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from mlops_bot.backends.local.builder import environment_dir, run_environment
from mlops_bot.backends.local.files import StateFileError, replace_json
from mlops_bot.backends.local.records import read_run
from mlops_bot.backends.local.run_owner import Heartbeat, gone_why, process_identity
from mlops_bot.backends.types import RunRecord, RunRequest, metrics_of
from mlops_bot.console import progress
from mlops_bot.errors import UserError

__all__ = ["LocalRunner"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TAIL_LINES = 30
_FIELDS = {f.name for f in dataclasses.fields(RunRecord)}
_STALE_AFTER = 30.0  # seconds without a heartbeat after which another host's run is gone
_POLL = 0.5  # seconds between looks at a run another process runs


class LocalRunner:
    def __init__(self, runs: Path, envs: Path, docker: bool = False, *,
                 stale_after: float = _STALE_AFTER, poll: float = _POLL) -> None:
        self._runs = runs
        self._envs = envs
        self._docker = docker  # tasks run in their images with kfp.local's DockerRunner
        self._stale_after = stale_after
        self._poll = poll
        self._asked: dict[str, str] = {}  # run id -> when `start` was last asked for it

    def run(self, request: RunRequest) -> RunRecord:
        record = self.start(request)
        return self.wait(request, math.inf) if record.status == "running" else record

    # kfp.local runs here, in a worker process per run: `start` runs it to its end (concurrent
    # starts from several threads run concurrently), unless another process or thread runs it
    # now: then it returns that run's `running` record, and `wait` waits for it.
    def start(self, request: RunRequest) -> RunRecord:
        self._asked[request.run_id] = _now()
        with self._claim(request.run_id, blocking=False) as claim:
            found = None if claim is None else self._claimed(request, claim, since=None)
        if found is not None:
            return found
        record = self.get(request.run_id)
        if record is None or record.status != "running":  # its holder is only looking at it
            return self._pending(request)
        owner = self._document(request.run_id).get("owner") or {}
        progress(f"  {request.pipeline}: run {request.run_id} is being run by another push "
                 f"(pid {owner.get('pid', '?')} on {owner.get('host', '?')}); waiting for it")
        return record

    def wait(self, request: RunRequest, deadline: float) -> RunRecord:
        since = self._asked.get(request.run_id) or _now()
        while True:
            with self._claim(request.run_id, blocking=False) as claim:
                found = None if claim is None else self._claimed(request, claim, since=since)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                return self._still_running(request)
            time.sleep(self._poll)

    def get(self, run_id: str) -> RunRecord | None:
        return _record(self._document(run_id))

    def runs(self, pipeline: str | None = None, git_sha: str | None = None) -> list[RunRecord]:
        records: list[RunRecord] = []
        for path in self._runs.glob("*/run.json"):
            try:
                records.extend(filter(None, [self.get(path.parent.name)]))
            except StateFileError as error:  # one bad record never hides (or blocks) the others
                progress(f"mlops-bot: warning: skipped a run: {error}")
        records = [r for r in records if (pipeline is None or r.pipeline == pipeline)
                   and (git_sha is None or r.git_sha.startswith(git_sha))]
        return sorted(records, key=lambda r: r.started_at, reverse=True)

    # -- claiming ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _claim(self, run_id: str, blocking: bool) -> Iterator[IO[str] | None]:
        """The run's claim lock, held for the block; None when another holder has it."""
        folder = self._runs / run_id
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".claim", "a") as handle:  # a handle per call: threads exclude too
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield None
                return
            try:
                yield handle
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _claimed(self, request: RunRequest, claim: IO[str],
                 since: str | None) -> RunRecord | None:
        """With the claim held: the run's outcome, running it if nobody did; None when a process
        on another host (which a lock cannot reach) still runs it. A failure that ended `since`
        (while the caller waited for another push) is that push's outcome, not rerun."""
        document = self._document(request.run_id)
        record = _record(document)
        attempts: list[dict[str, Any]] = list(document.get("attempts") or [])
        if record is not None and record.status == "running":
            why = gone_why(document.get("owner"), self._folder(request) / "heartbeat",
                           self._stale_after)
            if why is None:
                return None
            record, attempts = self._take_over(request, record, document, why)
            if record.status == "succeeded" or attempts[-1]["folded"]:
                return record  # what its orphaned worker wrote
            return self._execute_claimed(request, claim, attempts)
        if record is not None and (record.status == "succeeded" or (
                since is not None and record.status == "failed"
                and (record.finished_at or "") >= since)):
            return record  # the outcome of the run this call found or waited for
        if record is not None and record.status == "failed":
            number = (document.get("owner") or {}).get("attempt", 1)
            if not any(a.get("attempt") == number for a in attempts):
                attempts.append(_attempt(record, document))  # it failed as it ran
        return self._execute_claimed(request, claim, attempts)

    def _take_over(self, request: RunRequest, record: RunRecord, document: dict[str, Any],
                   why: str) -> tuple[RunRecord, list[dict[str, Any]]]:
        """A run whose owner is gone: its worker's result folded in, else marked failed."""
        folder = self._folder(request)
        attempts = list(document.get("attempts") or [])
        result = _read_result(folder / "result.json")
        if result is not None:
            progress(f"  {request.pipeline}: run {request.run_id}: {why}; its worker wrote a "
                     "result: folding it in")
            outputs = result.get("outputs", [])
            record = dataclasses.replace(
                record, status=result["status"], finished_at=_now(), artifacts=outputs,
                metrics=metrics_of(outputs), error=_error(result, folder))
        else:
            progress(f"  {request.pipeline}: run {request.run_id}: {why}; marking it failed "
                     "and running it again")
            record = dataclasses.replace(
                record, status="failed", finished_at=_now(),
                error=f"{why}: the attempt was cut short; the next push runs it again")
        attempts.append({**_attempt(record, document, why), "folded": result is not None})
        self._save(record, document.get("owner"), attempts)
        return record, attempts

    # -- running -----------------------------------------------------------------------------
    def _execute_claimed(self, request: RunRequest, claim: IO[str],
                         attempts: list[dict[str, Any]]) -> RunRecord:
        folder = self._folder(request)
        number = max((int(a.get("attempt") or 1) for a in attempts), default=0) + 1
        if number > 1:  # an earlier attempt's outputs and log must not pass for this one's
            shutil.rmtree(folder / "artifacts", ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                (folder / "log.txt").replace(folder / f"log.attempt-{number - 1}.txt")
            progress(f"  {request.pipeline}: running {request.run_id} again as attempt {number}")
        (folder / "pipeline.yaml").write_bytes(request.spec)
        # Before the record says running: a result found later is this attempt's, or none.
        (folder / "result.json").unlink(missing_ok=True)
        owner = {**process_identity(), "attempt": number}
        record = RunRecord(
            run_id=request.run_id, pipeline=request.pipeline, version=request.version,
            git_sha=request.git_sha, status="running", parameters=request.parameters,
            started_at=_now(), trigger=request.trigger, url=str(folder),
        )
        self._save(record, owner, attempts)
        try:
            with Heartbeat(folder / "heartbeat"):
                result = self._execute(request, folder, claim, record, owner, attempts)
        except UserError as error:  # its environment could not be made: this run fails
            message, _, details = str(error).partition("\n")
            (folder / "log.txt").write_text(f"{details or message}\n")
            result = {"status": "failed", "error": message}
        except BaseException as error:  # a bug or an interruption: the record must not lie
            self._save(dataclasses.replace(record, status="failed", finished_at=_now(), error=(
                f"mlops-bot stopped while running it ({type(error).__name__}: {error}); the "
                "next push runs it again")), owner, attempts)
            raise
        outputs = result.get("outputs", [])
        finished = dataclasses.replace(
            record, status=result["status"], finished_at=_now(), artifacts=outputs,
            metrics=metrics_of(outputs), error=_error(result, folder),
        )
        self._save(finished, owner, attempts)
        return finished

    def _execute(self, request: RunRequest, folder: Path, claim: IO[str], record: RunRecord,
                 owner: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
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
        request_file.write_text(json.dumps({
            "spec_path": str(folder / "pipeline.yaml"), "parameters": request.parameters,
            "pipeline_root": str(folder / "artifacts"), "result_path": str(result_file),
            "runner": "docker" if self._docker else "subprocess",
            "heartbeat_path": str(folder / "heartbeat"), "environment": python,
        }))
        progress(f"  running {request.pipeline}@{request.version} as {request.run_id} "
                 f"(log: {folder / 'log.txt'})")
        with open(folder / "log.txt", "w") as log:
            # The worker inherits the claim: while it lives, an orphan included, nobody else
            # starts this run.
            worker = subprocess.Popen(
                [python, "-m", "mlops_bot.backends.local.kfp_worker", str(request_file)],
                stdout=log, stderr=subprocess.STDOUT, pass_fds=(claim.fileno(),))
            identity = process_identity(worker.pid)
            owner.update(worker_pid=worker.pid, worker_started=identity["started"])
            self._save(record, owner, attempts)
            code = worker.wait()
        result = _read_result(result_file)
        if result is None:
            return {"status": "failed", "error": f"the local runner exited with code {code} "
                    "before writing a result"}
        return result

    def _python_for(self, request: RunRequest) -> str:
        """A run environment over the pipeline image's environment, else over the bot's packages
        only: what the run pip-installs lands there, never in the bot's or the image's."""
        envs = [environment_dir(self._envs, ref) for ref in request.images.values()
                if ref.startswith("mlops-local/")]
        base = next((env for env in envs if (env / "bin" / "python").exists()), None)
        return str(run_environment(self._envs, request.spec, base))

    # -- records -----------------------------------------------------------------------------
    def _folder(self, request: RunRequest) -> Path:
        return self._runs / request.run_id

    def _document(self, run_id: str) -> dict[str, Any]:
        return read_run(self._runs / run_id / "run.json") or {}  # checked: StateFileError

    def _save(self, record: RunRecord, owner: dict[str, Any] | None,
              attempts: list[dict[str, Any]]) -> None:
        document = {**dataclasses.asdict(record), "owner": owner, "attempts": attempts}
        replace_json(self._runs / record.run_id / "run.json", document)

    def _pending(self, request: RunRequest) -> RunRecord:
        """The record of a run another process has claimed but not recorded yet."""
        return RunRecord(run_id=request.run_id, pipeline=request.pipeline,
                         version=request.version, git_sha=request.git_sha, status="running",
                         parameters=request.parameters, started_at=_now(),
                         trigger=request.trigger, url=str(self._folder(request)))

    def _still_running(self, request: RunRequest) -> RunRecord:
        record = self.get(request.run_id) or self._pending(request)
        owner = self._document(request.run_id).get("owner") or {}
        return dataclasses.replace(record, status="failed", error=(
            f"run {request.run_id} is still running (pid {owner.get('pid', '?')} on "
            f"{owner.get('host', '?')}, since {record.started_at}) and did not end before this "
            f"push's deadline; its log is {self._folder(request) / 'log.txt'}; push again to "
            "wait for it"))


def _record(document: dict[str, Any]) -> RunRecord | None:
    if not document:
        return None
    return RunRecord(**{k: v for k, v in document.items() if k in _FIELDS})


def _attempt(record: RunRecord, document: dict[str, Any],
             why: str | None = None) -> dict[str, Any]:
    """An ended attempt, as `attempts` of run.json keeps it."""
    owner = document.get("owner") or {}
    return {"attempt": owner.get("attempt", 1), "status": record.status,
            "started_at": record.started_at, "finished_at": record.finished_at,
            "pid": owner.get("pid"), "host": owner.get("host"),
            "error": why or (record.error or "").split("\n", 1)[0] or None}


def _read_result(path: Path) -> dict[str, Any] | None:
    """The result a worker wrote (written whole: kfp_worker renames it into place)."""
    try:
        result: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(result, dict) or not isinstance(result.get("outputs", []), list):
        return None  # garbage: no result to fold in
    return result if result.get("status") in ("succeeded", "failed") else None


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
