"""GitHub deployments: one per deploy of a commit to an environment, and its statuses; and the
protection of the environment deployed to.

A deployment always names a full commit SHA (a branch name would deploy whatever it points to
later), never auto-merges and requires no status contexts: mlops-bot has already checked the
commit when it asks for one. Its task is mlops-bot's own (`DEPLOY_TASK`), never GitHub's default
`deploy`, which the deployments GitHub Actions makes for jobs with `environment:` carry.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops_bot.github.deployment_payload import DEPLOY_TASK
from mlops_bot.github.forge import Deployment, DeploymentState
from mlops_bot.github.pygithub_client import FULL_SHA, GithubClient, cut, login_of

if TYPE_CHECKING:
    from github.Deployment import Deployment as GithubDeployment

__all__ = ["create_deployment", "deployment", "deployment_states", "environment_reviewers",
           "recent_deployments", "set_deployment_status"]

_STATUS_DESCRIPTION_LIMIT = 140  # GitHub refuses longer deployment status descriptions
_RECENT_DEPLOYMENTS = 100  # how far back `recent_deployments` looks: one page
# Deployment statuses queued/in_progress were previews on older GitHub Enterprise Server versions.
_DEPLOYMENT_ACCEPT = ("application/vnd.github.ant-man-preview+json, "
                      "application/vnd.github.flash-preview+json")


def create_deployment(client: GithubClient, sha: str, environment: str,
                      payload: dict[str, object], description: str) -> int:
    if not FULL_SHA.fullmatch(sha):  # a branch name would deploy whatever it points to later
        raise ValueError(f"a deployment names a full commit SHA, not {sha!r}")
    with client.calling(f"create a deployment of {sha[:12]} to {environment}",
                        "deployments: write"):
        created = client.repo().create_deployment(
            ref=sha, environment=environment, payload=dict(payload), description=description,
            task=DEPLOY_TASK, auto_merge=False, required_contexts=[], transient_environment=False,
            production_environment=environment == "production")
        return int(created.id)


def deployment(client: GithubClient, deployment_id: int) -> Deployment:
    with client.calling(f"read deployment {deployment_id}", "deployments: read",
                        not_found=f"deployment {deployment_id} was not found in "
                        f"{client.repository}"):
        return _deployment(client.repo().get_deployment(deployment_id))


def _deployment(found: GithubDeployment) -> Deployment:
    # As GitHub answered it (PyGithub's `payload` raises on anything but an object).
    payload = found.raw_data.get("payload")
    if isinstance(payload, str):  # GitHub returns the payload as it was posted
        try:
            payload = json.loads(payload or "{}")
        except ValueError:
            payload = {}  # not JSON: not a payload mlops-bot wrote, which its reader refuses
    return Deployment(int(found.id), str(found.sha), str(found.environment),
                      dict(payload) if isinstance(payload, dict) else {},
                      task=str(found.task), creator=login_of(found.creator))


def set_deployment_status(client: GithubClient, deployment_id: int, state: DeploymentState,
                          description: str, environment_url: str | None = None,
                          log_url: str | None = None) -> None:
    fields: dict[str, Any] = {"state": state,
                              "description": cut(description, _STATUS_DESCRIPTION_LIMIT)}
    if environment_url is not None:
        fields["environment_url"] = environment_url
    if log_url is not None:
        fields["log_url"] = log_url
    url = f"/repos/{client.repository}/deployments/{deployment_id}/statuses"
    with client.calling(f"set deployment {deployment_id} to {state}", "deployments: write",
                        not_found=f"deployment {deployment_id} was not found in "
                                  f"{client.repository}"):
        # Deployment.create_status cannot send log_url (it only knows the older target_url).
        client.github().requester.requestJsonAndCheck(
            "POST", url, input=fields, headers={"Accept": _DEPLOYMENT_ACCEPT})


def recent_deployments(client: GithubClient, environment: str) -> list[Deployment]:
    found: list[Deployment] = []
    with client.calling(f"list the deployments of {environment}", "deployments: read"):
        for listed in client.repo().get_deployments(environment=environment):
            found.append(_deployment(listed))
            if len(found) >= _RECENT_DEPLOYMENTS:  # GitHub lists newest first
                break
    return found


def deployment_states(client: GithubClient, deployment_id: int, limit: int = 100) -> list[str]:
    url = f"/repos/{client.repository}/deployments/{deployment_id}"
    with client.calling(f"read the statuses of deployment {deployment_id}", "deployments: read",
                        not_found=f"deployment {deployment_id} was not found in "
                                  f"{client.repository}"):
        from github.Deployment import Deployment as GithubDeployment

        # Newest first, 100 a page; the PaginatedList follows each Link rel="next" only while
        # more are wanted.
        listed = GithubDeployment(client.github().requester, url=url).get_statuses()
        return [str(status.state) for status in itertools.islice(listed, limit)]


def environment_reviewers(client: GithubClient, environment: str) -> list[str] | None:
    from github import GithubException

    url = f"/repos/{client.repository}/environments/{quote(environment, safe='')}"
    with client.calling(f"read the protection rules of environment {environment}",
                        "actions: read"):
        try:
            _, data = client.github().requester.requestJsonAndCheck("GET", url)
        except GithubException as error:
            if error.status == 404:  # no such environment (yet): nothing protects it
                return None
            raise
    reviewers: list[str] = []
    for rule in data.get("protection_rules") or []:
        if isinstance(rule, dict) and rule.get("type") == "required_reviewers":
            for entry in rule.get("reviewers") or []:
                who = (entry or {}).get("reviewer") or {}
                name = who.get("login") or who.get("slug") or who.get("name")
                if name:
                    reviewers.append(str(name))
    return reviewers
