"""Attack: the model a pull request's pipeline wrote is a hostile pickle, and the approved deploy
job, which holds the workflow token, smoke-tests it. Through the action's entry point against the
fake GitHub: the refusal, its reason code, the Deployment's status and the comment text, and
what the pickle could reach (it reports that by failing with it).
"""

from __future__ import annotations

import json
import os

import joblib  # type: ignore[import-untyped]

# The wine_quality example pushed once for this module (its run has a real model to replace).
from tests.action.test_deploy_job import approved_deploy, pushed, serving  # noqa: F401
from tests.flows.test_attacks_models import SECRET, SNOOP, _Hostile, _seen
from tests.support.comments import sticky


def test_a_hostile_model_cannot_reach_the_deploy_jobs_token(workspace, tmp_path, github):
    repo, head = workspace
    github.token = SECRET  # the workflow token both jobs are given, as GitHub mints it
    [model] = [p for p in (repo.path / ".mlops" / "runs").glob("*/artifacts/**/model")
               if p.is_file()]
    written = tmp_path / "pwned.txt"
    token_file = tmp_path / "gha-creds.json"
    token_file.write_text(github.token)
    code = (f"SECRET, TOKEN_FILE, WRITE_TO, JOB, PORT = {github.token!r}, "
            f"{str(token_file)!r}, {str(written)!r}, {os.getpid()}, 0\n" + SNOOP)
    joblib.dump(_Hostile(code), model)

    job = approved_deploy(repo, tmp_path, github, head)

    assert (job.outputs["decision"], job.outputs["reason_code"]) == ("stop", "failed")
    [deployment] = github.repo().deployments.values()
    assert [s["state"] for s in deployment.statuses][-1] == "error"
    body = sticky(github)
    assert "cannot deploy to staging" in body and "nothing deployed" in body
    assert github.token not in body and github.token not in json.dumps(deployment.statuses)
    seen = _seen(body.replace("\\", ""))
    assert seen["environ"] == [] and seen["parent_environ"] != "READ secret"
    assert seen["token_file"] != "READ secret"
    assert not written.exists() or written.read_bytes() == b""
    assert serving(repo) == []  # the traffic split was put back: nothing serves
