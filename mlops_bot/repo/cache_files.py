"""The planning caches' files (`<state_dir>/cache/`): read whole or ignored with a warning,
written whole or not at all. A cache is never the truth: a file that cannot be used is rebuilt by
the plan that finds it, and one that cannot be written only costs the next plan its time."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_bot.console import progress

__all__ = ["read_cache", "warn_ignored", "write_cache"]


def read_cache(file: Path, use: Callable[[Any], None]) -> str | None:
    """Hand `file`'s JSON to `use`; why the file cannot be used (unreadable, not JSON, or `use`
    refused it with ValueError, TypeError, KeyError or AttributeError), or None (used, or no
    file yet)."""
    try:
        raw = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        return str(error)
    try:
        use(json.loads(raw))
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        return str(error) or type(error).__name__
    return None


def warn_ignored(file: Path, reason: str) -> None:
    progress(f"warning: ignored the planning cache {file} ({reason}); rebuilding it")


def write_cache(file: Path, document: Any, again: str) -> None:
    """Write `document` to `file` by an atomic rename (concurrent plans each rename their own
    copy over it); a failure only warns that the next plan does `again`."""
    try:
        _replace(file, json.dumps(document, separators=(",", ":")))
    except OSError as error:
        progress(f"warning: could not save the planning cache {file} ({error}); "
                 f"the next plan {again}")


def _replace(file: Path, text: str) -> None:
    import tempfile  # only plans that change the cache write it

    file.parent.mkdir(parents=True, exist_ok=True)
    ignore = file.parent / ".gitignore"
    if not ignore.exists():  # where the state folder is not ignored, git still skips the cache
        ignore.write_text("# mlops-bot's planning cache: rebuilt when missing\n*\n")
    fd, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, file)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
