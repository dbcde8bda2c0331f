"""GitHub environments and their protection rules, served as GitHub serves them
(GET /repos/{owner}/{repo}/environments/{environment_name}; 404 for an environment that does
not exist; `actions: read` for a workflow token).

The routes are registered by `FakeGitHub` itself. A repository starts with `staging` and
`production` protected by a required reviewer (`carol`), as the README's set-up asks: tests of
the deploy job then meet an approved, protected environment unless they say otherwise with
`protect(fake, "staging", [])` (an environment without required reviewers, as GitHub creates one
the first time a job names it) or `remove_environment(fake, "staging")`.
"""

from __future__ import annotations

import zlib
from typing import Any

from tests.support.fake_github import NOW, FakeGitHub, HttpError, Recorded, _repo_of

DEFAULT_REVIEWERS = ["carol"]


def default_environments() -> dict[str, list[str]]:
    return {"staging": list(DEFAULT_REVIEWERS), "production": list(DEFAULT_REVIEWERS)}


def protect(fake: FakeGitHub, environment: str, reviewers: list[str],
            repo: str = "octo/models") -> None:
    """`environment` exists with `reviewers` required (a login, or `team:<slug>`); [] for none."""
    fake.repo(repo).environments[environment] = list(reviewers)


def remove_environment(fake: FakeGitHub, environment: str, repo: str = "octo/models") -> None:
    fake.repo(repo).environments.pop(environment, None)


def _reviewer(fake: FakeGitHub, name: str) -> dict[str, Any]:
    if name.startswith("team:"):
        slug = name.removeprefix("team:")
        return {"type": "Team", "reviewer": {"id": zlib.crc32(slug.encode()), "slug": slug,
                                             "name": slug, "url": f"{fake.root}/teams/{slug}"}}
    return {"type": "User", "reviewer": fake.user_json(name)}


def get_environment(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo = _repo_of(fake, p)
    # GitHub's environment names are case-insensitive.
    found = {name.casefold(): name for name in repo.environments}.get(p["name"].casefold())
    if found is None:
        raise HttpError(404, "Not Found")
    reviewers = repo.environments[found]
    rules: list[dict[str, Any]] = [{"id": 3756, "node_id": "GA_branch", "type": "branch_policy"}]
    if reviewers:
        rules.insert(0, {"id": 3755, "node_id": "GA_reviewers", "type": "required_reviewers",
                         "prevent_self_review": False,
                         "reviewers": [_reviewer(fake, r) for r in reviewers]})
    url = f"{fake.root}/repos/{repo.full_name}/environments/{found}"
    return {"id": zlib.crc32(found.encode()), "node_id": f"EN_{found}", "name": found,
            "url": url, "html_url": f"https://github.example/{repo.full_name}/deployments/"
                                    f"activity_log?environments_filter={found}",
            "created_at": NOW, "updated_at": NOW, "can_admins_bypass": True,
            "protection_rules": rules,
            "deployment_branch_policy": {"protected_branches": False,
                                         "custom_branch_policies": True}}


_R = "/repos/{owner}/{repo}"
ROUTES = [("GET", f"{_R}/environments/{{name}}", "get_environment", get_environment)]
PERMISSIONS = {"get_environment": "actions: read"}
