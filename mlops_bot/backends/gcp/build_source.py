"""What Cloud Build receives for one image: the build context as a .tgz, and the Dockerfile in it.

The context is the image's folder, unless its Dockerfile copies from outside that folder (seed
000's `COPY pipelines/${PIPELINE_NAME}/ .` is written for the repository root): then it is the
whole checkout and the Dockerfile is named with `-f`, as `docker build -f <path> .` at the root.

The tarball leaves out what must never leave the runner (`.git`, `.mlops` state, `.env` files,
the credentials file google-github-actions/auth writes into the workspace) and what the
context's `.gcloudignore` and `.dockerignore` exclude, read with simple glob rules: `*` stays
within a folder, `**` crosses folders, a leading `!` re-includes, a pattern matching a folder
excludes everything in it. `.dockerignore` patterns are anchored at the context root, as Docker
reads them; `.gcloudignore` patterns without a `/` match at any depth, as gitignore reads them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from mlops_bot.backends.types import BuildRequest

__all__ = ["BuildSource", "SourceError", "build_source", "pack"]

_NEVER = re.compile(r"\.git|\.mlops|\.env|gha-creds-.*\.json")  # any path component
_COPY = re.compile(r"^\s*(COPY|ADD)\s+(.*)$", re.IGNORECASE)
_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE | re.MULTILINE)
# Build arguments the bot fills in when a Dockerfile declares them (seed 000 declares this one).
_KNOWN_ARGS = ("PIPELINE_NAME",)


class SourceError(Exception):
    """The image cannot be sent to Cloud Build as it is; the message says what to change."""


@dataclass(frozen=True)
class BuildSource:
    context: Path  # the folder sent to Cloud Build
    dockerfile: str  # the Dockerfile's path inside `context`, for `docker build -f`
    build_args: dict[str, str] = field(default_factory=dict)


def build_source(request: BuildRequest) -> BuildSource:
    """The context and Dockerfile for `request`; SourceError when there is no Dockerfile."""
    image, root = request.image, request.source_root
    if image.dockerfile is None or not (root / image.dockerfile).is_file():
        where = image.dockerfile or f"{image.context}/Dockerfile"
        raise SourceError(f"{where} does not exist: Cloud Build builds images from a "
                          f"Dockerfile; add one to {image.context}/")
    text = (root / image.dockerfile).read_text(encoding="utf-8", errors="replace")
    declared = set(_ARG.findall(text))
    args = {name: request.pipeline for name in _KNOWN_ARGS if name in declared}
    context = root / image.context
    inside = image.dockerfile.startswith(image.context.rstrip("/") + "/")
    if inside and not _reaches_outside(text, context, root):
        return BuildSource(context, os.path.relpath(root / image.dockerfile, context), args)
    return BuildSource(root, image.dockerfile, args)


def _reaches_outside(dockerfile: str, context: Path, root: Path) -> bool:
    """Whether a COPY/ADD source is missing from `context` but present at the checkout root."""
    for source in _copy_sources(dockerfile):
        top = source.removeprefix("./").split("/", 1)[0]
        if not top or any(c in top for c in "$*?[") or top == "..":
            continue
        if not (context / top).exists() and (root / top).exists():
            return True
    return False


def _copy_sources(dockerfile: str) -> list[str]:
    sources: list[str] = []
    for line in dockerfile.replace("\\\n", " ").splitlines():
        found = _COPY.match(line)
        if not found:
            continue
        rest = found.group(2).strip()
        try:
            words = _json_list(rest) if rest.startswith("[") else shlex.split(rest)
        except ValueError:
            continue
        if any(w.startswith("--from") for w in words):
            continue  # copies from another stage or image, not from the context
        paths = [w for w in words if not w.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def _json_list(text: str) -> list[str]:
    value = json.loads(text)
    if not isinstance(value, list):
        raise ValueError(text)
    return [str(v) for v in value]


def pack(source: BuildSource, out: BinaryIO) -> list[str]:
    """Write the context as a gzipped tarball to `out`; returns the paths it holds."""
    rules = (_read_rules(source.context / ".dockerignore", anchored=True)
             + _read_rules(source.context / ".gcloudignore", anchored=False))
    # With a `!` rule, something inside an excluded folder may come back: walk into them all.
    prune = not any(negate for negate, _ in rules)
    kept: list[str] = []
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for folder, dirs, files in os.walk(source.context):
            rel_folder = os.path.relpath(folder, source.context)
            prefix = "" if rel_folder == "." else rel_folder.replace(os.sep, "/") + "/"
            dirs[:] = sorted(d for d in dirs if not _excluded(prefix + d, rules if prune else []))
            for name in sorted(files):
                rel = prefix + name
                # Docker always reads the Dockerfile, whatever the ignore files say.
                if rel == source.dockerfile or not _excluded(rel, rules):
                    tar.add(os.path.join(folder, name), arcname=rel, filter=_anonymous)
                    kept.append(rel)
    return kept


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # The runner's user and group names mean nothing in the build and need not leave it.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


_Rule = tuple[bool, re.Pattern[str]]  # (re-include, pattern)


def _read_rules(path: Path, anchored: bool) -> list[_Rule]:
    if not path.is_file():
        return []
    rules: list[_Rule] = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip().removeprefix("./").strip("/")
        if pattern:
            rooted = anchored or "/" in pattern
            rules.append((negate, re.compile(("" if rooted else "(?:.*/)?") + _glob(pattern))))
    return rules


def _glob(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def _excluded(rel: str, rules: list[_Rule]) -> bool:
    parts = rel.split("/")
    if any(_NEVER.fullmatch(part) for part in parts):
        return True
    # A pattern naming a folder excludes what is in it: test the path and each of its folders.
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negate, pattern in rules:
        if any(pattern.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded
