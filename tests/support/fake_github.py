"""A fake GitHub REST API for the real PyGithub client: state, a route table, faults, a request log.

Point PyGithub at `fake.url` (`github.Github(base_url=fake.url, auth=github.Auth.Token(fake.token))`).
PyGithub joins paths to its base URL as they are (no `/api/v3` is added); a GitHub Enterprise
Server style base URL is served with `FakeGitHub(prefix="/api/v3")`. URLs in answers are absolute
and point back at the fake, as GitHub's do: PyGithub follows them (`url` of a comment for an edit,
`Link: <...>; rel="next"` for the next page) and refuses URLs outside its base URL.

Issues (`fake.add_issue(title)`) share numbers and the comments routes with pull requests, and
GET /issues lists both, as GitHub does (a pull request carries `pull_request`).

Extending: `fake.add_route("GET", "/repos/{owner}/{repo}/environments", "list_environments", fn)`
where `fn(fake, request, params)` returns a JSON-able body or a `Reply`, or raises `HttpError`.
Check runs (`repo.check_runs`) and git refs, trees and commits (`repo.refs`, `repo.objects`) are
held as GitHub holds them: a ref that exists cannot be created again (422), a check run needs a
commit the repository has (`fake.repo().commits.add(sha)`), `filter=latest` keeps the newest run of
each name. `fake.token_permissions` (None: everything) models a workflow token's `permissions:`:
a route outside them answers 403 "Resource not accessible by integration", as GitHub does.

Faults are injected per route name: `fake.fail("permission", 500)` (once), `times=None` (always),
`after=1` (from the second request of the route on).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from tests.support.loopback import LoopbackHTTPServer

ACTIONS_BOT = "github-actions[bot]"
NOW = "2024-05-01T12:00:00Z"
STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}


@dataclass
class Recorded:
    method: str
    path: str  # as sent (with any /api/v3 prefix), without the query
    route: str | None  # name of the route that answered; None when no route matched
    query: dict[str, str]
    body: Any  # the decoded JSON body, or None
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(status, message)
        self.status, self.message, self.errors = status, message, errors


@dataclass
class Fault:
    status: int
    message: str
    times: int | None  # None: every request
    headers: dict[str, str]
    delay: float  # seconds before answering, to provoke client timeouts
    after: int = 0  # requests of the route answered before the fault starts


@dataclass
class Comment:
    id: int
    author: str
    body: str
    reactions: list[str] = field(default_factory=list)
    updated: bool = False


@dataclass
class Pull:
    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    author: str
    head_repo: str | None  # full name of the head repository; None when the fork was deleted
    state: str = "open"
    comments: list[Comment] = field(default_factory=list)


@dataclass
class Issue:
    number: int
    title: str
    body: str
    author: str
    state: str = "open"
    comments: list[Comment] = field(default_factory=list)


@dataclass
class Deployment:
    id: int
    creator: str
    fields: dict[str, Any]  # the JSON body as posted
    statuses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Repo:
    full_name: str
    collaborators: dict[str, dict[str, str]] = field(default_factory=dict)  # login -> answer
    pulls: dict[int, Pull] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)  # issues that are not pull requests
    deployments: dict[int, Deployment] = field(default_factory=dict)
    commits: set[str] = field(default_factory=set)  # SHAs a deployment may name
    check_runs: list[dict[str, Any]] = field(default_factory=list)  # as GitHub answers, oldest first
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/x" -> commit sha
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # git trees and commits by sha
    # Read by a deploy's requirements (tests/support/fake_github_pulls.py has the helpers).
    default_branch: str = "main"
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # oldest first
    statuses: list[dict[str, Any]] = field(default_factory=list)  # commit statuses, oldest first
    activity: list[dict[str, Any]] = field(default_factory=list)  # ref updates, oldest first
    # Environment -> its required reviewers (tests/support/fake_github_environments.py).
    environments: dict[str, list[str]] = field(default_factory=lambda: _environments())


def _environments() -> dict[str, list[str]]:
    from tests.support.fake_github_environments import default_environments

    return default_environments()


Handler = Callable[["FakeGitHub", Recorded, dict[str, str]], Any]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler


class FakeGitHub:
    def __init__(self, *, prefix: str = "", token: str = "t", token_login: str = "mlops-bot",
                 max_page_size: int = 100) -> None:
        self.prefix, self.token, self.token_login = prefix.rstrip("/"), token, token_login
        self.max_page_size = max_page_size  # GitHub caps per_page at 100; lower it to test paging
        self.token_permissions: set[str] | None = None  # e.g. {"checks: write"}; None: all
        self.repos: dict[str, Repo] = {}
        self.requests: list[Recorded] = []
        self.faults: dict[str, list[Fault]] = {}
        self._routes: list[_Route] = []
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._server: LoopbackHTTPServer | None = None
        for method, template, name, handler in DEFAULT_ROUTES:
            self.add_route(method, template, name, handler)
        from tests.support import fake_github_pulls  # its handlers build on this module

        for method, template, name, handler in fake_github_pulls.ROUTES:
            self.add_route(method, template, name, handler)
        from tests.support import fake_github_environments

        for method, template, name, handler in fake_github_environments.ROUTES:
            self.add_route(method, template, name, handler)
        self.route_permissions = {**ROUTE_PERMISSIONS, **fake_github_pulls.PERMISSIONS,
                                  **fake_github_environments.PERMISSIONS}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), _handler_class(self))
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def root(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    url = root  # what PyGithub takes as base_url

    # -- state -------------------------------------------------------------------------------
    def repo(self, full_name: str = "octo/models") -> Repo:
        return self.repos.setdefault(full_name, Repo(full_name))

    def add_pull(self, number: int, head_sha: str, *, head_ref: str = "feature", base_ref: str = "main",
                 author: str = "alice", head_repo: str | None = "", repo: str = "octo/models") -> Pull:
        """`head_repo=""` (default): the same repository; a name: a fork; None: a deleted fork."""
        pull = Pull(number, head_sha, head_ref, base_ref, author, repo if head_repo == "" else head_repo)
        self.repo(repo).pulls[number] = pull
        self.repo(repo).commits.add(head_sha)
        if head_repo == "":  # the branch was pushed to this repository, an hour before NOW
            from tests.support.fake_github_pulls import PUSHED, log_push

            log_push(self, head_ref, "0" * 40, head_sha, PUSHED, "branch_creation", author, repo)
        return pull

    def add_issue(self, title: str, *, body: str = "", author: str = "alice", state: str = "open",
                  repo: str = "octo/models") -> Issue:
        """An issue, numbered after every pull request and issue so far (as GitHub does)."""
        found = self.repo(repo)
        issue = Issue(max([0, *found.pulls, *found.issues]) + 1, title, body, author, state)
        found.issues[issue.number] = issue
        return issue

    def thread(self, number: int, repo: str = "octo/models") -> Pull | Issue:
        """The pull request or issue `number` (they share numbers and comments)."""
        found = self.repo(repo)
        return found.pulls[number] if number in found.pulls else found.issues[number]

    def add_comment(self, number: int, author: str, body: str, repo: str = "octo/models") -> Comment:
        comment = Comment(next(self._ids), author, body)
        self.thread(number, repo).comments.append(comment)
        return comment

    def set_permission(self, login: str, permission: str, role_name: str | None = None,
                       repo: str = "octo/models") -> None:
        self.repo(repo).collaborators[login] = {"permission": permission,
                                                "role_name": role_name or permission}

    def comments(self, number: int, repo: str = "octo/models") -> list[Comment]:
        return self.thread(number, repo).comments

    def actions_token(self) -> None:
        """Behave like the Actions GITHUB_TOKEN: it writes as github-actions[bot], may not read /user."""
        self.token_login = ACTIONS_BOT
        self.fail("get_user", 403, message="Resource not accessible by integration", times=None)

    # -- routes, faults, the log -------------------------------------------------------------
    def add_route(self, method: str, template: str, name: str, handler: Handler) -> None:
        # {name} is one path segment; {name*} the rest of the path (a git ref with slashes).
        regex = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.+)", template)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append(_Route(method, re.compile(f"^{regex}$"), name, handler))

    def fail(self, route: str, status: int, *, times: int | None = 1, message: str | None = None,
             headers: dict[str, str] | None = None, delay: float = 0.0, after: int = 0) -> None:
        """The next requests of `route` (`times`, None: all; after the first `after` of them,
        answered as usual) answered `status` with GitHub's error body."""
        assert any(r.name == route for r in self._routes), f"no route named {route}"
        text = message or {401: "Bad credentials", 403: "Forbidden", 404: "Not Found"}.get(
            status, "Server Error")
        self.faults.setdefault(route, []).append(Fault(status, text, times, headers or {}, delay,
                                                       after))

    def calls(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.route == route]

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    def dispatch(self, method: str, target: str, body: Any, headers: dict[str, str]) -> Reply:
        split = urlsplit(target)
        request = Recorded(method, split.path, None, dict(parse_qsl(split.query)), body, headers)
        self.requests.append(request)
        if not split.path.startswith(self.prefix + "/"):
            return _error(404, "Not Found")
        path = split.path[len(self.prefix):]
        for route in self._routes:
            match = route.pattern.match(path)
            if route.method == method and match:
                request.route = route.name
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                return self._answer(route, request, params)
        return _error(404, "Not Found")

    def _answer(self, route: _Route, request: Recorded, params: dict[str, str]) -> Reply:
        authorization = request.headers.get("authorization", "")
        if authorization not in (f"token {self.token}", f"Bearer {self.token}"):
            return _error(401, "Bad credentials")
        needed = self.route_permissions.get(route.name, "").split("|")
        granted = self.token_permissions
        if granted is not None and needed != [""] and not any(
                {n, n.replace(": read", ": write")} & granted for n in needed):
            return _error(403, "Resource not accessible by integration")
        fault = self._take_fault(route.name)
        if fault is not None:
            time.sleep(fault.delay)
            return _error(fault.status, fault.message, fault.headers)
        try:
            with self._lock:
                answer = route.handler(self, request, params)
        except HttpError as error:
            return _error(error.status, error.message, errors=error.errors)
        return answer if isinstance(answer, Reply) else Reply(200, answer)

    def _take_fault(self, route: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(route, [])
            if not queue:
                return None
            fault = queue[0]
            if fault.after > 0:
                fault.after -= 1
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
            return fault

    # -- JSON the way GitHub shapes it -------------------------------------------------------
    def user_json(self, login: str) -> dict[str, Any]:
        return {"login": login, "id": zlib.crc32(login.encode()), "url": f"{self.root}/users/{login}",
                "type": "Bot" if login.endswith("[bot]") else "User"}

    def repo_json(self, full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/")
        return {"id": zlib.crc32(full_name.encode()), "name": name, "full_name": full_name,
                "owner": self.user_json(owner), "private": False,
                "default_branch": getattr(self.repos.get(full_name), "default_branch", "main"),
                "url": f"{self.root}/repos/{full_name}",
                "html_url": f"https://github.example/{full_name}"}

    def comment_json(self, repo: str, number: int, comment: Comment) -> dict[str, Any]:
        url = f"{self.root}/repos/{repo}/issues/comments/{comment.id}"
        return {"id": comment.id, "url": url, "body": comment.body,
                "user": self.user_json(comment.author), "created_at": NOW, "updated_at": NOW,
                "issue_url": f"{self.root}/repos/{repo}/issues/{number}",
                "html_url": f"https://github.example/{repo}/pull/{number}#issuecomment-{comment.id}"}

    def pull_json(self, repo: str, pull: Pull) -> dict[str, Any]:
        head_repo = self.repo_json(pull.head_repo) if pull.head_repo else None
        return {"id": pull.number * 7, "number": pull.number, "state": pull.state,
                "title": f"PR {pull.number}", "user": self.user_json(pull.author),
                "url": f"{self.root}/repos/{repo}/pulls/{pull.number}",
                "head": {"sha": pull.head_sha, "ref": pull.head_ref, "repo": head_repo,
                         "label": f"{(pull.head_repo or 'unknown').split('/')[0]}:{pull.head_ref}"},
                "base": {"sha": "0" * 40, "ref": pull.base_ref, "repo": self.repo_json(repo),
                         "label": f"{repo.split('/')[0]}:{pull.base_ref}"},
                "created_at": NOW, "updated_at": NOW}

    def issue_json(self, repo: str, thread: Pull | Issue) -> dict[str, Any]:
        """An issue as GET /issues lists it; a pull request is an issue with `pull_request`."""
        url = f"{self.root}/repos/{repo}/issues/{thread.number}"
        body: dict[str, Any] = {
            "id": thread.number * 11, "number": thread.number, "state": thread.state,
            "title": thread.title if isinstance(thread, Issue) else f"PR {thread.number}",
            "body": thread.body if isinstance(thread, Issue) else "", "url": url,
            "user": self.user_json(thread.author), "comments": len(thread.comments),
            "comments_url": f"{url}/comments", "labels": [], "created_at": NOW, "updated_at": NOW,
            "html_url": f"https://github.example/{repo}/issues/{thread.number}"}
        if isinstance(thread, Pull):
            body["pull_request"] = {"url": f"{self.root}/repos/{repo}/pulls/{thread.number}"}
        return body

    def deployment_json(self, repo: str, deployment: Deployment) -> dict[str, Any]:
        url = f"{self.root}/repos/{repo}/deployments/{deployment.id}"
        f = deployment.fields
        return {"id": deployment.id, "url": url, "statuses_url": f"{url}/statuses",
                "repository_url": f"{self.root}/repos/{repo}", "sha": f["ref"], "ref": f["ref"],
                "task": f.get("task", "deploy"), "environment": f.get("environment", "production"),
                "payload": f.get("payload", {}), "description": f.get("description"),
                "transient_environment": f.get("transient_environment", False),
                "production_environment": f.get("production_environment", False),
                "creator": self.user_json(deployment.creator), "created_at": NOW, "updated_at": NOW}

    def page(self, items: list[Any], request: Recorded) -> Reply:
        """One page of `items` as GitHub paginates: ?page&per_page (at most 100), and a Link
        header whose URLs keep the request's other parameters (a filter applies to every page)."""
        size = min(int(request.query.get("per_page", 30)), self.max_page_size)
        number = int(request.query.get("page", 1))
        kept = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}
        links = []
        last = max(1, -(-len(items) // size))

        def link(page: int, rel: str) -> str:
            query = urlencode({**kept, "per_page": size, "page": page})
            return f'<{self.root.removesuffix(self.prefix)}{request.path}?{query}>; rel="{rel}"'

        if number < last:
            links.append(link(number + 1, "next"))
        links.append(link(last, "last"))
        return Reply(200, items[(number - 1) * size:number * size], {"Link": ", ".join(links)})


def _error(status: int, message: str, headers: dict[str, str] | None = None,
           errors: list[dict[str, Any]] | None = None) -> Reply:
    body: dict[str, Any] = {"message": message, "documentation_url": "https://docs.github.com/rest"}
    if errors:
        body["errors"] = errors
    return Reply(status, body, dict(headers or {}))


# -- the routes ---------------------------------------------------------------------------------
def _repo_of(fake: FakeGitHub, p: dict[str, str]) -> Repo:
    full_name = f"{p['owner']}/{p['repo']}"
    if full_name not in fake.repos:
        raise HttpError(404, "Not Found")
    return fake.repos[full_name]


def _pull_of(fake: FakeGitHub, p: dict[str, str]) -> Pull:
    pull = _repo_of(fake, p).pulls.get(int(p["number"])) if p["number"].isdigit() else None
    if pull is None:
        raise HttpError(404, "Not Found")
    return pull


def _thread_of(fake: FakeGitHub, p: dict[str, str]) -> Pull | Issue:
    repo = _repo_of(fake, p)
    number = int(p["number"]) if p["number"].isdigit() else -1
    thread = repo.pulls.get(number) or repo.issues.get(number)
    if thread is None:
        raise HttpError(404, "Not Found")
    return thread


def _comment_of(fake: FakeGitHub, p: dict[str, str]) -> tuple[int, Comment]:
    repo = _repo_of(fake, p)
    for thread in [*repo.pulls.values(), *repo.issues.values()]:
        for comment in thread.comments:
            if str(comment.id) == p["id"]:
                return thread.number, comment
    raise HttpError(404, "Not Found")


def _deployment_of(fake: FakeGitHub, p: dict[str, str]) -> Deployment:
    deployment = _repo_of(fake, p).deployments.get(int(p["id"])) if p["id"].isdigit() else None
    if deployment is None:
        raise HttpError(404, "Not Found")
    return deployment


def _body_field(request: Recorded, name: str) -> Any:
    if not isinstance(request.body, dict) or name not in request.body:
        raise HttpError(422, "Invalid request.", [{"field": name, "code": "missing_field"}])
    return request.body[name]


def get_user(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    return fake.user_json(fake.token_login)


def get_repo(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    return fake.repo_json(_repo_of(fake, p).full_name)


def permission(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    answer = _repo_of(fake, p).collaborators.get(p["login"])
    if answer is None:
        raise HttpError(404, "Not Found")
    return {**answer, "user": fake.user_json(p["login"])}


def get_pull(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    return fake.pull_json(_repo_of(fake, p).full_name, _pull_of(fake, p))


def list_comments(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo, thread = _repo_of(fake, p).full_name, _thread_of(fake, p)
    return fake.page([fake.comment_json(repo, thread.number, c) for c in thread.comments],
                     request)


def create_comment(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    thread = _thread_of(fake, p)
    comment = fake.add_comment(thread.number, fake.token_login, str(_body_field(request, "body")),
                               _repo_of(fake, p).full_name)
    return Reply(201, fake.comment_json(_repo_of(fake, p).full_name, thread.number, comment))


def get_issue(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    return fake.issue_json(_repo_of(fake, p).full_name, _thread_of(fake, p))


def list_issues(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo, state = _repo_of(fake, p), request.query.get("state", "open")
    threads = sorted([*repo.pulls.values(), *repo.issues.values()], key=lambda t: t.number,
                     reverse=request.query.get("direction", "desc") == "desc")
    return fake.page([fake.issue_json(repo.full_name, t) for t in threads
                      if state == "all" or t.state == state], request)


def create_issue(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo = _repo_of(fake, p)
    issue = fake.add_issue(str(_body_field(request, "title")), body=str(request.body.get("body") or ""),
                           author=fake.token_login, repo=repo.full_name)
    return Reply(201, fake.issue_json(repo.full_name, issue))


def get_comment(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    number, comment = _comment_of(fake, p)
    return fake.comment_json(_repo_of(fake, p).full_name, number, comment)


def edit_comment(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    number, comment = _comment_of(fake, p)
    comment.body, comment.updated = str(_body_field(request, "body")), True
    return fake.comment_json(_repo_of(fake, p).full_name, number, comment)


def create_reaction(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    _, comment = _comment_of(fake, p)
    content = _body_field(request, "content")
    if content not in REACTIONS:
        raise HttpError(422, "Validation Failed", [{"field": "content", "code": "invalid"}])
    comment.reactions.append(content)
    return Reply(201, {"id": next(fake._ids), "content": content, "created_at": NOW,
                       "user": fake.user_json(fake.token_login)})


def create_deployment(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo, ref = _repo_of(fake, p), str(_body_field(request, "ref"))
    if ref not in repo.commits:
        raise HttpError(422, f"No ref found for: {ref}")
    deployment = Deployment(next(fake._ids), fake.token_login, dict(request.body))
    repo.deployments[deployment.id] = deployment
    return Reply(201, fake.deployment_json(repo.full_name, deployment))


def list_deployments(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo, environment = _repo_of(fake, p), request.query.get("environment")
    return fake.page([fake.deployment_json(repo.full_name, d)  # newest first, as GitHub lists
                      for d in reversed(repo.deployments.values())
                      if environment is None or d.fields.get("environment") == environment],
                     request)


def get_deployment(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    return fake.deployment_json(_repo_of(fake, p).full_name, _deployment_of(fake, p))


def create_status(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    deployment = _deployment_of(fake, p)
    if _body_field(request, "state") not in STATES:
        raise HttpError(422, "Validation Failed", [{"field": "state", "code": "invalid"}])
    status = {**request.body, "id": next(fake._ids), "created_at": NOW,
              "creator": fake.user_json(fake.token_login),
              "url": f"{fake.root}/repos/{_repo_of(fake, p).full_name}/deployments/"
                     f"{deployment.id}/statuses/{len(deployment.statuses) + 1}"}
    deployment.statuses.append(status)
    return Reply(201, status)


def list_statuses(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    return fake.page(list(reversed(_deployment_of(fake, p).statuses)), request)  # newest first


# -- check runs ----------------------------------------------------------------------------------
CONCLUSIONS = {"action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale",
               "timed_out"}
CHECK_OUTPUT_LIMIT = 65535  # characters of a check run's output summary or text


def _check_output(request: Recorded) -> dict[str, Any]:
    output = request.body.get("output") if isinstance(request.body, dict) else None
    if output is None:
        return {"title": None, "summary": None, "text": None}
    if not isinstance(output, dict) or not output.get("title") or "summary" not in output:
        raise HttpError(422, "Invalid request.", [{"field": "output", "code": "missing_field"}])
    for name in ("summary", "text"):
        if len(str(output.get(name) or "")) > CHECK_OUTPUT_LIMIT:
            raise HttpError(422, "Invalid request.", [{"field": f"output.{name}", "code": "too_long"}])
    return {"title": output["title"], "summary": output["summary"], "text": output.get("text")}


def _check_run_json(fake: FakeGitHub, repo: str, fields: dict[str, Any]) -> dict[str, Any]:
    url = f"{fake.root}/repos/{repo}/check-runs/{fields['id']}"
    output = fields["output"]
    return {**{k: v for k, v in fields.items() if k != "output"}, "url": url,
            "html_url": f"https://github.example/{repo}/runs/{fields['id']}",
            "output": {**output, "annotations_count": 0, "annotations_url": f"{url}/annotations"},
            "app": {"id": 15368, "slug": fields["app"], "name": "GitHub Actions",
                    "owner": fake.user_json("github")},
            "check_suite": {"id": 77}, "pull_requests": []}


def create_check_run(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo = _repo_of(fake, p)
    name, sha = str(_body_field(request, "name")), str(_body_field(request, "head_sha"))
    if sha not in repo.commits:
        raise HttpError(422, f"No commit found for SHA: {sha}")
    conclusion = request.body.get("conclusion")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        raise HttpError(422, "Validation Failed", [{"field": "conclusion", "code": "invalid"}])
    status = "completed" if conclusion else request.body.get("status", "queued")
    if status == "completed" and not conclusion:
        raise HttpError(422, "Validation Failed", [{"field": "conclusion", "code": "missing"}])
    fields = {"id": next(fake._ids), "name": name, "head_sha": sha, "status": status,
              "conclusion": conclusion, "details_url": request.body.get("details_url"),
              "external_id": request.body.get("external_id") or "", "started_at": NOW,
              "completed_at": NOW if conclusion else None, "output": _check_output(request),
              "app": "github-actions" if fake.token_login == ACTIONS_BOT else "mlops-bot-app"}
    repo.check_runs.append(fields)
    return Reply(201, _check_run_json(fake, repo.full_name, fields))


def _check_run_of(fake: FakeGitHub, p: dict[str, str]) -> dict[str, Any]:
    for fields in _repo_of(fake, p).check_runs:
        if str(fields["id"]) == p["id"]:
            return fields
    raise HttpError(404, "Not Found")


def get_check_run(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    return _check_run_json(fake, _repo_of(fake, p).full_name, _check_run_of(fake, p))


def update_check_run(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    fields = _check_run_of(fake, p)
    body = request.body if isinstance(request.body, dict) else {}
    if "output" in body:
        fields["output"] = _check_output(request)
    for name in ("status", "conclusion", "details_url", "name"):
        if name in body:
            fields[name] = body[name]
    if fields["conclusion"]:
        fields["status"], fields["completed_at"] = "completed", NOW
    return _check_run_json(fake, _repo_of(fake, p).full_name, fields)


def list_check_runs(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    """GET /commits/{ref}/check-runs: newest first; `filter=latest` (the default) keeps the newest
    run of each name, `check_name` and `status` filter; the body wraps the page."""
    repo, query = _repo_of(fake, p), request.query
    runs = [r for r in reversed(repo.check_runs) if r["head_sha"] == p["ref"]
            and query.get("check_name", r["name"]) == r["name"]
            and query.get("status", r["status"]) == r["status"]]
    if query.get("filter", "latest") == "latest":
        seen: set[str] = set()
        runs = [r for r in runs if not (r["name"] in seen or seen.add(r["name"]))]
    page = fake.page([_check_run_json(fake, repo.full_name, r) for r in runs], request)
    return Reply(200, {"total_count": len(runs), "check_runs": page.body}, page.headers)


# -- git data: trees, commits, refs ----------------------------------------------------------------
def _object_sha(kind: str, body: Any) -> str:
    import hashlib

    return hashlib.sha1(f"{kind} {json.dumps(body, sort_keys=True)}".encode()).hexdigest()


def create_tree(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo, entries = _repo_of(fake, p), _body_field(request, "tree")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("path") for e in entries):
        raise HttpError(422, "Invalid tree info", [{"field": "tree", "code": "invalid"}])
    sha = _object_sha("tree", entries)
    repo.objects[sha] = {"type": "tree", "tree": entries}
    return Reply(201, {"sha": sha, "url": f"{fake.root}/repos/{repo.full_name}/git/trees/{sha}",
                       "tree": entries, "truncated": False})


def _commit_json(fake: FakeGitHub, repo: str, sha: str, commit: dict[str, Any]) -> dict[str, Any]:
    person = {"name": "github-actions[bot]", "email": "41898282+github-actions[bot]@users.noreply.github.com",
              "date": NOW}
    return {"sha": sha, "url": f"{fake.root}/repos/{repo}/git/commits/{sha}",
            "html_url": f"https://github.example/{repo}/commit/{sha}", "message": commit["message"],
            "tree": {"sha": commit["tree"], "url": f"{fake.root}/repos/{repo}/git/trees/{commit['tree']}"},
            "parents": [{"sha": s} for s in commit["parents"]], "author": person, "committer": person}


def create_git_commit(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo = _repo_of(fake, p)
    tree, message = str(_body_field(request, "tree")), str(_body_field(request, "message"))
    parents = request.body.get("parents") or []
    if repo.objects.get(tree, {}).get("type") != "tree":
        raise HttpError(422, "Tree SHA does not exist")
    commit = {"type": "commit", "message": message, "tree": tree, "parents": list(parents),
              "nonce": next(fake._ids)}  # GitHub's commits carry a date: never the same sha twice
    sha = _object_sha("commit", commit)
    repo.objects[sha] = commit
    repo.commits.add(sha)
    return Reply(201, _commit_json(fake, repo.full_name, sha, commit))


def get_git_commit(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo = _repo_of(fake, p)
    commit = repo.objects.get(p["sha"])
    if commit is None or commit["type"] != "commit":
        raise HttpError(404, "Not Found")
    return _commit_json(fake, repo.full_name, p["sha"], commit)


def _ref_json(fake: FakeGitHub, repo: str, ref: str, sha: str) -> dict[str, Any]:
    return {"ref": ref, "node_id": f"REF_{zlib.crc32(ref.encode())}",
            "url": f"{fake.root}/repos/{repo}/git/{ref}",
            "object": {"type": "commit", "sha": sha,
                       "url": f"{fake.root}/repos/{repo}/git/commits/{sha}"}}


def create_ref(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo = _repo_of(fake, p)
    ref, sha = str(_body_field(request, "ref")), str(_body_field(request, "sha"))
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise HttpError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    if ref in repo.refs:  # the atomic test-and-set locks rely on
        raise HttpError(422, "Reference already exists")
    if sha not in repo.commits:
        raise HttpError(422, "Object does not exist")
    repo.refs[ref] = sha
    return Reply(201, _ref_json(fake, repo.full_name, ref, sha))


def get_ref(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo, ref = _repo_of(fake, p), f"refs/{p['ref']}"
    if ref not in repo.refs:
        raise HttpError(404, "Not Found")
    return _ref_json(fake, repo.full_name, ref, repo.refs[ref])


def update_ref(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo, ref, sha = _repo_of(fake, p), f"refs/{p['ref']}", str(_body_field(request, "sha"))
    if ref not in repo.refs:
        raise HttpError(422, "Reference does not exist")
    if sha not in repo.commits:
        raise HttpError(422, "Object does not exist")
    todo, ancestry = [sha], set()  # a fast-forward: the ref's commit is an ancestor of sha
    while todo:
        commit = todo.pop()
        if commit not in ancestry:
            ancestry.add(commit)
            todo.extend(repo.objects.get(commit, {}).get("parents", []))
    if repo.refs[ref] not in ancestry and not request.body.get("force"):
        raise HttpError(422, "Update is not a fast forward")
    repo.refs[ref] = sha
    return _ref_json(fake, repo.full_name, ref, sha)


def delete_ref(fake: FakeGitHub, request: Recorded, p: dict[str, str]) -> Any:
    repo, ref = _repo_of(fake, p), f"refs/{p['ref']}"
    if repo.refs.pop(ref, None) is None:
        raise HttpError(422, "Reference does not exist")
    return Reply(204, None)


_R = "/repos/{owner}/{repo}"
DEFAULT_ROUTES: list[tuple[str, str, str, Handler]] = [
    ("GET", "/user", "get_user", get_user),
    ("GET", _R, "get_repo", get_repo),
    ("GET", f"{_R}/collaborators/{{login}}/permission", "permission", permission),
    ("GET", f"{_R}/pulls/{{number}}", "get_pull", get_pull),
    ("GET", f"{_R}/issues", "list_issues", list_issues),
    ("POST", f"{_R}/issues", "create_issue", create_issue),
    ("GET", f"{_R}/issues/{{number}}", "get_issue", get_issue),
    ("GET", f"{_R}/issues/{{number}}/comments", "list_comments", list_comments),
    ("POST", f"{_R}/issues/{{number}}/comments", "create_comment", create_comment),
    ("GET", f"{_R}/issues/comments/{{id}}", "get_comment", get_comment),
    ("PATCH", f"{_R}/issues/comments/{{id}}", "edit_comment", edit_comment),
    ("POST", f"{_R}/issues/comments/{{id}}/reactions", "create_reaction", create_reaction),
    ("POST", f"{_R}/deployments", "create_deployment", create_deployment),
    ("GET", f"{_R}/deployments", "list_deployments", list_deployments),
    ("GET", f"{_R}/deployments/{{id}}", "get_deployment", get_deployment),
    ("POST", f"{_R}/deployments/{{id}}/statuses", "create_status", create_status),
    ("GET", f"{_R}/deployments/{{id}}/statuses", "list_statuses", list_statuses),
    ("POST", f"{_R}/check-runs", "create_check_run", create_check_run),
    ("GET", f"{_R}/check-runs/{{id}}", "get_check_run", get_check_run),
    ("PATCH", f"{_R}/check-runs/{{id}}", "update_check_run", update_check_run),
    ("GET", f"{_R}/commits/{{ref}}/check-runs", "list_check_runs", list_check_runs),
    ("POST", f"{_R}/git/trees", "create_tree", create_tree),
    ("POST", f"{_R}/git/commits", "create_git_commit", create_git_commit),
    ("GET", f"{_R}/git/commits/{{sha}}", "get_git_commit", get_git_commit),
    ("POST", f"{_R}/git/refs", "create_ref", create_ref),
    ("GET", f"{_R}/git/ref/{{ref*}}", "get_ref", get_ref),
    ("PATCH", f"{_R}/git/refs/{{ref*}}", "update_ref", update_ref),
    ("DELETE", f"{_R}/git/refs/{{ref*}}", "delete_ref", delete_ref),
]

# The workflow token permission each route needs (GitHub's "permissions required" per endpoint;
# "a|b": either will do); a route not listed is open to any token of the repository.
ROUTE_PERMISSIONS: dict[str, str] = {
    "get_pull": "pull-requests: read", "list_comments": "issues: read|pull-requests: read",
    "create_comment": "issues: write|pull-requests: write",
    "edit_comment": "issues: write|pull-requests: write",
    "create_reaction": "issues: write|pull-requests: write", "list_issues": "issues: read",
    "create_issue": "issues: write", "get_issue": "issues: read",
    "create_deployment": "deployments: write", "list_deployments": "deployments: read",
    "get_deployment": "deployments: read", "create_status": "deployments: write",
    "list_statuses": "deployments: read",
    "create_check_run": "checks: write", "update_check_run": "checks: write",
    "get_check_run": "checks: read", "list_check_runs": "checks: read",
    "create_tree": "contents: write", "create_git_commit": "contents: write",
    "get_git_commit": "contents: read", "create_ref": "contents: write",
    "get_ref": "contents: read", "delete_ref": "contents: write", "update_ref": "contents: write",
}


def _handler_class(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = fake.dispatch(self.command, self.path, body, headers)
            payload = b"" if reply.status == 204 else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout fault): nothing left to answer

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request log is `fake.requests`

    return _Handler


@contextmanager
def running(**options: Any) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(**options).start()
    try:
        yield fake
    finally:
        fake.stop()
