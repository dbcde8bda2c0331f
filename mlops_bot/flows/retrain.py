"""`mlops-bot retrain`: run what the schedules of mlops.yaml say is due, then offer what is better.

For each schedule: its window (the last time its cron fired) -> the run of that window if there
is one, else the schedule's tag resolved to a pinned version and run with the schedule's
parameters under a run id derived from pipeline, version, parameters and window (so a workflow
that fires twice or is re-run starts nothing new) -> the gate against the champion serving the
schedule's environment, with the schedule's margin -> when better and `auto_promote`, a GitHub
Deployment of the run for that environment, which its required reviewers approve before the
deploy job promotes it: retraining never deploys by itself -> a report in the job summary and
on the schedule's tracking issue.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.flows.results.retrain import RetrainPromotion, RetrainResult, ScheduledRun
from mlops_bot.flows.schedules import (
    parse_now,
    resolve_tag,
    schedule_parameters,
    selected_schedules,
    window_of,
)
from mlops_bot.flows.superseded import supersede_before
from mlops_bot.github.deployment_payload import stamped

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.backends.types import RunRecord
    from mlops_bot.config import Config, Schedule
    from mlops_bot.flows.schedules import Window
    from mlops_bot.github.context import ActionContext
    from mlops_bot.github.forge import Forge
    from mlops_bot.github.outcome import Outcome

__all__ = ["RetrainFlow", "handle_retrain", "retrain"]

_PIPELINE_INPUT = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_DONE = ("succeeded", "running")  # a run in one of these states is never started again


class RetrainFlow:
    def __init__(self, repo: Path, config: Config, backends: Backends, forge: Forge,
                 now: datetime, actor: str = "mlops-bot", window: Window | None = None) -> None:
        self.repo, self.config, self.backends, self.forge = repo, config, backends, forge
        self.now, self.actor = now, actor
        self.window = window  # a drift episode's (flows/monitor.py) instead of the cron's
        self.result = RetrainResult(now=_iso(now))

    def run(self, pipeline: str | None = None) -> RetrainResult:
        from mlops_bot.flows.run_pool import RunPool, deadline_of, parallel_runs

        result = self.result = RetrainResult(now=_iso(self.now))
        due: list[tuple[int, Schedule]] = []
        for index, schedule in selected_schedules(self.config, pipeline):
            if schedule.paused and pipeline is None:
                result.notes.append(f"{schedule.name}: paused in mlops.yaml; not run (`mlops-bot "
                                    f"retrain --pipeline {schedule.pipeline}` runs it anyway)")
                continue
            due.append((index, schedule))
        # The schedules' runs overlap under one deadline; the promotions follow, in order.
        ended: dict[int, ScheduledRun] = {}
        deadline = deadline_of(self.config, time.monotonic())
        with RunPool(parallel_runs(self.config), deadline) as pool:
            for index, schedule in due:
                pool.submit(functools.partial(self._run, index, schedule, deadline),
                            functools.partial(self._ended, ended, index))
            pool.drain()
        for index, schedule in due:
            result.runs.append(ended[index])
            result.promotions.append(self._promotion(schedule, ended[index]))
        return result

    @staticmethod
    def _ended(ended: dict[int, ScheduledRun], index: int, run: ScheduledRun) -> None:
        ended[index] = run
        progress(f"  {run.schedule}: run {run.run_id or '-'} {run.status}"
                 + (f": {run.url}" if run.url else ""))

    # -- the run of the window -------------------------------------------------------------
    def _run(self, index: int, schedule: Schedule, deadline: float) -> ScheduledRun:
        """In a worker thread: the run of the schedule's window, started and waited for."""
        window = self.window or window_of(schedule, index, self.now)
        trigger = window.trigger(schedule.name)
        out = ScheduledRun(schedule.name, schedule.pipeline, schedule.tag, _iso(window.start),
                           window_key=window.key)
        runner, registry = self.backends.runner, self.backends.registry
        try:
            earlier = next((r for r in runner.runs(schedule.pipeline) if r.trigger == trigger),
                           None)
            if earlier is not None and earlier.status in _DONE:
                progress(f"  {schedule.name}: run {earlier.run_id} of window {out.window} "
                         f"exists ({earlier.status}); not starting another")
                return _filled(out, earlier, started=False)
            # A failed run of this window is run again on the version it pinned.
            record = (registry.resolve(schedule.pipeline, f"@{earlier.version}") if earlier
                      else resolve_tag(registry, index, schedule))
            out.version, out.git_sha = record.version, str(record.manifest.get("git_sha", ""))
            parameters = schedule_parameters(self.repo, self.config, index, schedule, record)
            return self._start(out, schedule, record.version, parameters, trigger,
                               dict(record.manifest.get("images") or {}), deadline)
        except UserError as error:
            out.status, out.error = "failed", str(error)
            return out

    def _start(self, out: ScheduledRun, schedule: Schedule, version: str,
               parameters: dict[str, Any], trigger: str, images: dict[str, str],
               deadline: float) -> ScheduledRun:
        from mlops_bot.backends.types import RunRequest
        from mlops_bot.flows.push import run_id_for
        from mlops_bot.flows.run_pool import not_started, run_or_wait

        runner = self.backends.runner
        run_id = run_id_for(schedule.pipeline, version, parameters, trigger)
        existing = runner.get(run_id)
        if existing is not None and existing.status in _DONE:
            return _filled(out, existing, started=False)
        progress(f"==> {schedule.name}: run {schedule.pipeline}@{version} ({schedule.tag}) "
                 f"for window {out.window} as {run_id}")
        if time.monotonic() >= deadline:
            raise not_started(f"the run of schedule {schedule.name}")
        record = run_or_wait(runner, RunRequest(
            run_id=run_id, pipeline=schedule.pipeline, version=version,
            spec=self.backends.registry.spec(schedule.pipeline, version),
            parameters=parameters, git_sha=out.git_sha, trigger=trigger, images=images,
            labels={"schedule": schedule.name, "window": out.window_key}), deadline)
        return _filled(out, record, started=True)

    # -- the challenger against the champion -----------------------------------------------
    def _promotion(self, schedule: Schedule, run: ScheduledRun) -> RetrainPromotion:
        from mlops_bot.flows.gate import check_gate
        from mlops_bot.flows.promote_inputs import champion_metrics

        def verdict(decision: Any, message: str, **fields: Any) -> RetrainPromotion:
            return RetrainPromotion(schedule.name, schedule.pipeline, schedule.environment,
                                    run.run_id, run.version, decision, message, sha=run.git_sha,
                                    **fields)

        if run.status != "succeeded":
            return verdict("not_compared", f"the run {run.status}: nothing to compare")
        name = schedule.environment
        if not name:
            return verdict("no_environment", "the schedule names no environment: set "
                           "environment: in its mlops.yaml entry to compare with its champion")
        endpoint = self.backends.endpoints.get(name)
        serving = endpoint.serving() if endpoint else None
        champion = None if serving is None else {
            "model": serving.model, "version": serving.model_version,
            "run_id": serving.lineage.get("run_id", "")}
        if serving is not None and serving.lineage.get("run_id") == run.run_id:
            return verdict("serving", f"this run's model already serves {name}",
                           champion=champion)
        gate = check_gate(run.metrics, champion_metrics(self.backends, endpoint),
                          self.config.environments[name], required_gain=schedule.margin)
        if not gate.passed:
            return verdict("not_better", f"not offered for {name}: " + "; ".join(gate.reasons),
                           gate=gate, champion=champion)
        against = ("there is no champion yet" if serving is None else
                   f"it beats the champion ({serving.model} version {serving.model_version})")
        if not schedule.auto_promote:
            return verdict("better", f"{against}; auto_promote is off, so deploy it by hand: "
                           f"`mlops-bot deploy {name} --pipeline {schedule.pipeline} --run "
                           f"{run.run_id}`", gate=gate, champion=champion)
        return self._offer(schedule, run, name, gate, champion, against)

    def _offer(self, schedule: Schedule, run: ScheduledRun, environment: str, gate: Any,
               champion: dict[str, str] | None, against: str) -> RetrainPromotion:
        def verdict(decision: Any, message: str, deployment: int) -> RetrainPromotion:
            return RetrainPromotion(schedule.name, schedule.pipeline, environment, run.run_id,
                                    run.version, decision, message, gate, champion, deployment,
                                    run.git_sha)

        for known in self.forge.recent_deployments(environment):
            if known.payload.get("run_id") == run.run_id:
                return verdict("already_offered", f"{against}; deployment {known.id} of this "
                               f"run to {environment} was created earlier", known.id)
        payload: dict[str, object] = {
            "action": "deploy", "pipeline": schedule.pipeline, "version": run.version,
            "run_id": run.run_id, "sha": run.git_sha, "traffic": None,
            "requested_by": self.actor, "trigger": "retrain", "schedule": schedule.name}
        # The approved deploy job reports there: a retrained model has no pull request.
        issue = tracking_issue(self.forge, schedule.tracking_issue, self.result)
        if issue is not None:
            payload["tracking_issue"] = issue
        deployment = self.forge.create_deployment(
            run.git_sha, environment, stamped(payload),
            f"retrain {schedule.pipeline}@{run.version} ({schedule.name})")
        self.forge.set_deployment_status(deployment, "queued", "waiting for approval")
        supersede_before(self.forge, deployment)  # GitHub cancels the older pending job now
        return verdict("offered", f"{against}: deployment {deployment} to {environment} "
                       "awaits the environment's reviewers", deployment)


