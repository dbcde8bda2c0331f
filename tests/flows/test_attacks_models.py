"""Attacks through the model a pull request's pipeline writes: a hostile pickle, and artifact
URIs pointing outside the run. The promotion the deploy job runs (flows/promote.py) on the local
backend, with the job's secrets in its environment and on disk.

The hostile pickle runs its code when unpickled: it reports what it could see by raising an
error whose text the refusal carries back, so each test shows what the attacker got.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import pytest

from mlops_bot.backends.factory import backends_for
from mlops_bot.backends.types import RunRecord
from mlops_bot.config import parse_config
from mlops_bot.flows.promote import promote
from mlops_bot.serving import landlock

SECRET = "ghs_attack0123456789secret"
CONFIG = parse_config("environments:\n  staging:\n    endpoint: wine-staging\n", "mlops.yaml")
# The pickle's code: every way it has to the job's token, and a file write and a connection.
SNOOP = """
import json, os, socket
seen = {"environ": sorted(k for k, v in os.environ.items() if SECRET in v or "TOKEN" in k)}
for name, path in (("token_file", TOKEN_FILE), ("parent_environ", f"/proc/{os.getppid()}/environ"),
                   ("job_environ", f"/proc/{JOB}/environ")):
    try:
        with open(path, "rb") as f:
            seen[name] = "READ " + ("secret" if SECRET.encode() in f.read() else "no secret")
    except OSError as e:
        seen[name] = type(e).__name__
try:
    with open(WRITE_TO, "w") as f:
        f.write("pwned")
        f.flush()
    seen["write"] = "WROTE"
except OSError as e:
    seen["write"] = type(e).__name__
if PORT:  # a connection out (to a metadata server, say): here a listener of the test's
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=5).close()
        seen["connect"] = "CONNECTED"
    except OSError as e:
        seen["connect"] = type(e).__name__
raise RuntimeError("SEEN" + json.dumps(seen, sort_keys=True) + "END")
"""


class _Hostile:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (self.code, {}))


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deploy job's secrets: the token in its environment and a credentials file on disk."""
    token_file = tmp_path / "gha-creds.json"
    token_file.write_text(json.dumps({"token": SECRET}))
    token_file.chmod(0o600)
    for name in ("GITHUB_TOKEN", "INPUT_GITHUB-TOKEN", "ACTIONS_RUNTIME_TOKEN"):
        monkeypatch.setenv(name, SECRET)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(token_file))
    monkeypatch.setenv("MLOPS_BOT_STATE_DIR", str(tmp_path / "state"))
    return token_file


def _run(state: Path, run_id: str, model_uri: str, metrics_uri: str | None = None) -> None:
    """A succeeded run of `wine` as the local runner records it, naming these artifacts."""
    artifacts = [{"task": "train", "name": "model", "type": "system.Model", "uri": model_uri,
                  "metadata": {"framework": "sklearn"}}]
    if metrics_uri is not None:
        artifacts.append({"task": "train", "name": "metrics", "type": "system.Metrics",
                          "uri": metrics_uri, "metadata": {"accuracy": 0.99}})
    record = RunRecord(run_id, "wine", "v-0123456789abcdef", "a" * 40, "succeeded", {},
                       "2026-12-01T00:00:00+00:00", metrics={"accuracy": 0.99},
                       artifacts=artifacts)
    folder = state / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(dataclasses.asdict(record)))


def _promote(tmp_path: Path, run_id: str) -> dict[str, Any]:
    backends = backends_for(CONFIG, tmp_path)
    return promote(backends, CONFIG, "staging", "wine", repo_root=tmp_path,
                   run_id=run_id).to_dict()


def _seen(message: str) -> dict[str, Any]:
    start = message.index("SEEN") + 4
    seen: dict[str, Any] = json.loads(message[start:message.index("END", start)])
    return seen


def test_a_pickle_that_reaches_for_the_token_sees_none_and_writes_nothing(tmp_path, job):
    state, written = tmp_path / "state", tmp_path / "pwned.txt"
    model = state / "runs" / "run-1" / "artifacts" / "train" / "model"  # a KFP Model file
    model.parent.mkdir(parents=True)
    listener = socket.create_server(("127.0.0.1", 0))
    code = (f"SECRET, TOKEN_FILE, WRITE_TO, JOB, PORT = {SECRET!r}, {str(job)!r}, "
            f"{str(written)!r}, {os.getpid()}, {listener.getsockname()[1]}\n" + SNOOP)
    joblib.dump(_Hostile(code), model)
    _run(state, "run-1", str(model))

    with listener:
        result = _promote(tmp_path, "run-1")

    assert result["status"] == "deploy_failed", result  # loading it is the first test
    assert SECRET not in json.dumps(result)
    seen = _seen(str(result["message"]))
    assert seen["environ"] == []  # no token variable, under any name
    # Landlock or `nobody` refuse the write; a non-root job without Landlock lets it create
    # the file, but no byte gets into it (RLIMIT_FSIZE 0).
    assert seen["write"] in ("PermissionError", "OSError")
    assert not written.exists() or written.read_bytes() == b""
    for where in ("token_file", "parent_environ", "job_environ"):
        assert not seen[where].startswith("READ"), (where, seen)
    if landlock.abi_version() >= 4:  # Landlock that governs TCP: no connection out either
        assert seen["connect"] == "PermissionError", seen
    assert not result.get("traffic_after")  # nothing was left deployed


