"""The end of a build's or run's output, as failure messages quote it."""

from __future__ import annotations

import re

__all__ = ["tail"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def tail(text: str, lines: int = 25) -> str:
    """The last `lines` non-empty lines of `text`, colour codes removed, each indented by 4."""
    kept = [line for line in _ANSI.sub("", text).splitlines() if line.strip()][-lines:]
    return "\n".join(f"    {line.rstrip()}" for line in kept)