def _filled(out: ScheduledRun, record: RunRecord, started: bool) -> ScheduledRun:
    out.version, out.run_id, out.status, out.started = (record.version, record.run_id,
                                                        record.status, started)
    out.metrics, out.parameters, out.url = dict(record.metrics), dict(record.parameters), record.url
    out.git_sha, out.error = record.git_sha or out.git_sha, record.error
    return out


def tracking_issue(forge: Forge, title: str, result: RetrainResult) -> int | None:
    """The open issue titled `title`, opened when missing; None (with a note) when GitHub
    refuses: the report failed, not the retraining."""
    from mlops_bot.github.pygithub_client import ForgeError

    if title in result.tracking_issues:
        return result.tracking_issues[title]
    try:
        number = forge.find_issue(title)
        if number is None:
            number = forge.create_issue(title, _ISSUE_BODY)
    except (UserError, ForgeError) as error:
        _note(result, f"could not find or open the issue {title!r}: {error}")
        return None
    result.tracking_issues[title] = number
    return number


def report(result: RetrainResult, config: Config, forge: Forge,
           environ: Mapping[str, str]) -> None:
    """The job summary, and one comment per schedule and window on its tracking issue."""
    from mlops_bot.github.context import step_summary_path
    from mlops_bot.github.pygithub_client import ForgeError
    from mlops_bot.report.retrain_report import retrain_markdown, schedule_markdown

    promotions = {p.schedule: p for p in result.promotions}
    titles = {s.name: s.tracking_issue for s in config.schedules}
    for run in result.runs:
        number = tracking_issue(forge, titles[run.schedule], result)
        if number is None:
            continue
        try:
            forge.upsert_comment(number, f"retrain:{run.schedule}:{run.window_key}",
                                 schedule_markdown(run, promotions.get(run.schedule)))
        except (UserError, ForgeError) as error:
            _note(result, f"could not report {run.schedule} on issue #{number}: {error}")
    summary = step_summary_path(environ)
    if summary is not None:
        with summary.open("a", encoding="utf-8") as handle:
            handle.write(retrain_markdown(result) + "\n")


