"""A push killed (-9) at each step leaves state the next push recovers from.

Each case runs the real `mlops-bot push` as a process group of its own on a scratch repository,
kills the whole group at a step (by timing for the run step, once the run record says
`running`; at an exact audited operation for build, compile and publish: tests/support/kill_at.py)
and checks what is left and that the next push ends well. The cases share their environments
(same pipeline, same content hash), so only the first one builds them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import cli_json
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

KILL_AT = Path(__file__).parents[1] / "support" / "kill_at.py"

# The pipeline's one task notes each time it runs, then holds while the hold file exists, so a
# test can catch a run in the middle and count how often it really ran.
TRAIN = """from kfp import dsl


@dsl.component(base_image='alpha')
def train() -> None:
    import os
    import time
    with open(os.environ['MLOPS_TEST_COUNT'], 'a') as count:
        count.write('ran\\n')
    while os.path.exists(os.environ['MLOPS_TEST_HOLD']):
        time.sleep(0.1)
"""


class Push:
    """A `mlops-bot push --json` started as a process group of its own."""

    def __init__(self, scratch: Scratch, name: str, prefix: list[str]) -> None:
        self._out = scratch.root / f"{name}.out"
        self._err = scratch.root / f"{name}.err"
        with open(self._out, "w") as out, open(self._err, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, *prefix, "push", "--json"], cwd=scratch.repo.path,
                env=scratch.env, stdout=out, stderr=err, text=True, start_new_session=True)

    def kill(self, group: bool = True) -> None:
        if group:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def said(self, text: str) -> bool:
        return text in self._err.read_text()

    def finish(self, timeout: float = 240) -> tuple[int, str, str]:
        code = self.process.wait(timeout)
        return code, self._out.read_text(), self._err.read_text()


class Scratch:
    """A repository with one pipeline, its own state folder and the shared environments."""

    def __init__(self, root: Path, envs: Path) -> None:
        self.root = root
        self.repo = GitRepoBuilder(root / "repo")
        self.repo.commit({".gitignore": ".mlops/\n",
                          **pipeline_files("alpha", components=("train",)),
                          "pipelines/alpha/components/train/definition.py": TRAIN})
        self.state = root / "state"
        self.state.mkdir()
        (self.state / "envs").symlink_to(envs)
        self.hold = root / "hold"
        self.count = root / "count"
        self.tmp = root / "tmp"
        self.tmp.mkdir()
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PYTEST_"))},
                    "MLOPS_BOT_STATE_DIR": str(self.state), "MLOPS_TEST_HOLD": str(self.hold),
                    "MLOPS_TEST_COUNT": str(self.count), "TMPDIR": str(self.tmp)}

    def start(self, name: str) -> Push:
        return Push(self, name, ["-m", "mlops_bot"])

    def start_killed_at(self, name: str, event: str, needle: str) -> Push:
        return Push(self, name, [str(KILL_AT), event, needle, "--"])

    def push(self) -> tuple[dict[str, Any], str]:
        """A push run to its end: its JSON document and its stderr."""
        code, out, err = Push(self, "push", ["-m", "mlops_bot"]).finish()
        assert code == 0, f"exit {code}\n{out}\n{err}"
        return json.loads(out), err

    def record(self) -> dict[str, Any]:
        [path] = self.state.glob("runs/*/run.json")
        document: dict[str, Any] = json.loads(path.read_text())
        return document

    def ran(self) -> int:
        return len(self.count.read_text().splitlines()) if self.count.exists() else 0

    def running(self) -> bool:
        """The run's record says running and its task has started."""
        paths = list(self.state.glob("runs/*/run.json"))
        return bool(paths) and self.record()["status"] == "running" and self.ran() > 0


