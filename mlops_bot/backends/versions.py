"""Registry rules shared by every registry backend: version ids, tag names, ref parsing."""

from __future__ import annotations

import hashlib
import re

from mlops_bot.errors import UserError

__all__ = ["DEFAULT_TAG", "check_tag", "parse_ref", "tag_for_branch", "version_of"]

DEFAULT_TAG = "latest"
_VERSION = re.compile(r"^v-[0-9a-f]{16}$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def version_of(spec: bytes) -> str:
    """The content-derived version of a compiled spec: recompiling the same spec gives the same."""
    return "v-" + hashlib.sha256(spec).hexdigest()[:16]


def tag_for_branch(branch: str) -> str:
    """A tag name for a branch: `feature/x` becomes `feature-x` (tags are single path segments)."""
    tag = re.sub(r"[^A-Za-z0-9._-]+", "-", branch).strip("-.")[:128]
    return tag or "branch"


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
