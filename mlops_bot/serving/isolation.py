"""Loading a candidate model where it can reach no credential: a separate process for the smoke
test of the local backend.

A model file is a pickle, and unpickling runs whatever code its author put in it. A pull
request's pipeline writes the candidate, and the deploy job that smoke-tests it holds a GitHub
token and cloud credentials, so the candidate is never unpickled in the job's own process. It
is loaded in a child that:

- gets an environment built from an allow-list (no GITHUB_*, INPUT_*, ACTIONS_*, GOOGLE_*,
  CLOUDSDK_* or anything else of the job's), a fresh temporary folder as its working directory,
  HOME and TMPDIR, and Python's isolated mode (no user site, no PYTHON* variables);
- gets the model file already open (it needs no path into the workspace or the state folder);
- sandboxes itself with Landlock before loading (mlops_bot.serving.landlock), where the kernel
  has it: files readable only beneath Python's own folders, no TCP, no signals out. So it can
  open neither the workspace, credential files nor /proc/<job>/environ, nor reach a metadata
  server. Without Landlock, a root job runs it as `nobody`, and any job makes itself
  non-dumpable while it runs, which closes /proc/<job>/environ to a process of the same user;
- limits itself before loading: address space (`memory`), CPU seconds, no file writes
  (RLIMIT_FSIZE 0), no core dumps; the job kills its whole session after `timeout`;
- answers one JSON document on a descriptor of its own; anything the model prints goes to
  stderr, which the job keeps out of its reports.

A model that fails to load, runs out of time or memory, or answers nonsense is a clean refusal
(ModelLoadError or PredictionError, as when loading in process). What this does not stop where
the kernel has no Landlock: a process of the job's (non-root) user reading files that user can
read, and network access. The metric gate and the smoke test are quality checks, not a security
boundary: on Vertex AI the serving container, with the endpoint's service account, is the
isolation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops_bot.serving import landlock
from mlops_bot.serving.models import ModelLoadError, PredictionError, RequestError
from mlops_bot.serving.state import DeployedModel, StateError, model_file_at

__all__ = ["SMOKE_MEMORY", "SMOKE_TIMEOUT", "child_environment", "predict_isolated"]

SMOKE_TIMEOUT = 120.0  # seconds to load a model and answer the sample instances
SMOKE_MEMORY = 4 << 30  # bytes of address space (numpy and scikit-learn need ~1 GiB mapped)
_NOBODY = 65534
_PACKAGES = str(Path(__file__).resolve().parents[2])  # where `mlops_bot` is imported from
_CHILD = (f"import sys; sys.path.insert(0, {_PACKAGES!r}); "
          "from mlops_bot.serving.isolation import _serve_one; _serve_one()")
# The variables the child gets, whatever the job holds: nothing that names or holds a secret.
_ALLOWED = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
_ANSWER_LIMIT = 16 << 20  # bytes of the child's answer read


def child_environment(home: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: a few locale variables of the job's, and fixed values."""
    source = os.environ if environ is None else environ
    kept = {name: source[name] for name in _ALLOWED if name in source}
    return {**kept, "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home,
            "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def predict_isolated(deployed: DeployedModel, instances: list[Any], *,
                     timeout: float = SMOKE_TIMEOUT, memory: int = SMOKE_MEMORY) -> list[Any]:
    """`deployed`'s predictions for `instances`, its model loaded in a confined child process.
    ModelLoadError: it cannot be loaded there (or took too long, or too much memory);
    RequestError or PredictionError: it loaded but could not predict."""
    where = f"model {deployed.deployed_model_id}"
    try:
        path = model_file_at(Path(deployed.artifact_uri))
    except StateError as error:
        raise ModelLoadError(f"{where}: {error}") from None
    sandboxed = landlock.abi_version() > 0
    request = {"deployed": dataclasses.asdict(deployed), "path": str(path),
               "instances": instances, "memory": memory, "cpu": math.ceil(timeout) + 1,
               "landlock": sandboxed}
    with tempfile.TemporaryDirectory(prefix="mlops-bot-smoke-") as home, \
            open(path, "rb") as model, _undumpable():
        request["fd"] = model.fileno()
        process = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", _CHILD], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=home,
            env=child_environment(home), pass_fds=(model.fileno(),), start_new_session=True,
            **({} if sandboxed else _unprivileged(home)))
        try:
            out, err = process.communicate(json.dumps(request).encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ModelLoadError(f"{where}: loading and smoke-testing it took longer than "
                                 f"{timeout:g} s, so it was stopped") from None
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # and whatever it started
            process.wait()
    return _answer(process.returncode, out[:_ANSWER_LIMIT], err, where, memory)


def _answer(code: int, out: bytes, err: bytes, where: str, memory: int) -> list[Any]:
    try:
        answer = json.loads(out.decode("utf-8", "replace").strip().splitlines()[-1])
    except (IndexError, ValueError):
        answer = None
    if isinstance(answer, dict) and code == 0:
        kinds = {"load": ModelLoadError, "request": RequestError, "predict": PredictionError}
        refused = kinds.get(str(answer.get("refused")))
        if refused is not None:
            raise refused(str(answer.get("message", ""))[:2000])
        predictions = answer.get("predictions")
        if isinstance(predictions, list):
            return predictions
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
        why = f"was killed by signal {name}"
        if -code in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT):
            why += f" (its memory is limited to {memory >> 20} MiB)"
    else:
        why = f"ended with exit code {code} without an answer"
    last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    raise ModelLoadError(f"{where}: the process that loads it for the smoke test {why}"
                         + (f": {last[0][:300]}" if last[0] else ""))


