"""Step outputs, written so that no value can inject another output.

A value with a newline could otherwise end the `name<<DELIMITER` block early and set outputs of
its own (for instance from a PR comment echoed back). Names are checked against a strict pattern,
values are written in a heredoc block whose delimiter is random and checked not to occur in them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path

__all__ = ["write_outputs"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$")


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    lines = []
    for name, value in outputs.items():
        if not _NAME.match(name):
            raise ValueError(f"invalid output name {name!r}")
        delimiter = f"mlops_bot_{secrets.token_hex(16)}"
        while delimiter in value:  # astronomically unlikely, but cheap to rule out
            delimiter = f"mlops_bot_{secrets.token_hex(16)}"
        lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(lines))
