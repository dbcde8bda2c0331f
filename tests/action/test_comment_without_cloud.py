"""The comment job as mlops-comment.yml runs it: no cloud credentials at all. `/deploy` is
answered from the push job's check runs on the PR head and the locks kept on GitHub.

On backend gcp the proof that nothing reaches for Google: GOOGLE_APPLICATION_CREDENTIALS names a
file that does not exist and the metadata server is a closed local port, so any attempt to load
credentials fails the job (DefaultCredentialsError, exit 3); every Google API endpoint of
mlops.yaml is a closed local port too, and no fake Google server is started.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_bot.github.run_checks import RunCheck
from tests.support.action import UNREACHABLE_GCP_CONFIG, ActionRun, run_action
from tests.support.comments import sticky
from tests.support.fake_github import NOW, FakeGitHub
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.run_checks import write_check

LOCAL_CONFIG = "environments:\n  staging:\n    endpoint: alpha-staging\n"
NO_GOOGLE = {"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/credentials.json",
             "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9",
             "GOOGLE_CLOUD_PROJECT": ""}
VERSION, RUN = "v-0123456789abcdef", "alpha-0123456789abcdef"


@pytest.fixture
def repo(tmp_path: Path) -> tuple[GitRepoBuilder, str, str]:
    """A repository on backend gcp: a commit that changed alpha, then a docs-only head."""
    repo = GitRepoBuilder(tmp_path / "repo")
    built = repo.commit({"mlops.yaml": UNREACHABLE_GCP_CONFIG, **pipeline_files("alpha")})
    docs = repo.commit({"README.md": "docs only\n"})
    return repo, built, docs


def record(sha: str, **changes: object) -> RunCheck:
    fields: dict[str, object] = dict(
        pipeline="alpha", recorded_on=sha, run_status="succeeded", backend="gcp",
        version=VERSION, run_id=RUN, produced_by=sha, parameters={"size": 1},
        metrics={"accuracy": 0.93},
        run_url="https://console.cloud.google.com/vertex-ai/pipelines/runs/alpha?project=acme-ml")
    return RunCheck(**{**fields, **changes})  # type: ignore[arg-type]


def ask(repo: GitRepoBuilder, tmp: Path, github: FakeGitHub, body: str, *, number: int = 7,
        env: dict[str, str] | None = None) -> ActionRun:
    """The comment job, with the workflow token and no cloud credentials."""
    event = {"action": "created",
             "issue": {"number": number, "pull_request": {"url": f"{github.url}/pulls/{number}"}},
             "comment": {"id": 555, "body": body, "user": {"login": "alice", "type": "User"},
                         "created_at": NOW}}
    return run_action(repo.path, tmp, "issue_comment", event,
                      inputs={"github-token": github.token},
                      env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models",
                           **NO_GOOGLE, **(env or {})})


def payload_of(github: FakeGitHub) -> dict[str, object]:
    [deployment] = github.repo().deployments.values()
    payload = deployment.fields["payload"]
    return json.loads(payload) if isinstance(payload, str) else payload


def test_deploy_on_gcp_is_answered_from_the_check_run_without_credentials(repo, tmp_path,
                                                                          github):
    repo, built, _ = repo
    github.add_pull(7, built)
    github.set_permission("alice", "write")
    write_check(github, record(built))
    run = ask(repo, tmp_path, github, "/deploy staging")
    assert run.returncode == 0, run.stderr
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("proceed", "ok")
    assert "DefaultCredentialsError" not in run.stderr
    payload = payload_of(github)
    assert (payload["run_id"], payload["version"], payload["produced_by"]) == (RUN, VERSION, built)
    assert payload["parameters"] == {"size": 1} and payload["backend"] == "gcp"
    body = sticky(github)
    assert RUN in body and VERSION in body and "accuracy" in body and "0.93" in body
    assert "waiting for approval" in body


def test_a_docs_only_head_deploys_the_run_an_earlier_commit_produced(repo, tmp_path, github):
    repo, built, docs = repo
    github.add_pull(7, docs)
    github.set_permission("alice", "write")
    # What the push job writes on a commit that changed no pipeline: the earlier record, carried.
    write_check(github, record(docs, produced_by=built, carried_from=built))
    run = ask(repo, tmp_path, github, "/deploy staging")
    assert run.outputs["reason_code"] == "ok", run.stderr
    assert run.outputs["sha"] == docs
    assert payload_of(github)["produced_by"] == built
    body = sticky(github)
    assert f"`{built}` (an earlier commit" in body and docs in body


@pytest.mark.parametrize(("check", "expected"), [
    (dict(run_status="failed", run_id=RUN, error="task train failed"),
     "The push workflow's run for `{sha}` failed (https://github.example/octo/models/actions/"
     "runs/41): run `" + RUN + "`"),
    (dict(run_status="not_published", run_id=None, version=None, produced_by=None,
          error="compile failed"), "failed to publish `alpha`"),
    (dict(run_status="not_run", run_id=None, produced_by=None), "published for `{sha}` but not run"),
    (dict(backend="local"), "was made on backend `local`"),
])
def test_a_head_without_a_usable_run_gets_what_to_do(repo, tmp_path, github, check, expected):
    repo, built, _ = repo
    github.add_pull(7, built)
    github.set_permission("alice", "write")
    write_check(github, record(built, **check))
    run = ask(repo, tmp_path, github, "/deploy staging")
    assert run.outputs["reason_code"] == "run_missing"
    assert expected.format(sha=built[:12]) in sticky(github)
    assert not github.repo().deployments


def test_a_forged_record_is_refused(repo, tmp_path, github):
    repo, built, _ = repo
    github.add_pull(7, built)
    github.set_permission("alice", "write")
    forged = json.dumps({**record(built).to_dict(), "metrics": {"accuracy": "1.0"},
                         "run_id": ["x"]})
    write_check(github, record(built),
                text=f"<!-- mlops-bot:run-record -->\n```json\n{forged}\n```")
    run = ask(repo, tmp_path, github, "/deploy staging")
    assert run.outputs["reason_code"] == "run_missing"
    assert "holds no valid record" in sticky(github) and "not trusted" in sticky(github)
    assert not github.repo().deployments


def test_wanting_another_version_than_the_head_compiles_to_is_refused(repo, tmp_path, github):
    repo, built, _ = repo
    github.add_pull(7, built)
    github.set_permission("alice", "write")
    write_check(github, record(built))
    run = ask(repo, tmp_path, github, "/deploy staging --version v-ffffffffffffffff")
    assert run.outputs["reason_code"] == "run_missing"
    assert f"compiles `alpha` to `{VERSION}`, not `v-ffffffffffffffff`" in sticky(github)


def test_locks_on_gcp_need_no_credentials_and_block_other_pull_requests(repo, tmp_path, github):
    repo, built, _ = repo
    github.add_pull(7, built)
    github.add_pull(8, built)
    github.set_permission("alice", "write")
    write_check(github, record(built))
    assert ask(repo, tmp_path, github, "/lock staging --reason demo", number=8).outputs[
        "reason_code"] == "ok"
    ref = github.repo().refs["refs/heads/mlops-bot-lock/staging"]
    assert '"owner": "#8"' in github.repo().objects[ref]["message"]
    run = ask(repo, tmp_path, github, "/deploy staging")
    assert run.outputs["reason_code"] == "env_locked" and "locked by #8" in sticky(github)
    assert ask(repo, tmp_path, github, "/unlock staging", number=8).outputs["reason_code"] == "ok"
    assert ask(repo, tmp_path, github, "/deploy staging").outputs["reason_code"] == "ok"


def test_local_backend_in_actions_says_deploying_needs_shared_state(tmp_path, github):
    repo = GitRepoBuilder(tmp_path / "repo")
    head = repo.commit({"mlops.yaml": LOCAL_CONFIG, **pipeline_files("alpha")})
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    write_check(github, record(head, backend="local"))
    run = ask(repo, tmp_path, github, "/deploy staging", env={"GITHUB_ACTIONS": "true"})
    assert run.outputs["reason_code"] == "no_shared_state"
    reply = sticky(github)
    assert "`backend: gcp`" in reply and "MLOPS_BOT_STATE_DIR" in reply and "state_dir:" in reply
    assert not github.repo().deployments
    # A self-hosted runner's persistent folder: deploying works.
    kept = ask(repo, tmp_path, github, "/deploy staging",
               env={"GITHUB_ACTIONS": "true", "MLOPS_BOT_STATE_DIR": str(tmp_path / "state")})
    assert kept.outputs["reason_code"] == "ok", kept.stderr