def _note(result: RetrainResult, text: str) -> None:
    if text not in result.notes:
        result.notes.append(text)
        progress(f"warning: {text}")


_ISSUE_BODY = ("mlops-bot reports scheduled retraining here: one comment per schedule and "
               "window, with the challenger's metrics against the champion's and whether a "
               "deployment was offered. The schedules are in `mlops.yaml` (`schedules:`).")


def retrain(repo: Path, pipeline: str | None, now: datetime, forge: Forge,
            environ: Mapping[str, str] = os.environ) -> RetrainResult:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config

    config = load_config(repo)
    flow = RetrainFlow(repo, config, backends_for(config, repo), forge, now,
                       actor=environ.get("GITHUB_ACTOR") or "mlops-bot")
    result = flow.run(pipeline)
    report(result, config, forge, environ)
    return result


def handle_retrain(ctx: ActionContext) -> Outcome:
    """The action's `retrain` command (schedule and workflow_dispatch events)."""
    from mlops_bot.github.outcome import Outcome, ReasonCode

    pipeline = str((ctx.event.get("inputs") or {}).get("pipeline") or "").strip() or None
    if pipeline is not None and not _PIPELINE_INPUT.match(pipeline):
        raise UserError("the workflow_dispatch input pipeline must be a pipeline folder name "
                        "(letters, digits, '_', '-', '.')")
    result = retrain(ctx.workspace, pipeline, parse_now(None), ctx.forge(), ctx.environ)
    offered = [p for p in result.promotions if p.decision == "offered"]
    first = offered[0] if offered else None
    versions = [{"pipeline": r.pipeline, "version": r.version, "status": r.status}
                for r in result.runs]
    message = (f"{len(result.runs)} scheduled run(s), {sum(r.started for r in result.runs)} "
               f"started now; {len(offered)} deployment(s) offered")
    return Outcome("proceed" if first else "stop",
                   ReasonCode.OK if result.ok else ReasonCode.FAILED, message,
                   sha=first.sha if first else "",
                   environment=(first.environment or "") if first else "",
                   deployment_id=first.deployment_id if first else None,
                   pipelines=sorted({r.pipeline for r in result.runs}), versions=versions,
                   details=result.to_dict())


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")
