"""The shipped workflows, run by a real workflow runner (nektos/act) end to end, offline.

The workflows are exactly those `mlops-bot init` writes (into a temporary repository with the
example pipeline, the action pinned to `tests.support.act.ACTION_REF`, which act runs from this
checkout's Dockerfile), and this repository's own `.github/workflows/`; the bot talks to the fake
GitHub (`tests/support/fake_github.py`) and, on backend gcp, to the fake Google servers with each
identity's permissions enforced (`tests/support/fake_iam.py`), its credentials obtained by the
google-github-actions/auth stand-in from the fake STS (`tests/support/fake_sts.py`). How the
harness does it: `tests/support/act.py`.

What act does not model, and what checks it instead:
- Environment approvals: act starts the deploy job as soon as the command job ends. The tests
  record the reviewers' approval explicitly (a comment in each test) before they start a run that
  reaches a deploy job. That the deploy job is gated (`environment:` from the command's output, the
  only job with the deploy identity) is tests/test_workflows.py's
  (test_the_deploy_job_is_gated_and_takes_everything_from_the_command_job); that the deploy
  identity needs the environment claim, test_auth_stand_in.py's.
- Token permissions: act hands every job the same token. The `permissions:` of each job are the
  workflow lint's (tests/test_workflows.py); the fake GitHub's `token_permissions` holds the
  flows to them (tests/action/test_run_checks.py, tests/github/test_forge_locks.py).
- OIDC claims: act issues no OIDC tokens. The auth stand-in builds the claims GitHub would
  (repository, ref, event, workflow ref, and the environment of a job that declares one, named by
  the test and checked against the workflow), and the fake STS evaluates them with the provider
  and bindings `mlops-bot bootstrap` defines (mlops_bot/backends/gcp/identities.py); which claims
  obtain which identity: test_auth_stand_in.py.
- Concurrency: act runs one job at a time here. The groups are the workflow lint's
  (deploy-concurrency) and test_the_push_job_has_the_history_and_keyless_cloud_auth's.
- Trigger filters (`branches`, `types`): act runs whatever event it is given.
  test_trigger_filters.py checks them.

The CI workflow's test job runs the whole suite again (13-14 minutes on 2 cores): it runs only
with MLOPS_BOT_ACT_CI=1; the lint job runs every time.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_bot.backends.gcp.identities import BUILD
from tests.act.cloud import BUILDER, DEPLOYER, Cloud
from tests.support.act import ACTION_REF, Act, ActRun
from tests.support.cli import cli
from tests.support.docker import require_docker
from tests.support.fake_github import NOW, FakeGitHub
from tests.support.fake_iam import credentials_for
from tests.support.gitrepo import GitRepoBuilder

pytestmark = [pytest.mark.docker, pytest.mark.act, pytest.mark.usefixtures("docker_engine")]

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "octo/models"
TOKEN = "ghs_actionsTokenOfTheFakeGitHub"  # long: act masks the token in its log
PUSH = ".github/workflows/mlops-push.yml"
COMMENT = ".github/workflows/mlops-comment.yml"


def repository_json() -> dict[str, Any]:
    owner, name = REPOSITORY.split("/")
    return {"full_name": REPOSITORY, "name": name, "owner": {"login": owner},
            "default_branch": "main"}


def push_event(branch: str, before: str, after: str) -> dict[str, Any]:
    return {"ref": f"refs/heads/{branch}", "before": before, "after": after,
            "created": before == "0" * 40, "deleted": False, "forced": False,
            "head_commit": {"id": after}, "pusher": {"name": "alice"},
            "repository": repository_json()}


def comment_event(number: int, comment_id: int, author: str, body: str) -> dict[str, Any]:
    return {"action": "created", "repository": repository_json(), "sender": {"login": author},
            "issue": {"number": number, "state": "open",
                      "pull_request": {"url": f"https://api.example/pulls/{number}"}},
            "comment": {"id": comment_id, "body": body, "created_at": NOW,
                        "user": {"login": author, "type": "User"}}}


@dataclass
class Project:
    """A repository made by `mlops-bot init`, with the example pipeline on a branch."""

    repo: GitRepoBuilder
    github: FakeGitHub
    act: Act
    main: str
    feature: str

    def on_branch(self, branch: str, files: dict[str, str | None], message: str) -> str:
        """Commit on `branch` and come back to main (act reads the default branch's files)."""
        self.repo.git("checkout", "-q", branch)
        sha = self.repo.commit(files, message)
        self.repo.git("checkout", "-q", "main")
        self.github.repo(REPOSITORY).commits.add(sha)
        return sha

    def comment(self, number: int, author: str, body: str, **options: Any) -> ActRun:
        comment = self.github.add_comment(number, author, body, repo=REPOSITORY)
        return self.act.run(self.repo.path, COMMENT, "issue_comment",
                            comment_event(number, comment.id, author, body), actor=author,
                            **options)


def init_project(tmp: Path, github: FakeGitHub, act: Act,
                 configure: Callable[[str], str] | None = None) -> Project:
    """`mlops-bot init` and the example pipeline on main; a branch that changes its training.
    `configure`: what the user then changes in mlops.yaml (e.g. backend gcp)."""
    repo = GitRepoBuilder(tmp / "repo")
    result = cli("init", "--repo", str(repo.path), "--action-ref", ACTION_REF)
    assert result.returncode == 0, result.stderr
    if configure is not None:
        config = repo.path / "mlops.yaml"
        config.write_text(configure(config.read_text()))
    shutil.copytree(ROOT / "pipelines" / "wine_quality", repo.path / "pipelines" / "wine_quality",
                    ignore=shutil.ignore_patterns("__pycache__"))
    main = repo.commit({".gitignore": ".mlops/\n__pycache__/\ngha-creds-*\n"}, "mlops-bot init")
    repo.git("checkout", "-q", "-b", "feature")
    run_py = repo.path / "pipelines" / "wine_quality" / "run.py"
    feature = repo.commit({"pipelines/wine_quality/run.py": run_py.read_text().replace(
        '"n_estimators": 100', '"n_estimators": 50')}, "fewer trees")
    repo.git("checkout", "-q", "main")
    github.repo(REPOSITORY).commits.update({main, feature})
    return Project(repo, github, act, main, feature)


def new_github() -> FakeGitHub:
    fake = FakeGitHub(token=TOKEN).start()
    fake.actions_token()
    fake.set_permission("alice", "write", repo=REPOSITORY)
    fake.set_permission("mallory", "read", repo=REPOSITORY)
    return fake


def pull_request(project: Project, number: int, branch: str, head: str) -> None:
    project.github.add_pull(number, head, head_ref=branch, author="alice", repo=REPOSITORY)


def commented(project: Project, number: int) -> str:
    return "\n".join(c.body for c in project.github.comments(number, repo=REPOSITORY))


# -- backend local ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    require_docker()
    tmp, github = tmp_path_factory.mktemp("act-local"), new_github()
    act = Act(tmp, github.url, TOKEN, repository=REPOSITORY, state_dir=tmp / "state")
    yield init_project(tmp, github, act)
    github.stop()


@pytest.fixture(scope="module")
def local_pushed(local: Project) -> ActRun:
    return local.act.run(local.repo.path, PUSH, "push",
                         push_event("feature", "0" * 40, local.feature))


def test_the_push_workflow_publishes_and_runs_the_branch(local_pushed: ActRun) -> None:
    local_pushed.assert_ok()
    push = local_pushed.jobs["push"]
    assert (push.outputs["decision"], push.outputs["reason_code"]) == ("proceed", "ok")
    [version] = json.loads(push.outputs["versions"])
    assert (version["pipeline"], version["status"]) == ("wine_quality", "published")


def test_deploy_staging_on_the_local_backend_with_a_shared_state_folder(
        local: Project, local_pushed: ActRun) -> None:
    local_pushed.assert_ok()
    pull_request(local, 7, "feature", local.feature)

    # The reviewers of staging approve (act would not wait for them), then the run starts.
    run = local.comment(7, "alice", "/deploy staging", environments={"deploy": "staging"})

    run.assert_ok()
    command, deploy = run.jobs["command"], run.jobs["deploy"]
    assert (command.outputs["decision"], command.outputs["environment"]) == ("proceed", "staging")
    assert deploy.result == "success" and deploy.outputs["reason_code"] == "ok"
    deployment = local.github.repo(REPOSITORY).deployments[int(command.outputs["deployment_id"])]
    assert deployment.fields["ref"] == local.feature
    assert deployment.statuses[-1]["state"] == "success"


# -- backend gcp, identities enforced ---------------------------------------------------------

@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with Cloud(tmp_path_factory.mktemp("gcs"), REPOSITORY, ["staging"]) as found:
        yield found


@pytest.fixture(scope="module")
def gcp(tmp_path_factory: pytest.TempPathFactory, cloud: Cloud) -> Iterator[Project]:
    require_docker()
    tmp, github = tmp_path_factory.mktemp("act-gcp"), new_github()
    act = Act(tmp, github.url, TOKEN, repository=REPOSITORY, sts_url=cloud.sts.endpoint,
              variables=cloud.variables)
    yield init_project(tmp, github, act, cloud.configure)
    github.stop()


@pytest.fixture(scope="module")
def gcp_pushed(gcp: Project) -> ActRun:
    return gcp.act.run(gcp.repo.path, PUSH, "push", push_event("feature", "0" * 40, gcp.feature))


def predict(cloud: Cloud, endpoint: str) -> list[Any]:
    from google.cloud.aiplatform_v1 import PredictionServiceClient

    client = PredictionServiceClient(credentials=credentials_for(DEPLOYER), transport="rest",
                                     client_options={"api_endpoint": cloud.front.endpoint})
    instances = json.loads(SAMPLES.read_text())["instances"]
    return list(client.predict(endpoint=endpoint, instances=instances).predictions)


def test_on_google_cloud_push_then_deploy_staging_serves_the_model(
        gcp: Project, gcp_pushed: ActRun, cloud: Cloud) -> None:
    gcp_pushed.assert_ok()
    [version] = json.loads(gcp_pushed.jobs["push"].outputs["versions"])
    assert version["status"] == "published"
    pull_request(gcp, 7, "feature", gcp.feature)

    # The reviewers of staging approve (act would not wait for them), then the run starts.
    run = gcp.comment(7, "alice", "/deploy staging", environments={"deploy": "staging"})

    run.assert_ok()
    assert run.jobs["command"].outputs["decision"] == "proceed"
    assert run.jobs["deploy"].outputs["reason_code"] == "ok"
    [endpoint] = set(re.findall(r"projects/\w+/locations/[\w-]+/endpoints/\d+",
                                run.jobs["deploy"].outputs["result"]))
    assert len(predict(cloud, endpoint)) == len(json.loads(SAMPLES.read_text())["instances"])
    # The push job held the build identity, the deploy job the deploy identity, and the
    # comment job none: it made no call to Google at all (an anonymous one would be refused).
    assert {(e.claims.get("environment"), e.service_account) for e in cloud.sts.exchanges
            if e.granted} == {(None, BUILDER), ("staging", DEPLOYER)}
    assert cloud.iam.denied == []


def test_a_docs_only_head_deploys_the_run_of_the_same_version(
        gcp: Project, gcp_pushed: ActRun) -> None:
    gcp_pushed.assert_ok()
    docs = gcp.on_branch("feature", {"README.md": "# Models\n\nHow to train them.\n"}, "docs")
    # Every push runs the push workflow: this one changes no pipeline, so it builds and runs
    # nothing and carries the check run (version, run) over from the commit before.
    pushed = gcp.act.run(gcp.repo.path, PUSH, "push", push_event("feature", gcp.feature, docs))
    pushed.assert_ok()
    assert pushed.jobs["push"].outputs["reason_code"] == "nothing_changed"
    pull_request(gcp, 8, "feature", docs)

    run = gcp.comment(8, "alice", "/deploy staging", environments={"deploy": "staging"})

    run.assert_ok()
    assert run.jobs["command"].outputs["decision"] == "proceed", commented(gcp, 8)
    assert run.jobs["command"].outputs["sha"] == docs
    assert run.jobs["deploy"].result == "success"
    assert gcp.feature[:7] in commented(gcp, 8)  # the commit whose run is deployed


def test_the_push_jobs_identity_cannot_deploy(gcp: Project, cloud: Cloud) -> None:
    # A branch whose pipeline definition, compiled by the push job, tries to deploy with the
    # credentials that job holds.
    definition = gcp.repo.path / "pipelines" / "wine_quality" / "definition.py"
    gcp.repo.git("branch", "evil", gcp.main)
    evil = gcp.on_branch("evil", {"pipelines/wine_quality/definition.py": definition.read_text()
                                  + DEPLOY_ATTEMPT.format(vertex=cloud.front.endpoint)}, "evil")

    run = gcp.act.run(gcp.repo.path, PUSH, "push", push_event("evil", "0" * 40, evil))

    # The definition runs in the compile worker, whose prints stay with it; the service saw
    # the attempt and refused the push job's identity.
    assert (BUILDER, "aiplatform.endpoints.deploy") in {d[:2] for d in cloud.iam.denied}, \
        run.tail()

    # The same push job asking for the deploy identity (its workflow edited on the branch) gets
    # no token: the auth step fails and the action never runs.
    asked = gcp.act.run(gcp.repo.path, PUSH, "push", push_event("evil", "0" * 40, evil),
                        variables={BUILD.variable: DEPLOYER})
    assert asked.jobs["push"].result == "failure"
    assert "iam.serviceAccounts.getAccessToken" in asked.log and not asked.jobs["push"].outputs


def test_a_reader_cannot_deploy_and_no_deploy_job_starts(gcp: Project, cloud: Cloud) -> None:
    pull_request(gcp, 10, "feature", gcp.feature)
    exchanges = len(cloud.sts.exchanges)

    run = gcp.comment(10, "mallory", "/deploy staging", environments={"deploy": "staging"})

    run.assert_ok()
    command = run.jobs["command"]
    assert (command.outputs["decision"], command.outputs["reason_code"]) == (
        "stop", "permission_denied")
    assert run.jobs["deploy"].result == "skipped"
    assert len(cloud.sts.exchanges) == exchanges  # nobody asked for a token
    assert "@mallory has `read` permission" in commented(gcp, 10)


def test_run_from_a_comment_runs_no_pr_code_where_a_token_is(gcp: Project) -> None:
    definition = gcp.repo.path / "pipelines" / "wine_quality" / "definition.py"
    gcp.repo.git("branch", "sneaky", gcp.main)
    sneaky = gcp.on_branch("sneaky", {"pipelines/wine_quality/definition.py":
                                      definition.read_text() + TOKEN_THIEF}, "sneaky")
    pull_request(gcp, 9, "sneaky", sneaky)

    run = gcp.comment(9, "alice", "/run wine_quality")

    run.assert_ok()
    assert run.jobs["deploy"].result == "skipped"
    assert "PR CODE RAN" not in run.log
    # No token in .git/config either (persist-credentials: false); act would mask the token
    # itself in its log, not the credential a checkout writes there.
    assert "token is kept in .git/config" not in run.log
    assert base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode() not in run.log
    assert "/run" in commented(gcp, 9)


SAMPLES = ROOT / "pipelines" / "wine_quality" / "serving" / "sample_instances.json"
# Appended to a branch's definition.py: run by the push job's compile step.
DEPLOY_ATTEMPT = """

def _deploy_with_the_jobs_credentials() -> None:
    import json, urllib.error, urllib.request
    import google.auth, google.auth.transport.requests
    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())
    url = ("{vertex}/v1/projects/acme-ml/locations/europe-west4/endpoints/4000000000000000001"
           ":deployModel")
    body = json.dumps({{"deployedModel": {{"model": "projects/acme-ml/locations/europe-west4/"
                                                    "models/1@1"}}}}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={{
        "Authorization": f"Bearer {{credentials.token}}", "Content-Type": "application/json"}})
    try:
        status = urllib.request.urlopen(request).status
    except urllib.error.HTTPError as error:
        status = error.code
    print(f"deployModel answered {{status}}", flush=True)


_deploy_with_the_jobs_credentials()
"""
# Appended to a PR's definition.py: says so if anything runs it, and shows any token it finds.
TOKEN_THIEF = """

import os as _os, pathlib as _pathlib
_found = [v for k, v in _os.environ.items() if "TOKEN" in k]
_config = _pathlib.Path(".git/config")
print("PR CODE RAN", _found, _config.read_text() if _config.exists() else "", flush=True)
"""