def until(condition: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")


@pytest.fixture
def scratch(tmp_path: Path, envs: Path) -> Scratch:
    return Scratch(tmp_path, envs)


@pytest.mark.parametrize("result", [None, "[1, 2]\n"], ids=["no_result", "garbage_result"])
def test_a_push_killed_while_its_run_runs_is_run_again_by_the_next_push(scratch, result):
    scratch.hold.touch()
    killed = scratch.start("killed")
    until(scratch.running)
    killed.kill()
    assert scratch.record()["status"] == "running"  # what every push used to trust forever
    if result is not None:  # a result file that is no result is not folded in
        (Path(scratch.record()["url"]) / "result.json").write_text(result)

    scratch.hold.unlink()
    document, err = scratch.push()
    [run] = document["runs"]
    assert run["status"] == "succeeded", run["error"]
    assert "marking it failed and running it again" in err
    record = scratch.record()
    assert record["status"] == "succeeded" and record["owner"]["attempt"] == 2
    [first] = record["attempts"]
    assert first["status"] == "failed" and "killed or crashed" in first["error"]
    assert first["pid"] == killed.process.pid
    assert scratch.ran() == 2
    assert (Path(record["url"]) / "log.attempt-1.txt").is_file()


def test_the_result_an_orphaned_worker_wrote_is_folded_in_not_run_again(scratch):
    scratch.hold.touch()
    killed = scratch.start("killed")
    until(scratch.running)
    killed.kill(group=False)  # the push dies; its kfp worker goes on as an orphan
    worker = scratch.record()["owner"]["worker_pid"]
    os.kill(worker, 0)  # still alive

    scratch.hold.unlink()  # the orphan ends while the next push waits for it
    document, err = scratch.push()
    [run] = document["runs"]
    assert run["status"] == "succeeded", run["error"]
    assert "its worker wrote a result: folding it in" in err
    assert scratch.ran() == 1
    record = scratch.record()
    assert record["owner"]["attempt"] == 1 and record["attempts"][0]["status"] == "succeeded"


def test_a_push_stopped_by_sigterm_while_its_run_runs_leaves_one_run_that_ends_well(scratch):
    scratch.hold.touch()
    stopped = scratch.start("stopped")
    until(scratch.running)
    os.kill(stopped.process.pid, signal.SIGTERM)  # what `docker stop` sends the action's PID 1
    scratch.hold.unlink()
    stopped.process.wait(60)
    document, _ = scratch.push()
    [run] = document["runs"]
    assert run["status"] in ("succeeded", "existing"), run["error"]
    assert scratch.ran() == 1 and scratch.record()["status"] == "succeeded"


def test_of_two_pushes_at_once_one_runs_and_the_other_reports_its_outcome(scratch):
    scratch.hold.touch()
    pushes = [scratch.start("first"), scratch.start("second")]
    until(scratch.running)
    until(lambda: any(push.said("is being run by another push") for push in pushes))
    scratch.hold.unlink()  # one runs, the other waits for it
    outcomes = [push.finish() for push in pushes]
    assert [code for code, _, _ in outcomes] == [0, 0], outcomes
    runs = [json.loads(out)["runs"] for _, out, _ in outcomes]
    assert [[(r["run_id"], r["status"]) for r in found] for found in runs] == [
        [(scratch.record()["run_id"], "succeeded")]] * 2
    assert sum("is being run by another push" in err for _, _, err in outcomes) == 1
    assert scratch.ran() == 1


@pytest.mark.parametrize(("step", "event", "needle"), [
    ("build", "subprocess.Popen", "'pip', '--python'"),
    # Compiling runs in warm worker processes (compile_pool.py), which the kill takes with the
    # push; its last step in the push itself is the spec handed to the registry.
    ("compile", "os.mkdir", "/registry/pipelines/alpha/versions'"),
    ("publish", "os.rename", ".incoming-"),
], ids=["build", "compile", "publish"])
def test_a_push_killed_at_a_step_leaves_state_the_next_push_recovers_from(
        scratch, step, event, needle, tmp_path):
    if step in ("build", "publish"):  # its own environments: the shared ones are built
        (scratch.state / "envs").unlink()  # already, and gc must see only this state's
    code, _, err = scratch.start_killed_at("killed", event, needle).finish()
    assert code == -signal.SIGKILL, err
    assert f"==> {'build' if step == 'build' else 'compile'}" in err
    assert not list(scratch.state.glob("runs/*/run.json"))
    if step == "publish":
        assert list(scratch.state.glob("registry/pipelines/alpha/versions/.incoming-*"))

    document, _ = scratch.push()
    assert [v["status"] for v in document["versions"]] == ["published"]
    assert [r["status"] for r in document["runs"]] == ["succeeded"]
    assert scratch.ran() == 1
    if step == "publish":  # the killed publish's staging folder is what gc removes
        freed = cli_json("gc", "--older-than", "0", cwd=scratch.repo.path, env=scratch.env)
        assert [Path(i["name"]).name.startswith(".incoming-") for i in freed["removed"]] == [True], freed["removed"]
        assert not list(scratch.state.glob("registry/pipelines/alpha/versions/.incoming-*"))
        assert cli_json("runs", "list", cwd=scratch.repo.path, env=scratch.env)["runs"]
