"""Registry rules shared by every registry backend: version ids, tag names, ref parsing."""

from __future__ import annotations

import hashlib
import re

from mlops_bot.errors import UserError

__all__ = ["DEFAULT_TAG", "check_tag", "parse_ref", "tag_for_branch", "tags_for_push", "version_of"]

DEFAULT_TAG = "latest"
_VERSION = re.compile(r"^v-[0-9a-f]{16}$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def version_of(spec: bytes) -> str:
    """The content-derived version of a compiled spec: recompiling the same spec gives the same."""
    return "v-" + hashlib.sha256(spec).hexdigest()[:16]


def tag_for_branch(branch: str) -> str:
    """A branch's own tag, `branch-<slug>-<8 hex of the name>`: `feature/x` and `feature-x`, or
    `main-` and `main`, get different tags (the slug alone would merge them), and no branch can
    take a reserved tag (`latest`, the default branch's, an environment's) by its name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", branch).strip("-.")[:100] or "x"
    return f"branch-{slug}-{hashlib.sha256(branch.encode()).hexdigest()[:8]}"


def tags_for_push(branch: str | None, default_branch: str) -> list[str]:
    """The tags a push moves. `latest` and the default branch's tag (e.g. `main`, which
    scheduled retraining follows) move only on pushes to the default branch; a push to another
    branch moves its own tag only; a push of no branch (a tag, a detached commit) moves none."""
    if branch is None:
        return []
    if branch == default_branch:
        plain = re.sub(r"[^A-Za-z0-9._-]+", "-", branch).strip("-.")[:128]
        return [DEFAULT_TAG, *([plain] if plain and plain != DEFAULT_TAG else [])]
    return [tag_for_branch(branch)]


def check_tag(tag: str) -> str:
    if not _TAG.match(tag) or _VERSION.match(tag):
        raise UserError(
            f"{tag!r} is not a valid tag: use letters, digits, '.', '_' or '-' (at most 128), "
            "not starting with a separator and not shaped like a version (v-<16 hex>)"
        )
    return tag


def parse_ref(ref: str | None) -> tuple[str, str]:
    """Split a user's reference into ("version", id) or ("tag", name); None means `latest`."""
    if ref is None or ref == "":
        return "tag", DEFAULT_TAG
    bare = ref.removeprefix("@").removeprefix(":")
    if _VERSION.match(bare):
        return "version", bare
    if ref.startswith("@"):
        raise UserError(f"{ref!r} is not a version: versions look like v-<16 hex digits>")
    return "tag", check_tag(bare)
