"""What a deploy's requirements read, served as GitHub serves it: pull request reviews, commit
statuses, and the repository activity log (each ref update with its server timestamp).

The routes are registered by `FakeGitHub` itself; tests change the state with the helpers here:
`push_head(fake, 7, sha, at=...)` (a push, or a force push, to the PR branch: moves the head and
logs the activity), `add_review(fake, 7, "bob", "APPROVED")`, `add_status(fake, sha, "ci", "success")`.
`fake.repo().default_branch` is what GET /repos/{owner}/{repo} answers.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.support.fake_github import (
    NOW,
    FakeGitHub,
    HttpError,
    Recorded,
    Reply,
    _pull_of,
    _repo_of,
)

PUSHED = "2024-05-01T11:00:00Z"  # when add_pull's head was pushed: an hour before NOW
REVIEW_STATES = {"APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING"}
STATUS_STATES = {"error", "failure", "pending", "success"}


def log_push(fake: FakeGitHub, ref: str, before: str, after: str, at: str, kind: str,
             actor: str = "alice", repo: str = "octo/models") -> None:
    """One entry of the activity log, as GitHub records a ref update."""
    found = fake.repo(repo)
    found.activity.append({"id": next(fake._ids), "node_id": f"RA_{len(found.activity)}",
                           "before": before, "after": after, "ref": f"refs/heads/{ref}",
                           "timestamp": at, "activity_type": kind,
                           "actor": fake.user_json(actor)})


def push_head(fake: FakeGitHub, number: int, sha: str, *, at: str, force: bool = False,
              actor: str = "mallory", repo: str = "octo/models") -> None:
    """Push `sha` to pull request `number`'s branch at `at` (server time)."""
    pull = fake.repo(repo).pulls[number]
    log_push(fake, pull.head_ref, pull.head_sha, sha, at, "force_push" if force else "push",
             actor, repo)
    pull.head_sha = sha
    fake.repo(repo).commits.add(sha)


def add_review(fake: FakeGitHub, number: int, login: str, state: str, *,
               commit_id: str | None = None, repo: str = "octo/models") -> None:
    """A submitted review of the head (or of `commit_id`)."""
    assert state in REVIEW_STATES, state
    pull = fake.repo(repo).pulls[number]
    fake.repo(repo).reviews.setdefault(number, []).append(
        {"id": next(fake._ids), "login": login, "state": state,
         "commit_id": commit_id or pull.head_sha})


def add_status(fake: FakeGitHub, sha: str, context: str, state: str,
               repo: str = "octo/models") -> None:
    assert state in STATUS_STATES, state
    fake.repo(repo).statuses.append({"id": next(fake._ids), "sha": sha, "context": context,
                                     "state": state})


def list_reviews(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo, pull = _repo_of(fake, p), _pull_of(fake, p)
    url = f"{fake.root}/repos/{repo.full_name}/pulls/{pull.number}"
    return fake.page([
        {"id": r["id"], "node_id": f"PRR_{r['id']}", "user": fake.user_json(r["login"]),
         "body": "", "state": r["state"], "commit_id": r["commit_id"],
         "html_url": f"https://github.example/{repo.full_name}/pull/{pull.number}"
                     f"#pullrequestreview-{r['id']}",
         "pull_request_url": url, "author_association": "COLLABORATOR",
         "_links": {"html": {"href": f"https://github.example/{repo.full_name}/pull/"
                                     f"{pull.number}#pullrequestreview-{r['id']}"},
                    "pull_request": {"href": url}},
         **({} if r["state"] == "PENDING" else {"submitted_at": NOW})}
        for r in repo.reviews.get(pull.number, [])], request)  # oldest first, as GitHub lists


def list_statuses(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    """GET /commits/{ref}/statuses: every status of the commit, newest first."""
    repo = _repo_of(fake, p)
    return fake.page([
        {"id": s["id"], "node_id": f"SC_{s['id']}", "state": s["state"], "context": s["context"],
         "description": None, "target_url": None, "avatar_url": None,
         "url": f"{fake.root}/repos/{repo.full_name}/statuses/{s['sha']}",
         "created_at": NOW, "updated_at": NOW, "creator": fake.user_json("ci-bot")}
        for s in reversed(repo.statuses) if s["sha"] == p["ref"]], request)


def list_activity(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    """GET /activity: ref updates, newest first by default, filtered by `ref` (a full or short
    branch name); paged with opaque `before`/`after` cursors in the Link header, as GitHub does
    (no `page` numbers)."""
    repo, query = _repo_of(fake, p), request.query
    ref = query.get("ref")
    if ref is not None and not ref.startswith("refs/"):
        ref = f"refs/heads/{ref}"
    items = [a for a in repo.activity if ref is None or a["ref"] == ref]
    if query.get("direction", "desc") == "desc":
        items.reverse()
    size = min(int(query.get("per_page", 30)), fake.max_page_size)
    start = _cursor(query["after"]) + 1 if "after" in query else 0
    page = items[start:start + size]
    headers = {}
    if start + size < len(items):
        after = base64.b64encode(f"cursor:{start + size - 1}".encode()).decode()
        host = fake.root.removesuffix(fake.prefix)
        more = "".join(f"&{k}={v}" for k, v in (("ref", query.get("ref")),
                                                ("direction", query.get("direction"))) if v)
        headers["Link"] = (f'<{host}{request.path}?per_page={size}{more}&after={after}>; '
                           'rel="next"')
    return Reply(200, page, headers)


def _cursor(value: str) -> int:
    try:
        return int(base64.b64decode(value).decode().removeprefix("cursor:"))
    except ValueError:
        raise HttpError(422, "Invalid cursor") from None


_R = "/repos/{owner}/{repo}"
ROUTES = [
    ("GET", f"{_R}/pulls/{{number}}/reviews", "list_reviews", list_reviews),
    ("GET", f"{_R}/commits/{{ref}}/statuses", "list_commit_statuses", list_statuses),
    ("GET", f"{_R}/activity", "list_activity", list_activity),
]
PERMISSIONS = {"list_reviews": "pull-requests: read", "list_commit_statuses": "statuses: read",
               "list_activity": "contents: read"}
