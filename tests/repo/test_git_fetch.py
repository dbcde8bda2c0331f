"""GitRepo.fetch in the comment job: the checkout kept no token (`persist-credentials: false`), so
the PR head is fetched with the action's token given to that one git process, scoped to the
GitHub server, and never written into .git/config. Served over real smart HTTP
(`git http-backend`) behind a server that demands the token."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from mlops_bot.errors import UserError
from mlops_bot.repo.git import GitRepo
from tests.support.gitrepo import GitRepoBuilder

TOKEN = "ghs_secret-token"
_BACKEND = subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                          check=True).stdout.strip() + "/git-http-backend"


class _Server:
    """Smart HTTP for the repositories under `root`, for callers with `TOKEN` only."""

    def __init__(self, root: Path) -> None:
        self.root, self.refused = root, 0
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.http.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host!s}:{port}"


def _handler(server: _Server) -> type[BaseHTTPRequestHandler]:
    expected = "basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            if (self.headers.get("Authorization") or "").lower() != expected.lower():
                server.refused += 1
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="fake"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            env = {"GIT_PROJECT_ROOT": str(server.root), "GIT_HTTP_EXPORT_ALL": "1",
                   "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
                   "CONTENT_TYPE": self.headers.get("Content-Type") or "",
                   "CONTENT_LENGTH": str(len(body)),
                   "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding") or "",
                   "GIT_PROTOCOL": self.headers.get("Git-Protocol") or ""}
            out = subprocess.run([_BACKEND], input=body, env=env, capture_output=True,
                                 check=True).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            status = next((int(v.split()[1]) for v in lines if v.startswith("Status:")), 200)
            self.send_response(status)
            for line in lines:
                key, _, value = line.partition(": ")
                if key and key != "Status":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    served = _Server(tmp_path / "srv")
    thread = Thread(target=served.http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield served
    served.http.shutdown()
    served.http.server_close()


@pytest.fixture
def clone(tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A default-branch clone whose origin is the server; the PR head is not in it."""
    upstream = GitRepoBuilder(tmp_path / "upstream")
    upstream.commit({"README.md": "main\n"})
    upstream.git("checkout", "-q", "-b", "feature")
    head = upstream.commit({"README.md": "the PR\n"})
    upstream.git("checkout", "-q", "main")
    bare = tmp_path / "srv" / "models.git"
    subprocess.run(["git", "clone", "-q", "--bare", "--single-branch", "--branch", "main",
                    str(upstream.path), str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "fetch", "-q", str(upstream.path),
                    "feature:refs/pull/1/head"], check=True)
    subprocess.run(["git", "-C", str(bare), "config", "uploadpack.allowAnySHA1InWant", "true"],
                   check=True)
    local = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", "--no-local", str(bare), str(local)], check=True)
    subprocess.run(["git", "-C", str(local), "remote", "set-url", "origin",
                    f"{server.url}/models.git"], check=True)
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")  # a refusal must fail, not ask for a password
    monkeypatch.delenv("INPUT_GITHUB-TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_SERVER_URL", server.url)
    return local, head


def test_the_pr_head_is_fetched_with_the_actions_token_which_is_not_stored(
        clone: tuple[Path, str], server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    local, head = clone
    monkeypatch.setenv("INPUT_GITHUB-TOKEN", TOKEN)
    repo = GitRepo(local)
    assert repo.resolve(head) is None

    repo.fetch(head)

    assert repo.resolve(head) == head
    stored = (local / ".git" / "config").read_text()
    assert TOKEN not in stored and "extraheader" not in stored
    assert base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode() not in stored


def test_without_the_token_the_fetch_is_refused(clone: tuple[Path, str], server: _Server) -> None:
    local, head = clone
    with pytest.raises(UserError, match=f"could not fetch commit {head}"):
        GitRepo(local).fetch(head)
    assert server.refused >= 1


def test_the_token_goes_only_to_the_github_server(
        clone: tuple[Path, str], server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    local, head = clone
    monkeypatch.setenv("INPUT_GITHUB-TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example.com")
    with pytest.raises(UserError) as refused:
        GitRepo(local).fetch(head)
    assert TOKEN not in str(refused.value)
    assert server.refused >= 1
