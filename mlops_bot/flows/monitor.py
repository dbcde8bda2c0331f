"""`mlops-bot monitor <env>`: recent requests against the serving model's training data (skew)
and against the window before (drift), per feature, and what follows when one is over.

measure: the environment's monitoring settings -> what serves it (the endpoint) -> the sampled
requests `serve` logged in the window -> the training Dataset of the serving model's run -> one
verdict per feature and objective. close_loop (drift_episode.py): a feature over its threshold
opens a drift episode (`<state_dir>/monitoring/<env>/episode.json`) and, with
`retrain_on_drift`, starts that schedule's retraining once for the episode (its run id derives
from the episode, so a re-run starts nothing either); its better model is offered like any
retrain's, behind the environment's approval. The episode ends at the first run without drift.
The verdicts go to the job summary and, with `alerts.github_issue`, to one issue per environment
and window.

Nothing to judge is not a failure: when no model serves the environment yet, when no request
was logged in the window (a night, a weekend, a staging endpoint nobody calls) or when Vertex AI
watches the endpoint (backend gcp), `measure` raises `NothingToJudge` (a reason from
`SkipReason`), and the command and the hourly action report the environment as skipped, say why
in the job summary and exit 0. A settings mistake (no `monitoring:`, an unknown feature, a run
without training data) stays an error; drift still exits 1 (the command) and alerts.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_bot.console import progress
from mlops_bot.errors import UsageError, UserError
from mlops_bot.flows.drift_episode import close_loop, iso_utc
from mlops_bot.flows.results.monitor import FeatureResult, MonitorResult, Verdict

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.config import Config
    from mlops_bot.github.context import ActionContext
    from mlops_bot.github.forge import Forge
    from mlops_bot.github.outcome import Outcome
    from mlops_bot.monitoring_config import Monitoring, Objective

__all__ = ["NothingToJudge", "Samples", "SkipReason", "document",
           "handle_monitor", "measure", "monitor", "plot", "report_skipped"]

Samples = dict[tuple[str, str], tuple[list[Any], list[Any], bool]]  # baseline, recent, categorical
_PLOTTED = 4  # the worst features drawn
SkipReason = Literal[
    "nothing_serving",  # no model is deployed to the environment yet
    "no_requests",  # no request was logged in the window
    "watched_by_vertex",  # backend gcp: Vertex AI Model Monitoring judges the endpoint
]


class NothingToJudge(UserError):
    """There is nothing to compare yet: the run is skipped (exit 0), not failed. A UserError,
    so a caller that does not expect it still prints one sentence."""

    code = "skipped"

    def __init__(self, environment: str, reason: SkipReason, window: str, message: str) -> None:
        super().__init__(message)
        self.environment, self.reason, self.window = environment, reason, window

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "status": "skipped", "reason": self.reason,
                "message": str(self), "window": self.window, "drift": False}


def measure(config: Config, backends: Backends, state: Path, environment: str,
            window: str | None, now: datetime) -> tuple[MonitorResult, Samples]:
    """The verdict per feature; UserError (one sentence) when there is nothing to compare."""
    from mlops_bot.flows.promote_inputs import environment_of
    from mlops_bot.monitoring.samples import (
        request_columns,
        training_columns,
        training_data_uri,
    )
    from mlops_bot.serving.request_log import read_requests, requests_folder

    monitoring = environment_of(config, environment).monitoring
    if monitoring is None:
        raise UserError(f"environments.{environment}.monitoring is not set in mlops.yaml: add "
                        f"`monitoring: {{}}` under {environment} (then `mlops-bot serve "
                        f"{environment}` logs the requests monitoring compares)")
    window, seconds = _window(monitoring, window)
    _not_on_vertex(config, environment, window)
    endpoint = backends.endpoints.get(environment)
    serving = endpoint.serving() if endpoint else None
    if serving is None:
        raise NothingToJudge(environment, "nothing_serving", window, (
            f"nothing serves {environment}, so there is nothing to monitor: deploy a model "
            f"first (`mlops-bot deploy {environment} --pipeline P`)"))
    until = now.timestamp()
    folder = requests_folder(state, environment)
    recent, count = request_columns(read_requests(folder, until - seconds, until))
    if count == 0:
        raise NothingToJudge(environment, "no_requests", window, (
            f"no requests to {environment} were logged in the last {window} (in {folder}): "
            f"`mlops-bot serve {environment}` logs {monitoring.sampling_rate:.0%} of them; "
            "send some, or widen --window"))
    run_id = serving.lineage.get("run_id", "")
    run = backends.runner.get(run_id) if run_id else None
    if run is None:
        raise UserError(f"the run {run_id or '(none recorded)'} that trained the model serving "
                        f"{environment} ({serving.model} version {serving.model_version}) is "
                        "not in this state folder: its training data cannot be compared")
    training = training_columns(training_data_uri(run.artifacts, run.run_id,
                                                  backends.artifact_root))
    previous, _ = request_columns(read_requests(folder, until - 2 * seconds, until - seconds))
    result = MonitorResult(environment, window, iso_utc(until - seconds), iso_utc(until),
                           {"deployed_model_id": serving.deployed_model_id,
                            "model": serving.model, "model_version": serving.model_version,
                            "run_id": run_id}, count, len(next(iter(training.values()))))
    samples: Samples = {}
    for name in _watched(monitoring, recent, training, environment):
        categorical = not (_numeric(training[name]) and _numeric(recent[name]))
        for objective, settings, baseline in (("skew", monitoring.skew, training[name]),
                                              ("drift", monitoring.drift, previous.get(name))):
            if settings is not None:
                result.features.append(_judge(environment, name, objective, settings,
                                              baseline or [], recent[name], categorical,
                                              monitoring.min_samples))
                samples[(name, objective)] = (baseline or [], recent[name], categorical)
    if not previous:
        result.notes.append(f"no requests were logged in the {window} before: drift is checked "
                            "from the next window on")
    few = sorted({f.feature for f in result.features if f.verdict == "too_few"})
    if few:
        result.notes.append(f"not judged, fewer than monitoring.min_samples "
                            f"({monitoring.min_samples}) values on a side: {', '.join(few)}; "
                            "wait for more requests or widen --window")
    return result, samples


def _window(monitoring: Monitoring, window: str | None) -> tuple[str, int]:
    """--window, else the settings' window, and its seconds (a malformed one exits 2)."""
    from mlops_bot.monitoring_config import duration_seconds

    window = window or monitoring.window
    try:
        return window, duration_seconds(window)
    except ValueError as error:
        raise UsageError(f"--window: {error}") from None


