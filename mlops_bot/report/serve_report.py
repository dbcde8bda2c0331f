"""`mlops-bot serve` as text: where the environment answers, and a curl line to try it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_bot.serving.app import Endpoint, Routes

__all__ = ["ready_text"]


def ready_text(endpoint: Endpoint, url: str, routes: Routes, path: Path, sample: Any) -> str:
    """Where `serve` answers and how to ask it, with `sample` (an instance, or None) in the
    curl line."""
    table = endpoint.table
    if table.models:
        split = ", ".join(f"{m.id} {m.deployed.traffic}%" for m in table.models)
        head = f"Serving {endpoint.environment} at {url} (revision {table.revision}: {split})"
    else:
        head = (f"Serving {endpoint.environment} at {url}: nothing is deployed yet, so predictions "
                f"answer 503 until a deploy writes {path}")
    body = json.dumps({"instances": [sample if sample is not None else ["..."]]})
    lines = [
        head,
        f"  curl -s -X POST {url}{routes.predict} -H 'Content-Type: application/json' "
        f"-d {shlex.quote(body)}",
        f"  curl -s {url}{routes.health}",
        f"It follows {path}: each new revision is swapped in without dropping requests. "
        "Ctrl-C stops it.",
    ]
    if sample is None:
        lines.insert(2, "  (replace ... with the feature values, in training column order)")
    if endpoint.last_error:
        lines.append(f"Warning: {endpoint.last_error}")
    return "\n".join(lines)
