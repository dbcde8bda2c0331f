"""What a monitoring run leaves behind: the drift episode (`<state_dir>/monitoring/<env>/
episode.json`), the retraining it starts once with `retrain_on_drift`, the issue with
`alerts.github_issue`, the job summary and the last result `mlops-bot monitoring status` reads.

An episode opens at the first run with a feature over its threshold and ends at the first run
that judges every drifted feature and finds none over; a run that could not judge one (too few
samples) keeps it open. Its retraining's run id derives from the episode, so a re-run of the
monitor starts nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.flows.results.monitor import MonitorResult
from mlops_bot.flows.schedules import Window

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.config import Config
    from mlops_bot.github.forge import Forge

__all__ = ["close_loop", "iso_utc"]


@dataclass(frozen=True)
class _EpisodeWindow(Window):
    """A drift episode, standing in for a schedule's cron window: its retrain's run id."""

    def trigger(self, schedule: str) -> str:
        return f"drift-{self.key}-{schedule}"[:63]


def close_loop(result: MonitorResult, repo: Path, config: Config, backends: Backends,
               state: Path, forge: Forge, now: datetime, environ: Mapping[str, str]) -> None:
    """The drift episode, the retraining it starts once, the issue and the job summary."""
    from mlops_bot.backends.local.files import write_atomic

    monitoring = config.environments[result.environment].monitoring
    assert monitoring is not None  # measure refused it otherwise
    path = state / "monitoring" / result.environment / "episode.json"
    episode = _read_episode(path)
    ended = None
    if result.drifted:
        episode = episode or {"started": iso_utc(now.timestamp()), "retrain": None}
        episode["features"] = sorted({f.feature for f in result.drifted})
        if monitoring.retrain_on_drift and episode.get("retrain") is None:
            episode["retrain"] = _retrain(monitoring.retrain_on_drift, episode, repo, config,
                                          backends, forge, now, environ, result)
        elif episode.get("retrain"):
            result.notes.append(f"drift since {episode['started']}: its retraining was started "
                                f"then (run {episode['retrain'].get('run_id')}); not again "
                                "until drift clears")
        write_atomic(path, json.dumps(episode, indent=2).encode())
        result.episode = episode
    elif episode is not None and _unjudged(result, episode):  # no verdict is not "no drift"
        result.notes.append(f"drift since {episode['started']} is not over: "
                            f"{', '.join(_unjudged(result, episode))} could not be judged")
    elif episode is not None:
        path.unlink(missing_ok=True)
        ended = episode
        result.notes.append(f"drift cleared: the episode since {episode['started']} is over")
    if monitoring.alerts.github_issue and (result.drifted or ended):
        _report_issue(result, forge, (episode or ended or {}).get("started", ""))
    _summary(result, environ)
    from mlops_bot.backends.local.monitoring import record_last  # for `monitoring status`

    record_last(state, result.environment, result.to_dict())


def _unjudged(result: MonitorResult, episode: dict[str, Any]) -> list[str]:
    """The episode's drifted features this run had too few samples to judge."""
    few = {f.feature for f in result.features if f.verdict == "too_few"}
    return sorted(few & set(episode.get("features") or ()))


def _read_episode(path: Path) -> dict[str, Any] | None:
    """The drift episode going on, checked: a damaged one is one sentence, not a crash later."""
    from pydantic import BaseModel, ConfigDict

    from mlops_bot.backends.local.files import StateFileError, move_aside, read_state

    class Episode(BaseModel):  # episode.json, as close_loop writes it
        model_config = ConfigDict(extra="allow")
        started: str
        retrain: dict[str, Any] | None = None
        features: list[str] = []

    fix = f"{move_aside(path)} (a new episode starts at the next drift)"
    episode = read_state(path, Episode, fix)
    if episode is None:
        return None
    try:
        datetime.fromisoformat(episode.started.replace("Z", "+00:00"))
    except ValueError:
        raise StateFileError(f"{path} is malformed: started: not a time (found "
                             f"{episode.started[:40]!r}): {fix}") from None
    return episode.model_dump()


def _retrain(name: str, episode: dict[str, Any], repo: Path, config: Config, backends: Backends,
             forge: Forge, now: datetime, environ: Mapping[str, str],
             result: MonitorResult) -> dict[str, Any] | None:
    """Start schedule `name`'s retraining for this episode; None when it did not start (tried
    again at the next run)."""
    from mlops_bot.flows.retrain import RetrainFlow, report

    schedule = next(s for s in config.schedules if s.name == name)
    started = datetime.fromisoformat(episode["started"].replace("Z", "+00:00"))
    progress(f"==> drift in {result.environment}: retraining {schedule.name} "
             f"({schedule.pipeline}) for the episode since {episode['started']}")
    flow = RetrainFlow(repo, config.model_copy(update={"schedules": [schedule]}), backends,
                       forge, now, environ.get("GITHUB_ACTOR") or "mlops-bot",
                       window=_EpisodeWindow(started, now + timedelta(seconds=1)))
    retrained = flow.run(schedule.pipeline)
    report(retrained, config, forge, environ)
    run, promotion = retrained.runs[0], retrained.promotions[0]
    document = {"schedule": schedule.name, "pipeline": schedule.pipeline, "run_id": run.run_id,
                "status": run.status, "started": run.started, "decision": promotion.decision,
                "message": promotion.message, "deployment_id": promotion.deployment_id,
                "environment": promotion.environment, "sha": promotion.sha}
    result.retrain = document
    if run.status == "failed":
        result.notes.append(f"the retraining of {schedule.name} failed ({run.error}): tried "
                            "again at the next monitoring run while drift lasts")
        return None
    return document


def _report_issue(result: MonitorResult, forge: Forge, episode: str) -> None:
    """One issue per environment and window, one comment per drift episode (updated)."""
    from mlops_bot.github.pygithub_client import ForgeError
    from mlops_bot.report.monitor_report import monitor_markdown

    title = f"mlops-bot: drift in {result.environment} (window {result.window})"
    try:
        number = forge.find_issue(title)
        if number is None:
            number = forge.create_issue(title, _ISSUE_BODY)
        forge.upsert_comment(number, f"monitor:{result.environment}:{result.window}:{episode}",
                             monitor_markdown(result))
        result.issue = number
    except (UserError, ForgeError) as error:
        result.notes.append(f"could not report on the issue {title!r}: {error}")


_ISSUE_BODY = ("mlops-bot reports model monitoring here: one comment per drift episode, with "
               "each feature's statistic against its threshold, updated at every monitoring run "
               "and marked cleared when drift ends. The settings are under `monitoring:` of the "
               "environment in `mlops.yaml`.")


def _summary(result: MonitorResult, environ: Mapping[str, str]) -> None:
    from mlops_bot.github.context import step_summary_path
    from mlops_bot.report.monitor_report import monitor_markdown

    summary = step_summary_path(environ)
    if summary is not None:
        with summary.open("a", encoding="utf-8") as handle:
            handle.write(monitor_markdown(result) + "\n")


def iso_utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")