def _not_on_vertex(config: Config, environment: str, window: str) -> None:
    """On backend gcp the requests are logged by Vertex, not on this machine: nothing here."""
    if config.backend != "local":
        raise NothingToJudge(environment, "watched_by_vertex", window, (
            "mlops-bot monitor compares the requests `mlops-bot serve` logged on this machine "
            "(backend local); on backend gcp Vertex AI Model Monitoring watches the endpoint: "
            f"`mlops-bot monitoring status {environment}` reads its verdicts"))


def _numeric(values: list[Any]) -> bool:
    from mlops_bot.monitoring.drift import is_numeric

    return is_numeric(values)


def _watched(monitoring: Monitoring, recent: Mapping[str, list[Any]],
             training: Mapping[str, list[Any]], environment: str) -> list[str]:
    """`features` of the settings, else every feature both the requests and training have."""
    both = [name for name in training if name in recent]
    key = f"environments.{environment}.monitoring"
    for name in monitoring.features:
        if name not in both:
            raise _not_a_feature(f"{key}.features", name, "is not a feature of both the "
                                 "requests and the training data", both)
    for objective, settings in (("skew", monitoring.skew), ("drift", monitoring.drift)):
        for name in settings.per_feature if settings else ():
            if name not in training and name not in recent:  # a typo judges nothing
                raise _not_a_feature(f"{key}.{objective}.per_feature", name, "is neither in "
                                     "the requests nor in the training data", both)
    if monitoring.features:
        return list(monitoring.features)
    if not both:
        raise UserError(f"the requests to {environment} (features {', '.join(sorted(recent))}) "
                        f"and the training data (columns {', '.join(training)}) share no "
                        "feature: is the right model serving?")
    return both


