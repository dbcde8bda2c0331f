"""The google-github-actions/auth stand-in and the fake STS, without act: the claims a job's
context gives, which identity they obtain under the provider `mlops-bot bootstrap` defines, and a
credentials file that google-auth turns into that identity's token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_bot.backends.gcp.identities import BUILD, DEPLOY, Federation
from tests.support.fake_sts import PROVIDER, FakeSts

PROJECT = "acme-ml"
BUILDER, DEPLOYER = BUILD.email(PROJECT), DEPLOY.email(PROJECT)
STAND_IN = Path(__file__).parent / "actions" / "google-auth" / "auth.py"
COMMENT_ON_MAIN = "octo/models/.github/workflows/mlops-comment.yml@refs/heads/main"


@pytest.fixture
def sts() -> Iterator[FakeSts]:
    with FakeSts(Federation("octo/models", "main", ["staging"]), PROJECT) as fake:
        yield fake


def authenticate(sts: FakeSts, tmp: Path, account: str, *, event: str = "push",
                 ref: str = "refs/heads/feature", job: str = "push",
                 workflow_ref: str = "octo/models/.github/workflows/mlops-push.yml@refs/heads/feature",
                 environments: dict[str, str] | None = None, repository: str = "octo/models",
                 ) -> subprocess.CompletedProcess[str]:
    (tmp / "workspace").mkdir(exist_ok=True)
    for name in ("env", "output"):
        (tmp / name).write_text("")
    env = {"PATH": os.environ["PATH"], "MLOPS_ACT_GOOGLE_STS": sts.endpoint,
           "AUTH_PROVIDER": PROVIDER, "AUTH_SERVICE_ACCOUNT": account,
           "GITHUB_REPOSITORY": repository, "GITHUB_REPOSITORY_OWNER": repository.split("/")[0],
           "GITHUB_REF": ref, "GITHUB_EVENT_NAME": event, "GITHUB_SHA": "a" * 40,
           "GITHUB_ACTOR": "alice", "GITHUB_WORKFLOW": "w", "GITHUB_WORKFLOW_REF": workflow_ref,
           "GITHUB_RUN_ID": "1", "GITHUB_JOB": job, "GITHUB_WORKSPACE": str(tmp / "workspace"),
           "GITHUB_ENV": str(tmp / "env"), "GITHUB_OUTPUT": str(tmp / "output"),
           "MLOPS_ACT_OIDC_ENVIRONMENTS": json.dumps(environments or {})}
    return subprocess.run([sys.executable, str(STAND_IN)], env=env, capture_output=True,
                          text=True, timeout=60)


def token_from_file(tmp: Path) -> str:
    """What google-auth in the action's container makes of the exported credentials file."""
    exported = dict(line.split("=", 1) for line in (tmp / "env").read_text().splitlines())
    script = ("import google.auth, google.auth.transport.requests as r\n"
              "c, _ = google.auth.default(scopes=['https://www.googleapis.com/auth/cloud-platform'])\n"
              "c.refresh(r.Request()); print(c.token)\n")
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, **exported},
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.strip()


def test_a_push_job_obtains_the_build_identity_and_google_auth_uses_it(
        sts: FakeSts, tmp_path: Path) -> None:
    result = authenticate(sts, tmp_path, BUILDER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert token_from_file(tmp_path) == f"fake-token:{BUILDER}"
    [claims] = {json.dumps(e.claims, sort_keys=True) for e in sts.exchanges}
    assert json.loads(claims)["sub"] == "repo:octo/models:ref:refs/heads/feature"
    assert "environment" not in json.loads(claims)


def test_a_push_job_asking_for_the_deploy_identity_fails_the_step(
        sts: FakeSts, tmp_path: Path) -> None:
    result = authenticate(sts, tmp_path, DEPLOYER)
    assert result.returncode != 0
    assert "::error::google-github-actions/auth failed" in result.stderr
    assert "iam.serviceAccounts.getAccessToken" in result.stderr and "403" in result.stderr
    assert (tmp_path / "env").read_text() == ""  # no credentials for later steps
    assert sts.granted() == []


def test_only_the_default_branch_deploy_job_in_an_environment_obtains_the_deploy_identity(
        sts: FakeSts, tmp_path: Path) -> None:
    deploy = {"event": "issue_comment", "ref": "refs/heads/main", "job": "deploy",
              "workflow_ref": COMMENT_ON_MAIN}
    assert authenticate(sts, tmp_path, DEPLOYER, **deploy,
                        environments={"deploy": "staging"}).returncode == 0
    assert token_from_file(tmp_path) == f"fake-token:{DEPLOYER}"

    refused = [
        authenticate(sts, tmp_path, DEPLOYER, **deploy),  # no environment: not approved
        authenticate(sts, tmp_path, DEPLOYER, **deploy, environments={"deploy": "production"}),
        authenticate(sts, tmp_path, DEPLOYER, **{**deploy, "workflow_ref": COMMENT_ON_MAIN.replace(
            "refs/heads/main", "refs/heads/evil")}, environments={"deploy": "staging"}),
        authenticate(sts, tmp_path, BUILDER, **deploy, environments={"deploy": "staging"}),
    ]
    assert [r.returncode for r in refused] == [1, 1, 1, 1]
    assert set(sts.granted()) == {DEPLOYER}  # the stand-in's exchange, then google-auth's
    assert sum(not e.granted for e in sts.exchanges) == 4


def test_another_repository_is_refused_by_the_provider_condition(
        sts: FakeSts, tmp_path: Path) -> None:
    result = authenticate(sts, tmp_path, BUILDER, repository="mallory/fork")
    assert result.returncode != 0
    assert "unauthorized_client" in result.stderr and "attribute condition" in result.stderr
