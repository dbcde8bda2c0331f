"""Where output goes: one JSON document or a human report on stdout, progress on stderr.

Commands with `--json` promise exactly one JSON document on stdout, so everything else a command
says while it works goes through `progress` to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["emit_json", "json_documents", "progress", "say"]

_emitted = 0  # documents emit_json printed in this process (the CLI adds an error one if 0)


def emit_json(document: Any) -> None:
    """Print `document` as the single JSON document of this command.

    Compact: documents can be large (a plan of hundreds of pipelines), and json's indenting
    encoder is pure Python, several times slower than the compact C one. `jq .` pretty-prints.
    """
    global _emitted
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()
    _emitted += 1


def json_documents() -> int:
    """How many documents emit_json printed so far (the CLI compares before and after)."""
    return _emitted


def say(text: str) -> None:
    """Print the human-readable result of a command."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def progress(text: str) -> None:
    """Report what is happening now, on stderr so stdout stays machine-readable."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