def _not_a_feature(key: str, name: str, problem: str, both: list[str]) -> UserError:
    close = difflib.get_close_matches(name, both, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return UserError(f"{key}: {name!r} {problem}; {hint}features: {', '.join(both) or 'none'}")


def _judge(environment: str, name: str, objective: str, settings: Objective,
           baseline: list[Any], recent: list[Any], categorical: bool,
           min_samples: int) -> FeatureResult:
    from mlops_bot.monitoring.drift import drifted, statistic

    check = settings.check(name, categorical)
    kind = "categorical" if categorical else "numeric"
    if check.statistic == "ks" and categorical:
        raise UserError(f"environments.{environment}.monitoring.{objective}.per_feature.{name}: "
                        f"ks needs numbers, and {name} is categorical: use psi, jensen_shannon "
                        "or l_infinity")
    if not baseline:
        return FeatureResult(name, objective, kind, check.statistic, check.threshold, None,
                             "no_baseline", 0, len(recent))
    if min(len(baseline), len(recent)) < min_samples:  # a handful of values is not a histogram
        return FeatureResult(name, objective, kind, check.statistic, check.threshold, None,
                             "too_few", len(baseline), len(recent))
    value = statistic(check.statistic, baseline, recent, categorical)
    verdict: Verdict = "drift" if drifted(check.statistic, value, check.threshold) else "ok"
    return FeatureResult(name, objective, kind, check.statistic, check.threshold, value, verdict,
                         len(baseline), len(recent))


def plot(result: MonitorResult, samples: Samples, path: Path) -> None:
    """A PNG of the worst features' distributions, the most drifted first."""
    from mlops_bot.monitoring.drift import distributions
    from mlops_bot.monitoring.png import Panel, write_png
    from mlops_bot.report.monitor_report import judged

    ranked = sorted((f for f in result.features if f.value is not None),
                    key=lambda f: f.severity, reverse=True)[:_PLOTTED]
    panels = []
    for feature in ranked:
        baseline, recent, categorical = samples[(feature.feature, feature.objective)]
        shares = distributions(baseline, recent, categorical)
        panels.append(Panel(f"{feature.feature} {feature.objective} {judged(feature)}",
                            shares.baseline, shares.recent))
    try:
        write_png(path, panels)
    except OSError as error:
        raise UserError(f"cannot write the plot {path}: {error.strerror or error}") from None
    result.plot = str(path)


def monitor(repo: Path, environment: str, window: str | None, now: datetime, forge: Forge,
            plot_path: Path | None = None,
            environ: Mapping[str, str] = os.environ) -> MonitorResult:
    from mlops_bot.backends.factory import backends_for, state_dir
    from mlops_bot.config import load_config
    from mlops_bot.flows.promote_inputs import environment_of

    config = load_config(repo)
    monitoring = environment_of(config, environment).monitoring
    if monitoring is not None:  # before the gcp backends, which would look for credentials
        _not_on_vertex(config, environment, _window(monitoring, window)[0])
    backends, state = backends_for(config, repo), state_dir(config, repo)
    result, samples = measure(config, backends, state, environment, window, now)
    if plot_path is not None:
        plot(result, samples, plot_path)
    close_loop(result, repo, config, backends, state, forge, now, environ)
    return result


def document(result: MonitorResult) -> dict[str, Any]:
    """The --json document (and the action's per-environment detail): `status` is drift, ok
    or, from NothingToJudge.to_dict, skipped."""
    return {"status": "drift" if result.drifted else "ok", **result.to_dict()}


def report_skipped(skipped: NothingToJudge, environ: Mapping[str, str]) -> None:
    """Say in the job summary that the environment was skipped, and why."""
    from mlops_bot.github.context import step_summary_path
    from mlops_bot.report.monitor_report import skipped_markdown

    progress(f"mlops-bot monitor: {skipped.environment}: skipped: {skipped}")
    summary = step_summary_path(environ)
    if summary is not None:
        with summary.open("a", encoding="utf-8") as handle:
            handle.write(skipped_markdown(skipped.environment, str(skipped)) + "\n")


def handle_monitor(ctx: ActionContext) -> Outcome:
    """The action's `monitor` command (the mlops-monitor workflow, fired hourly): the input
    `environment`, else every environment with monitoring whose interval is due this hour."""
    from mlops_bot.config import load_config
    from mlops_bot.flows.schedules import parse_now
    from mlops_bot.github.outcome import Outcome, ReasonCode
    from mlops_bot.monitoring_config import INTERVALS

    now, config = parse_now(None), load_config(ctx.workspace)
    named = ctx.input("environment")
    due = [named] if named else [name for name, env in config.environments.items()
                                 if env.monitoring and now.hour % INTERVALS[env.monitoring.interval]
                                 == 0]
    results, failed, offered = {}, [], None
    for environment in due:
        try:
            result = monitor(ctx.workspace, environment, None, now, ctx.forge(),
                             environ=ctx.environ)
        except NothingToJudge as skipped:  # no model or no requests yet: not a failure
            report_skipped(skipped, ctx.environ)
            results[environment] = skipped.to_dict()
            continue
        except UserError as error:
            failed.append(f"{environment}: {error}")
            progress(f"mlops-bot monitor: {environment}: {error}")
            continue
        results[environment] = document(result)
        retrain = result.retrain or {}
        if offered is None and retrain.get("decision") == "offered":
            offered = retrain
    judged = [name for name, r in results.items() if r["status"] != "skipped"]
    drifted = sorted(name for name, r in results.items() if r["drift"])
    skips = "".join(f"; skipped {name}: {r['message']}" for name, r in results.items()
                    if r["status"] == "skipped")
    message = (f"monitored {', '.join(judged) or 'no environment'}; drift in "
               f"{', '.join(drifted) or 'none'}" + skips + "".join(f"; {f}" for f in failed)
               + (f"; deployment {offered['deployment_id']} offered" if offered else ""))
    return Outcome("proceed" if offered else "stop",
                   ReasonCode.FAILED if failed else ReasonCode.OK, message,
                   sha=offered["sha"] if offered else "",
                   environment=offered["environment"] if offered else "",
                   deployment_id=offered["deployment_id"] if offered else None,
                   details={"environments": results, "failed": failed})
