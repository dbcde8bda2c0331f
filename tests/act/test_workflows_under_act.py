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
  record the reviewers' approval explicitly before they start a run that reaches a deploy job;
  that the deploy job is gated (`environment:` from the command's output, no cloud credentials
  before it) is the policy test's (tests/test_workflows.py).
- Token permissions: act hands every job the same token. The jobs' `permissions:` blocks are the
  policy test's; the fake GitHub's `token_permissions` holds flow tests to them.
- OIDC claims: act issues no OIDC tokens. The auth stand-in builds the claims GitHub would
  (repository, ref, event, workflow ref, and the job's environment, which the tests name for the
  jobs that declare one), and the fake STS evaluates them with the provider condition and
  bindings `mlops-bot bootstrap` defines (mlops_bot/backends/gcp/identities.py).
- Concurrency groups and trigger filters (`paths`, `branches`, `types`): act runs what it is
  told. The policy test checks both.

The CI workflow's test job runs the whole suite (about 6 minutes): it runs only with
MLOPS_BOT_ACT_CI=1; the lint job runs every time.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.act import ACTION_REF, Act, ActRun
from tests.support.cli import cli
from tests.support.fake_github import FakeGitHub
from tests.support.gitrepo import GitRepoBuilder

pytestmark = [pytest.mark.docker, pytest.mark.act]

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
            "comment": {"id": comment_id, "body": body,
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


def init_project(tmp: Path, github: FakeGitHub, act: Act) -> Project:
    """`mlops-bot init` and the example pipeline on main; a branch that changes its training."""
    repo = GitRepoBuilder(tmp / "repo")
    result = cli("init", "--repo", str(repo.path), "--action-ref", ACTION_REF)
    assert result.returncode == 0, result.stderr
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


@pytest.fixture(scope="module")
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(token=TOKEN).start()
    fake.actions_token()
    fake.set_permission("alice", "write", repo=REPOSITORY)
    fake.set_permission("mallory", "read", repo=REPOSITORY)
    yield fake
    fake.stop()


# -- backend local ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, fake_github: FakeGitHub) -> Project:
    from tests.support.docker import require_docker

    require_docker()
    tmp = tmp_path_factory.mktemp("act-local")
    act = Act(tmp, fake_github.url, TOKEN, repository=REPOSITORY, state_dir=tmp / "state")
    return init_project(tmp, fake_github, act)


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


def test_deploy_staging_from_a_pr_comment_promotes_the_branch_run(
        local: Project, local_pushed: ActRun) -> None:
    local_pushed.assert_ok()
    local.github.add_pull(7, local.feature, head_ref="feature", author="alice", repo=REPOSITORY)

    # The reviewers of staging approve (act would not wait for them), then the run starts.
    run = local.comment(7, "alice", "/deploy staging", environments={"deploy": "staging"})

    run.assert_ok()
    command, deploy = run.jobs["command"], run.jobs["deploy"]
    assert (command.outputs["decision"], command.outputs["environment"]) == ("proceed", "staging")
    assert deploy.result == "success" and deploy.outputs["reason_code"] == "ok"
    deployment = local.github.repo(REPOSITORY).deployments[int(command.outputs["deployment_id"])]
    assert deployment.fields["ref"] == local.feature
    assert deployment.statuses[-1]["state"] == "success"
