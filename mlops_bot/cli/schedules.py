"""`mlops-bot schedules list|sync`: the declared schedules and when each is next due, and the
sync flow that makes Vertex AI's pipeline schedules match them."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "run_schedules_list", "run_schedules_sync"]


def register(commands: Subcommands) -> None:
    schedules = commands.add_parser("schedules", help="list schedules, or sync them to Vertex AI")
    schedules_commands = schedules.add_subparsers(dest="schedules_command", metavar="ACTION",
                                                  required=True)
    schedules_list = schedules_commands.add_parser(
        "list", help="the declared schedules, when each is next due, and their target")
    schedules_list.add_argument("--now", metavar="ISO", help="the time to take as now")
    repo_option(schedules_list)
    json_option(schedules_list)
    schedules_list.set_defaults(handler=_list)
    schedules_sync = schedules_commands.add_parser(
        "sync", help="make Vertex AI's pipeline schedules what mlops.yaml declares",
        description="Create, update (cron, pinned version, parameters), pause, resume and "
        "delete the Vertex AI PipelineJobSchedules mlops-bot created, so they match "
        "schedules: in mlops.yaml; each tag is pinned to the version it points at now. "
        "Schedules mlops-bot did not create are left alone. backend: local has nothing to sync. "
        "Run it with a maintainer's credentials: no workflow identity may change schedules.",
    )
    schedules_sync.add_argument("--dry-run", action="store_true",
                                help="print the plan, change nothing")
    repo_option(schedules_sync)
    json_option(schedules_sync)
    schedules_sync.set_defaults(handler=_sync)


def _list(args: argparse.Namespace) -> int:
    return run_schedules_list(repo=args.repo, now_text=args.now, as_json=args.json)


def _sync(args: argparse.Namespace) -> int:
    return run_schedules_sync(repo=args.repo, dry_run=args.dry_run, as_json=args.json)


def run_schedules_list(repo: Path, now_text: str | None, as_json: bool) -> int:
    from mlops_bot.config import load_config
    from mlops_bot.flows.schedules import parse_now, window_of
    from mlops_bot.report.schedules_report import schedules_table

    config, now = load_config(repo), parse_now(now_text)
    rows: list[dict[str, Any]] = []
    for index, schedule in enumerate(config.schedules):
        window = window_of(schedule, index, now)
        rows.append({"name": schedule.name, "pipeline": schedule.pipeline,
                     "tag": schedule.tag, "cron": schedule.cron,
                     "timezone": schedule.timezone, "paused": schedule.paused,
                     "environment": schedule.environment, "auto_promote": schedule.auto_promote,
                     "margin": schedule.margin, "tracking_issue": schedule.tracking_issue,
                     "last_due": _iso(window.start),
                     "next_due": None if schedule.paused else _iso(window.next)})
    if as_json:
        emit_json({"schema_version": 1, "backend": config.backend, "now": _iso(now),
                   "schedules": rows})
        return 0
    say(schedules_table(rows))
    return 0


def run_schedules_sync(repo: Path, dry_run: bool, as_json: bool) -> int:
    from mlops_bot.backends.factory import backends_for, schedule_service_for
    from mlops_bot.config import load_config
    from mlops_bot.flows.schedules_sync import desired_schedules, sync_schedules
    from mlops_bot.report.schedules_report import render_sync

    config = load_config(repo)
    service = schedule_service_for(config)
    if service is None:
        message = (f"backend: {config.backend} has no schedule service, so there is nothing to "
                   "sync: the retrain workflow runs `mlops-bot retrain`, which starts what is "
                   "due; `mlops-bot schedules list` shows when")
        if as_json:
            emit_json({"schema_version": 1, "dry_run": dry_run, "changes": [], "applied": [],
                       "left_alone": [], "message": message})
        else:
            say(message)
        return 0
    desired = desired_schedules(repo, config, backends_for(config, repo).registry)
    result = sync_schedules(service, desired, dry_run)
    if as_json:
        emit_json(result.to_dict())
    else:
        say(render_sync(result))
    return 0


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