def test_the_child_gets_an_allow_listed_environment_only() -> None:
    from mlops_bot.serving.isolation import child_environment

    job = {"GITHUB_TOKEN": SECRET, "INPUT_GITHUB-TOKEN": SECRET, "ACTIONS_ID_TOKEN_REQUEST_TOKEN":
           SECRET, "GOOGLE_APPLICATION_CREDENTIALS": "/creds.json", "CLOUDSDK_CONFIG": "/gcloud",
           "PYTHONPATH": "/workspace", "LD_PRELOAD": "/workspace/x.so", "PATH": "/workspace/bin",
           "HOME": "/root", "LANG": "C.UTF-8"}
    env = child_environment("/tmp/smoke", job)
    assert SECRET not in json.dumps(env) and env["LANG"] == "C.UTF-8"
    assert env["HOME"] == env["TMPDIR"] == "/tmp/smoke" and "/workspace" not in env["PATH"]
    assert not {"PYTHONPATH", "LD_PRELOAD", "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"} & set(env)


def test_a_pickle_that_exhausts_memory_is_a_clean_refusal(tmp_path, job):
    state = tmp_path / "state"
    model = state / "runs" / "run-2" / "artifacts" / "train" / "model"  # a KFP Model file
    model.parent.mkdir(parents=True)
    joblib.dump(_Hostile("hog = bytearray(64 << 30)"), model)
    _run(state, "run-2", str(model))
    result = _promote(tmp_path, "run-2")
    assert result["status"] == "deploy_failed"
    assert "MemoryError" in result["message"] or "memory" in result["message"]


def test_a_pickle_that_hangs_is_stopped(tmp_path, job):
    from mlops_bot.serving.isolation import predict_isolated
    from mlops_bot.serving.models import ModelLoadError
    from mlops_bot.serving.state import DeployedModel

    model = tmp_path / "model"
    model.mkdir()
    joblib.dump(_Hostile("import time\ntime.sleep(600)"), model / "model.joblib")
    with pytest.raises(ModelLoadError, match="took longer than 2 s, so it was stopped"):
        predict_isolated(DeployedModel("wine-1", str(model), 100), [[1.0]], timeout=2)


@pytest.mark.parametrize("where", ["elsewhere", "dotdot", "symlink", "gs"])
def test_an_artifact_outside_the_runs_folder_is_refused(tmp_path, job, where):
    state = tmp_path / "state"
    own = state / "runs" / "run-3" / "artifacts"
    other = state / "runs" / "run-0" / "artifacts" / "train" / "model"  # another run's model
    other.mkdir(parents=True)
    own.mkdir(parents=True)
    (own / "train").symlink_to(other.parent)
    uri = {"elsewhere": str(other), "dotdot": f"{own}/../../run-0/artifacts/train/model",
           "symlink": str(own / "train" / "model"), "gs": "gs://other-bucket/runs/1/run-3/m"}
    _run(state, "run-3", uri[where])
    result = _promote(tmp_path, "run-3")
    assert result["status"] == "artifact_outside_run"
    assert "nothing from this run is promoted" in result["message"]
    assert not (state / "endpoints" / "staging.json").exists()  # nothing was touched


def test_a_metrics_artifact_outside_the_run_is_refused(tmp_path, job):
    state = tmp_path / "state"
    own = state / "runs" / "run-4" / "artifacts" / "train" / "model"
    own.mkdir(parents=True)
    _run(state, "run-4", str(own), metrics_uri="/etc/passwd")
    result = _promote(tmp_path, "run-4")
    assert result["status"] == "artifact_outside_run" and "system.Metrics" in result["message"]



def test_a_moved_state_folder_promotes_the_runs_own_files_where_they_are_now(tmp_path):
    """Local URIs are absolute paths of when the run wrote them: a state folder copied since is
    read where it is, and only inside the run's own folder."""
    from mlops_bot.flows.promote_inputs import check_artifacts

    old = "/old/checkout/.mlops/runs/run-5/artifacts/train/model"
    run = RunRecord("run-5", "wine", "v-1", "a" * 40, "succeeded", {}, "2026-12-01",
                    artifacts=[{"type": "system.Model", "uri": old}])
    [artifact] = check_artifacts(str(tmp_path / "runs"), run).artifacts
    assert artifact["uri"] == str(tmp_path / "runs" / "run-5" / "artifacts" / "train" / "model")


@pytest.mark.parametrize(("uri", "own"), [
    ("gs://bucket/root/123/run-6/train_1/model", True),
    ("gs://bucket/root/123/run-0/train_1/model", False),  # another run's model
    ("gs://bucket/root/123/run-6/../run-0/model", False),
    ("gs://bucket/root-x/123/run-6/train_1/model", False),  # a root that only starts alike
    ("gs://other/root/123/run-6/train_1/model", False),
    ("gs://bucket/root/run-6/model", False),  # no project number: not Vertex's layout
])
def test_a_vertex_artifact_outside_the_runs_folder_under_the_pipeline_root_is_refused(uri, own):
    from mlops_bot.flows.promote_inputs import Refusal, check_artifacts

    run = RunRecord("run-6", "wine", "v-1", "a" * 40, "succeeded", {}, "2026-12-01",
                    artifacts=[{"type": "system.Model", "uri": uri}])
    if own:
        assert check_artifacts("gs://bucket/root", run).artifacts[0]["uri"] == uri
        return
    with pytest.raises(Refusal, match="not under the run's folder gs://bucket/root/<project "):
        check_artifacts("gs://bucket/root/", run)
