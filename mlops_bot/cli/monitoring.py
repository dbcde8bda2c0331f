"""`mlops-bot monitoring status <env>`: what watches an environment's model and what it found
(the Vertex AI monitoring job's latest anomalies on gcp; the last `mlops-bot monitor` locally)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    monitoring = commands.add_parser(
        "monitoring", help="an environment's model monitoring: state and latest anomalies")
    actions = monitoring.add_subparsers(dest="monitoring_command", metavar="ACTION",
                                        required=True)
    status = actions.add_parser(
        "status", help="the latest anomalies per feature",
        description="On backend gcp: the state of the environment's Vertex AI Model Monitoring "
        "job (which deploys and rollbacks point at what serves), its last monitoring run and "
        "the latest skew and drift score of each feature against its threshold. On backend "
        "local: what the last `mlops-bot monitor ENV` found. Exits 1 when a feature is over "
        "its threshold.")
    status.add_argument("environment", metavar="ENV", help="an environment of mlops.yaml")
    repo_option(status)
    json_option(status)
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    from mlops_bot.flows.monitoring_sync import monitoring_status

    result = monitoring_status(args.repo, args.environment)
    if args.json:
        emit_json(result.to_dict())
    else:
        from mlops_bot.report.monitoring_report import monitoring_status_text

        say(monitoring_status_text(result))
    return 1 if result.anomalies else 0
