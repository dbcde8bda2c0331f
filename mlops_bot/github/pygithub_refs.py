"""Branch refs the bot writes on GitHub through the Git database API: the lock branches.

Creating a ref is atomic on GitHub (a second create of the same ref gets 422 "Reference already
exists"), which is what makes a lock branch a lock; see `mlops_bot.github.locks`. Only
`refs/heads/...` names of a safe shape are written or deleted.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from mlops_bot.github.pygithub_client import GithubClient, api_message

__all__ = ["create_ref", "delete_ref", "ref_message", "replace_ref"]

_REF = re.compile(r"refs/heads/[A-Za-z0-9][A-Za-z0-9_./-]{0,200}")


def create_ref(client: GithubClient, ref: str, message: str, files: dict[str, str]) -> bool:
    """Whether `ref` was created, on a new root commit of `files` (False: it existed)."""
    from github import GithubException

    base = f"/repos/{client.repository}/git"
    with client.calling(f"create {ref}", "contents: write"):
        requester = client.github().requester
        commit = _commit(requester, base, message, files, [])
        try:
            requester.requestJsonAndCheck("POST", f"{base}/refs", input={
                "ref": _checked_ref(ref), "sha": commit["sha"]})
        except GithubException as error:
            if error.status == 422 and "already exists" in api_message(error):
                return False  # somebody else's: the commit made above stays unreferenced
            raise
    return True


def ref_message(client: GithubClient, ref: str) -> str | None:
    """The message of the commit `ref` points to, or None when there is no such ref."""
    from github import GithubException

    base = f"/repos/{client.repository}/git"
    with client.calling(f"read {ref}", "contents: read"):
        requester = client.github().requester
        try:
            _, found = requester.requestJsonAndCheck(
                "GET", f"{base}/ref/{quote(_checked_ref(ref).removeprefix('refs/'))}")
        except GithubException as error:
            if error.status == 404:
                return None
            raise
        _, commit = requester.requestJsonAndCheck(
            "GET", f"{base}/commits/{found['object']['sha']}")
    return str(commit.get("message") or "")


def replace_ref(client: GithubClient, ref: str, expected: str, message: str,
                files: dict[str, str]) -> bool:
    """Whether `ref` moved to a new commit of `files`, a child of the one it pointed to, whose
    message was `expected` (False: gone, another message, or moved meanwhile: GitHub refuses an
    update that is not a fast-forward)."""
    from github import GithubException

    base = f"/repos/{client.repository}/git"
    name = quote(_checked_ref(ref).removeprefix("refs/"))
    with client.calling(f"update {ref}", "contents: write"):
        requester = client.github().requester
        try:
            _, found = requester.requestJsonAndCheck("GET", f"{base}/ref/{name}")
        except GithubException as error:
            if error.status == 404:
                return False
            raise
        parent = found["object"]["sha"]
        _, held = requester.requestJsonAndCheck("GET", f"{base}/commits/{parent}")
        if str(held.get("message") or "") != expected:
            return False
        commit = _commit(requester, base, message, files, [parent])
        try:
            requester.requestJsonAndCheck("PATCH", f"{base}/refs/{name}", input={
                "sha": commit["sha"], "force": False})
        except GithubException as error:
            if error.status == 422:  # not a fast-forward, or deleted: someone else's now
                return False
            raise
    return True


def _commit(requester: Any, base: str, message: str, files: dict[str, str],
            parents: list[str]) -> dict[str, Any]:
    _, tree = requester.requestJsonAndCheck("POST", f"{base}/trees", input={"tree": [
        {"path": path, "mode": "100644", "type": "blob", "content": content}
        for path, content in files.items()]})
    _, commit = requester.requestJsonAndCheck("POST", f"{base}/commits", input={
        "message": message, "tree": tree["sha"], "parents": parents})
    return dict(commit)


def delete_ref(client: GithubClient, ref: str) -> bool:
    """Whether `ref` was deleted (False: it was already gone)."""
    from github import GithubException

    url = (f"/repos/{client.repository}/git/refs/"
           f"{quote(_checked_ref(ref).removeprefix('refs/'))}")
    with client.calling(f"delete {ref}", "contents: write"):
        try:
            client.github().requester.requestJsonAndCheck("DELETE", url)
        except GithubException as error:
            if error.status == 404 or (error.status == 422
                                       and "does not exist" in api_message(error)):
                return False
            raise
    return True


def _checked_ref(ref: str) -> str:
    if not _REF.fullmatch(ref) or ".." in ref or ref.endswith((".lock", "/", ".")):
        raise ValueError(f"{ref!r} is not a branch ref mlops-bot writes")
    return ref
