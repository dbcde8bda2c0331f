"""`mlops-bot deploy <env>` and `mlops-bot rollback <env>`: the promote flow from the command
line, reported on the console (or as one JSON document) and in the GitHub job summary."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_bot.console import emit_json, progress, say

__all__ = ["run_deploy", "run_rollback"]


def run_deploy(repo: Path, environment: str, pipeline: str, sha: str | None, run_id: str | None,
               traffic: int | None, as_json: bool) -> int:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config
    from mlops_bot.flows.promote import promote

    config = load_config(repo)
    result = promote(backends_for(config, repo), config, environment, pipeline, repo_root=repo,
                     sha=sha, run_id=run_id, traffic=traffic)
    return _report(result.to_dict(), result.ok, as_json)


def run_rollback(repo: Path, environment: str, pipeline: str | None, as_json: bool) -> int:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config
    from mlops_bot.flows.promote import rollback

    config = load_config(repo)
    result = rollback(backends_for(config, repo), config, environment, pipeline, repo_root=repo)
    return _report(result.to_dict(), result.ok, as_json)


def _report(document: dict[str, Any], ok: bool, as_json: bool,
            environ: Mapping[str, str] = os.environ) -> int:
    from mlops_bot.github.context import step_summary_path
    from mlops_bot.report.deploy_report import deploy_markdown, deploy_text

    summary = step_summary_path(environ)
    if summary is not None:
        with summary.open("a") as handle:
            handle.write(deploy_markdown(document) + "\n")
    if as_json:
        emit_json(document)
    else:
        say(deploy_text(document))
    if not ok:
        progress(f"mlops-bot: {document['message']}")
    return 0 if ok else 1
