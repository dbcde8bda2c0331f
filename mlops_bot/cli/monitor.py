"""`mlops-bot monitor <env>`: drift and skew of the requests `serve` logged, per feature."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands
    from mlops_bot.github.forge import Forge

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    monitor = commands.add_parser(
        "monitor", help="compare an environment's recent requests with its model's training data",
        description="Compare the requests `mlops-bot serve ENV` logged in the last --window "
        "with the training data of the serving model's run (skew) and with the window before "
        "(drift), per feature, with the statistics and thresholds of environments.ENV."
        "monitoring in mlops.yaml; a feature with fewer than monitoring.min_samples values "
        "on a side has no verdict. A feature over its threshold opens a drift episode: with "
        "retrain_on_drift its schedule's retraining starts, once per episode, and a better model "
        "is offered for approval. Reports in the job summary and, with alerts.github_issue, on "
        "an issue (GitHub when GITHUB_TOKEN and GITHUB_REPOSITORY are set, else printed). Exits "
        "1 when a feature drifted. With nothing to judge (no model serves ENV yet, no request "
        "was logged in the window, or backend gcp, where Vertex AI monitors) the run is "
        "skipped: it says why, its --json document has status skipped and a reason, and it "
        "exits 0.",
    )
    monitor.add_argument("environment", metavar="ENV", help="an environment of mlops.yaml")
    monitor.add_argument("--window", metavar="D", help="how far back requests count as recent, "
                         "e.g. 6h, 1d, 7d (default: monitoring.window, else 1d)")
    monitor.add_argument("--plot", type=Path, metavar="PATH",
                         help="write a PNG of the worst features' distributions to PATH")
    monitor.add_argument("--now", metavar="ISO", help="the time to take as now (ISO 8601; "
                         "default: the current time)")
    repo_option(monitor)
    json_option(monitor)
    monitor.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    from mlops_bot.flows.monitor import NothingToJudge, document, monitor, report_skipped
    from mlops_bot.flows.schedules import parse_now

    try:
        result = monitor(args.repo, args.environment, args.window, parse_now(args.now),
                         _forge(), plot_path=args.plot)
    except NothingToJudge as skipped:  # not a failure: an hourly job must not go red
        report_skipped(skipped, os.environ)
        if args.json:
            emit_json(skipped.to_dict())
        else:
            from mlops_bot.report.monitor_report import skipped_text

            say(skipped_text(skipped.environment, str(skipped)))
        return 0
    if args.json:
        emit_json(document(result))
    else:
        from mlops_bot.report.monitor_report import monitor_text

        say(monitor_text(result))
    return 1 if result.drifted else 0


def _forge() -> Forge:
    token, repository = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    if token and repository:
        from mlops_bot.github.pygithub_forge import GithubForge

        return GithubForge(repository, token,
                           os.environ.get("GITHUB_API_URL", "https://api.github.com"))
    from mlops_bot.github.console_forge import ConsoleForge

    return ConsoleForge()