def _unprivileged(home: str) -> dict[str, Any]:
    """Popen's arguments to run the child as `nobody` when the job is root (it owns `home`);
    Python must then be readable by everyone (it is in the action's image)."""
    if os.geteuid() != 0:
        return {}
    os.chown(home, _NOBODY, _NOBODY)
    return {"user": _NOBODY, "group": _NOBODY, "extra_groups": []}


@contextlib.contextmanager
def _undumpable() -> Iterator[None]:
    """The job non-dumpable while the child runs: a process of the same user can then read
    neither its /proc/<pid>/environ (the token) nor its memory."""
    prctl = _prctl()
    if prctl is None or os.geteuid() == 0:  # root's child runs as nobody instead
        yield
        return
    pr_get_dumpable, pr_set_dumpable = 3, 4
    before = prctl(pr_get_dumpable, 0, 0, 0, 0)
    prctl(pr_set_dumpable, 0, 0, 0, 0)
    try:
        yield
    finally:
        if before > 0:
            prctl(pr_set_dumpable, before, 0, 0, 0)


def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# -- the child ------------------------------------------------------------------------------------
def _serve_one() -> None:
    """The child: one request on stdin, one answer on a descriptor of its own."""
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # what the model prints goes to stderr, never into the answer
    request = json.loads(sys.stdin.read())
    import joblib  # type: ignore[import-untyped]  # noqa: F401  # imported before the sandbox

    import mlops_bot.serving.models  # noqa: F401

    try:
        _confine(int(request["memory"]), int(request["cpu"]), bool(request["landlock"]))
        result = _predict(request)
    except OSError as error:
        result = {"refused": "load", "message": f"the smoke test could not sandbox itself "
                  f"({error}), so the model was not loaded"}
    with os.fdopen(answer_fd, "w", encoding="utf-8") as answer:
        answer.write(json.dumps(result) + "\n")


def _confine(memory: int, cpu: int, sandbox: bool) -> None:
    import resource

    for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu),
                         (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails (EFBIG) instead of killing
    if sandbox:
        landlock.restrict(_readable())


def _readable() -> list[str]:
    """What the child may read: Python, its packages (not the folder holding mlops_bot, which
    may be a checkout), and the system's shared libraries."""
    own = str(Path(_PACKAGES) / "mlops_bot")
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, own,
             *(p for p in sys.path if p and os.path.realpath(p) != _PACKAGES),
             "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib",
             "/etc/ld.so.cache", "/dev/null", "/dev/urandom"]
    return [os.path.realpath(p) for p in paths] + paths


def _predict(request: dict[str, Any]) -> dict[str, Any]:
    from mlops_bot.serving.models import LoadedModel, read_estimator

    fields = dict(request["deployed"])
    for key in ("feature_names", "classes"):
        fields[key] = tuple(fields.get(key) or ())
    deployed = DeployedModel(**fields)
    where = f"model {deployed.deployed_model_id}"
    try:
        with os.fdopen(int(request["fd"]), "rb") as source:
            estimator = read_estimator(Path(request["path"]), where, source)
        model = LoadedModel(deployed, estimator, (request["path"], 0, 0))
        instances = list(request["instances"])
        return {"predictions": model.predict(instances) if instances else []}
    except ModelLoadError as error:
        return {"refused": "load", "message": str(error)}
    except RequestError as error:
        return {"refused": "request", "message": str(error)}
    except PredictionError as error:
        return {"refused": "predict", "message": str(error)}
    except MemoryError:
        return {"refused": "load", "message": f"{where} needs more memory than the smoke test's "
                f"limit of {int(request['memory']) >> 20} MiB"}
