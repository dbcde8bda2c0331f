"""The scenarios of the golden files: every text the bot shows people, rendered from the real
result types through the public functions the flows call, with fixed shas, times and urls.

Each entry maps a file name under tests/fixtures/expected/ to a function that renders it. The
hostile scenarios carry what an attacker controls: a pipeline folder name, a branch name, the
metric names and values a pipeline logs, error text, a lock reason, a login.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from mlops_bot.backends.types import BuildResult, EnvironmentLock, RunRecord, VersionRecord
from mlops_bot.flows.results.gate import GateResult, MetricRow
from mlops_bot.flows.results.promote import PromotionResult, RollbackResult, TrafficStep
from mlops_bot.flows.results.push import PushResult, RunOutcome, VersionOutcome
from mlops_bot.flows.results.retrain import RetrainPromotion, RetrainResult, ScheduledRun
from mlops_bot.flows.results.schedules_sync import Change, SyncResult
from mlops_bot.github.comment_commands import Reply
from mlops_bot.github.comment_grammar import parse_comment
from mlops_bot.github.outcome import Outcome, ReasonCode
from mlops_bot.github.outputs import write_outputs
from mlops_bot.github.run_checks import RunCheck, render_check
from mlops_bot.repo.layout import Component, Image, Pipeline, Problem
from mlops_bot.repo.plan import ImagePlan, PipelinePlan, Plan
from mlops_bot.report import comments
from mlops_bot.report.deploy_report import deploy_markdown, deploy_text
from mlops_bot.report.endpoints_report import endpoint_text, endpoints_table
from mlops_bot.report.init_report import init_text
from mlops_bot.report.markdown import plain
from mlops_bot.report.plan_report import render_pipelines, render_plan, render_plan_markdown
from mlops_bot.report.push_report import render_push_markdown, render_push_text
from mlops_bot.report.registry_report import version_text, versions_table
from mlops_bot.report.retrain_report import retrain_markdown, retrain_text, schedule_markdown
from mlops_bot.report.runs_report import run_text, runs_table
from mlops_bot.report.schedules_report import render_sync, schedules_table
from mlops_bot.report.serve_report import ready_text
from mlops_bot.serving.app import Endpoint, Routes, StateSource

__all__ = ["SCENARIOS"]

SHA, BASE, EARLIER = "3f2a" + "1" * 36, "9c0d" + "2" * 36, "5be7" + "3" * 36
VERSION, OLD_VERSION = "v-0123456789abcdef", "v-fedcba9876543210"
WHEN = "2026-11-30T08:15:00+00:00"
RUN_URL = "https://console.cloud.google.com/vertex-ai/pipelines/runs/churn-42?project=acme"
ENDPOINT = "projects/acme/locations/europe-west4/endpoints/1234567890"

# What an attacker can put where the bot shows it (a folder name, a branch, a logged metric).
INJECT = "x`y` <!-- @acme/admins | <img src=x onerror=alert(1)> [a](javascript:1) **b** #1"
MULTILINE = "first line\n## injected heading\n| a | b |\n@acme/ops"
FENCE = "Traceback:\n```\n</details> <!-- @acme/admins\n```\nValueError: `x` | y"
LONG = "long-" * 80
HOSTILE_PIPELINE = "churn`|<!--@acme"
HOSTILE_BRANCH = "feat/`x`<!--|@acme/admins"
HOSTILE_METRICS = {"acc|<!--": 0.9, "@acme/admins `x`": 1.0, "nan_metric": math.nan,
                   "inf_metric": math.inf, "neg_inf": -math.inf, "multi\nline": 0.5}

Scenario = Callable[[], str]


# -- results --------------------------------------------------------------------------------------
def _check(**changes: object) -> RunCheck:
    fields: dict[str, object] = dict(
        pipeline="churn", recorded_on=SHA, run_status="succeeded", backend="gcp",
        version=VERSION, run_id="churn-0123456789abcdef", run_url=RUN_URL, produced_by=EARLIER,
        parameters={"epochs": 3}, metrics={"accuracy": 0.9312, "rmse": 12.5})
    fields.update(changes)
    return RunCheck(**fields)  # type: ignore[arg-type]


def _plan(name: str = "churn", reason: str = "pipelines/churn/definition.py changed",
          broken: dict[str, list[Problem]] | None = None) -> Plan:
    image = Image(f"{name}-trainer", "component", f"pipelines/{name}/components/trainer",
                  f"pipelines/{name}/components/trainer/Dockerfile", "c0ffee" + "4" * 58)
    pipeline = Pipeline(name, f"pipelines/{name}",
                        (Component("trainer", f"pipelines/{name}/components/trainer", "python",
                                   image.name),), (image,))
    shared = Image("base", "shared", "images/base", "images/base/Dockerfile", "beef" + "5" * 60)
    return Plan(BASE, SHA, BASE, pipelines=[PipelinePlan(
        pipeline, "modified", [reason, "mlops.yaml pipelines section changed"],
        [ImagePlan(image, True, ["Dockerfile changed"])])],
        shared_images=[ImagePlan(shared, True, ["changed"])], deleted=["old-pipeline"],
        broken=broken or {}, config_changes=["environments"],
        notes=["base image python:3.11-slim is not pinned by digest"])


def _push(branch: str | None = "main", name: str = "churn", error: str | None = None,
          metrics: dict[str, float] | None = None, note: str = "tag main moved") -> PushResult:
    failed = error is not None
    return PushResult(
        _plan(name), branch,
        builds=[BuildResult(f"{name}-trainer", "c0ffee" + "4" * 58,
                            "failed" if failed else "built",
                            None if failed else "europe-docker.pkg.dev/acme/ml/trainer@sha256:"
                            + "6" * 64, error)],
        versions=[VersionOutcome(name, VERSION, "published", ["latest", "main"])],
        runs=[RunOutcome(name, VERSION, "churn-0123456789abcdef",
                         "failed" if failed else "succeeded",
                         metrics if metrics is not None else {"accuracy": 0.9312},
                         error, RUN_URL, {"epochs": 3}, SHA)],
        notes=[note])


def _gate(names: dict[str, float], passed: bool = True) -> GateResult:
    rows = [MetricRow(n, v, 0.9, ">= 0.8; at most 0.01 below the champion" if i == 0 else "",
                      passed or i != 0, ("artifact", "metrics", "evaluate") if i == 0 else
                      ("output", n, "evaluate")) for i, (n, v) in enumerate(names.items())]
    reasons = () if passed else (f"{rows[0].name} is below the champion",)
    return GateResult(passed, tuple(rows), reasons)


def _promotion(status: str = "promoted", pipeline: str = "churn",
               metrics: dict[str, float] | None = None, message: str | None = None,
               notes: tuple[str, ...] = ()) -> PromotionResult:
    return PromotionResult(
        "staging", pipeline, status,  # type: ignore[arg-type]
        message or f"{pipeline} run churn-0123456789abcdef serves staging at 100%",
        git_sha=SHA, run_id="churn-0123456789abcdef", registry_version=VERSION,
        image="europe-docker.pkg.dev/acme/ml/serve@sha256:" + "7" * 64, model_version="4",
        deployed_model_id="811", previous={"deployed_model_id": "810", "model_version": "3"},
        endpoint=ENDPOINT, url="https://europe-west4-aiplatform.googleapis.com/v1/" + ENDPOINT,
        traffic_before={"810": 100}, traffic_after={"811": 100},
        gate=_gate(metrics or {"accuracy": 0.9312, "rmse": 12.5}, status != "gate_failed"),
        smoke={"instances": 3, "predictions": 3, "source": "pipelines/churn/sample.json"},
        steps=[TrafficStep("deploy", {"810": 90, "811": 10}, "e1", "canary 10%"),
               TrafficStep("traffic", {"811": 100}, "e2"),
               TrafficStep("undeploy", {"811": 100}, "e3", "810 undeployed")],
        notes=list(notes))


def _rollback(status: str = "rolled_back") -> RollbackResult:
    return RollbackResult(
        "prod", "churn", status,  # type: ignore[arg-type]
        "prod serves churn model version 3 again" if status == "rolled_back"
        else "nothing served before the last promotion", from_version="4", to_version="3",
        to_lineage={"git_sha": EARLIER, "run_id": "churn-00000000000000aa",
                    "registry_version": OLD_VERSION}, endpoint=ENDPOINT,
        traffic_before={"811": 100}, traffic_after={"810": 100},
        steps=[TrafficStep("traffic", {"810": 100}, "e4", "")])


def _scheduled(schedule: str = "nightly", error: str | None = None,
               metrics: dict[str, float] | None = None, url: str | None = RUN_URL,
               pipeline: str = "churn") -> ScheduledRun:
    return ScheduledRun(schedule, pipeline, "main", WHEN, VERSION, "churn-nightly-20261130",
                        "failed" if error else "succeeded", True,
                        metrics if metrics is not None else {"accuracy": 0.9412},
                        {"epochs": 3}, SHA, url, error, "20261130T0815")


_DECIDED = {"offered": "better than the champion by 0.01: deployment 77 awaits the reviewers "
            "of staging", "not_better": "accuracy 0.8 is not above the champion's 0.9",
            "not_compared": "the run failed: nothing to compare"}


def _retrain_promotion(run: ScheduledRun, decision: str = "offered",
                       message: str | None = None) -> RetrainPromotion:
    message = message or _DECIDED[decision]
    return RetrainPromotion(run.schedule, run.pipeline, "staging", run.run_id, run.version,
                            decision, message, _gate(run.metrics or {"accuracy": 0.9},  # type: ignore[arg-type]
                                                     decision != "not_better"),
                            {"model": "churn", "version": "3", "run_id": "churn-old"},
                            77 if decision == "offered" else None, SHA)


def _retrain(*runs: ScheduledRun, decisions: tuple[str, ...] = (),
             notes: tuple[str, ...] = ()) -> RetrainResult:
    promotions = [_retrain_promotion(r, d) for r, d in zip(runs, decisions, strict=False)]
    return RetrainResult(WHEN, list(runs), promotions, {"mlops-bot retraining": 5}, list(notes))


# -- renderings -----------------------------------------------------------------------------------
def _check_run(record: RunCheck) -> str:
    """A check run as GitHub shows it: title, summary, then the text holding the record."""
    title, summary, text = render_check(record)
    return f"title: {title}\n\n--- summary ---\n{summary}\n--- text ---\n{text}\n"


def _outputs(outcome: Outcome) -> str:
    """The action's step outputs as written to $GITHUB_OUTPUT, the random delimiters named."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "output"
        write_outputs(path, outcome.outputs())
        written = path.read_text(encoding="utf-8")
    return re.sub(r"mlops_bot_[0-9a-f]{32}", "DELIMITER", written)


def _reply(body: str, environments: tuple[str, ...] = ("staging", "prod"),
           pipelines: tuple[str, ...] = ("churn", "fraud")) -> str:
    parsed = parse_comment(body, list(environments), list(pipelines))
    assert isinstance(parsed, Reply), f"{body!r} gets no reply but {parsed}"
    return parsed.text


def _lock(**changes: str) -> EnvironmentLock:
    fields = dict(environment="prod", owner="#12", actor="octocat",
                  reason="release freeze until Monday", created_at=WHEN)
    fields.update(changes)
    return EnvironmentLock(**fields)


def _run_record(**changes: object) -> RunRecord:
    fields: dict[str, object] = dict(
        run_id="churn-0123456789abcdef", pipeline="churn", version=VERSION, git_sha=SHA,
        status="succeeded", parameters={"epochs": 3}, started_at=WHEN,
        metrics={"accuracy": 0.9312, "rmse": 12.5}, url=RUN_URL)
    fields.update(changes)
    return RunRecord(**fields)  # type: ignore[arg-type]


def _text(value: str) -> str:
    """Terminal text as printed: one trailing newline, like say()."""
    return value if value.endswith("\n") else value + "\n"


def _endpoint(environment: str = "staging", deployed: int = 2,
              exists: bool = True, url: str | None = "http://127.0.0.1:8080") -> dict[str, Any]:
    """An endpoint as `endpoints show --json` prints it (the document endpoints_report reads)."""
    models = [{"deployed_model_id": f"81{i}", "model": "churn", "model_version": str(3 + i),
               "traffic": 90 if i == 0 else 10,
               "lineage": {"git_sha": SHA if i else EARLIER, "image": "serve@sha256:" + "7" * 12,
                           "registry_version": VERSION, "run_id": f"churn-run-{i}",
                           "model_version": str(3 + i)},
               "aliases": ["staging"] if i == 0 else [],
               "metrics": {"accuracy": 0.93 + i / 100, "nan_metric": math.nan},
               "artifact_uri": f"gs://acme-models/churn/{3 + i}"} for i in range(deployed)]
    return {"environment": environment, "endpoint": ENDPOINT if exists else "churn-staging",
            "exists": exists, "etag": "e7" if exists else None, "url": url if exists else None,
            "deployed": models if exists else []}


def _schedule_row(name: str = "nightly", paused: bool = False,
                  environment: str | None = "staging") -> dict[str, Any]:
    """A schedule as `schedules list --json` prints it."""
    return {"name": name, "pipeline": "churn", "tag": "main", "cron": "15 8 * * *",
            "timezone": "Europe/Amsterdam", "paused": paused, "environment": environment,
            "auto_promote": environment is not None, "margin": 0.01,
            "tracking_issue": "mlops-bot retraining", "last_due": WHEN,
            "next_due": None if paused else "2026-12-01T07:15:00+00:00"}


@dataclass
class _Source:
    """A serving state source that has read nothing yet (serve's first lines)."""

    environment: str = "staging"

    def poll(self) -> None:
        return None


def _serving(last_error: str | None = None) -> str:
    endpoint = Endpoint(cast(StateSource, _Source()))
    endpoint.last_error = last_error
    return ready_text(endpoint, "http://127.0.0.1:8080", Routes(),
                      Path("/srv/state/staging.json"), None)


def _version(pipeline: str = "churn", tags: tuple[str, ...] = ("latest", "main")) -> VersionRecord:
    return VersionRecord(pipeline, VERSION, {"git_sha": SHA, "compiled_at": WHEN,
                                             "parameters": {"epochs": 3}}, tags)


HOSTILE_NOTE = f"note {INJECT}"
SCENARIOS: dict[str, Scenario] = {
    # PR comments (mlops_bot.report.comments)
    "comment_deploy_requested.md": lambda: comments.deploy_requested(
        "staging", SHA, _check(), None, "octocat"),
    "comment_deploy_requested_same_commit.md": lambda: comments.deploy_requested(
        "prod", SHA, _check(produced_by=SHA, run_url=None, metrics={}), 25, "octocat"),
    "comment_deploy_requested_hostile.md": lambda: comments.deploy_requested(
        "staging", SHA, _check(pipeline=HOSTILE_PIPELINE, metrics=HOSTILE_METRICS,
                               run_id=INJECT, version=MULTILINE), 10, "evil[bot]"),
    "comment_rollback_requested.md": lambda: comments.rollback_requested(
        "prod", "churn", "octocat"),
    "comment_rollback_requested_every_pipeline.md": lambda: comments.rollback_requested(
        "prod", None, "octocat"),
    "comment_rollback_requested_hostile.md": lambda: comments.rollback_requested(
        "prod", HOSTILE_PIPELINE, "evil[bot]"),
    "comment_locked.md": lambda: comments.locked(_lock()),
    "comment_locked_no_reason.md": lambda: comments.locked(_lock(reason="", owner="deployment 9")),
    "comment_locked_expiring.md": lambda: comments.locked(_lock(
        reason="", expires_at="2026-11-30T08:25:00+00:00")),
    "comment_locked_hostile.md": lambda: comments.locked(_lock(reason=FENCE + " " + LONG)),
    # A lock reason quoting another comment's marker, a lock file's owner and login that are
    # not GitHub's: the marker is no longer one, nobody is mentioned, nothing links.
    "comment_locked_hostile_marker.md": lambda: comments.locked(_lock(
        reason="<!-- mlops-bot:staging --> ## Security review passed",
        owner="#12 <!-- x --> @acme/admins", actor="@acme/admins\n## injected heading")),
    "comment_unlocked_hostile_owner.md": lambda: comments.unlocked(
        "prod", _lock(owner="[#12](javascript:1) @acme/admins")),
    "comment_deploy_requested_hostile_link.md": lambda: comments.deploy_requested(
        "staging", SHA, _check(run_url="javascript:alert(1)//@acme/admins",
                               produced_by="x`y` <!-- @acme"), None, "not a login @acme/admins"),
    "comment_unlocked.md": lambda: comments.unlocked("prod", _lock()),
    "comment_unlocked_not_locked.md": lambda: comments.unlocked("prod", None),
    "comment_refused.md": lambda: comments.refused(
        "/deploy", ReasonCode.ENV_LOCKED, comments.locked(_lock())),
    # The deploy job's refusal of an error's text, as it passes it: plain text, escaped.
    "comment_refused_hostile_error.md": lambda: comments.refused(
        "/deploy staging", ReasonCode.FAILED, plain(FENCE)),
    "comment_run_started.md": lambda: comments.run_started(_run_record(), "succeeded"),
    "comment_run_started_hostile.md": lambda: comments.run_started(
        _run_record(pipeline=HOSTILE_PIPELINE, run_id=INJECT, metrics=HOSTILE_METRICS),
        "failed"),
    # PR-comment grammar replies (mlops_bot.github.comment_grammar)
    "reply_help.md": lambda: _reply("/help"),
    "reply_help_many_pipelines.md": lambda: _reply(
        "/help", pipelines=(*(f"p{i:02d}" for i in range(30)), HOSTILE_PIPELINE)),
    "reply_near_miss.md": lambda: _reply("/depoly staging"),
    "reply_unknown_environment.md": lambda: _reply("/deploy stagin churn"),
    "reply_unknown_pipeline.md": lambda: _reply("/deploy staging chrun"),
    "reply_name_the_pipeline.md": lambda: _reply("/deploy staging"),
    "reply_invalid_traffic.md": lambda: _reply("/deploy staging churn --traffic 150"),
    "reply_retired_run.md": lambda: _reply("/run churn"),
    "reply_hostile_environment.md": lambda: _reply("/deploy <!--@acme/admins` churn"),
    "reply_hostile_option.md": lambda: _reply("/deploy staging churn --`@acme|<!--` 1"),
    "reply_hostile_reason.md": lambda: _reply("/lock prod --reason \u202e @x" + "y" * 200),
    # check runs of the push job (mlops_bot.github.run_checks)
    "check_run_succeeded.md": lambda: _check_run(_check()),
    "check_run_carried.md": lambda: _check_run(_check(carried_from=EARLIER, metrics={})),
    "check_run_failed.md": lambda: _check_run(_check(
        run_status="failed", metrics={}, error="task trainer failed: exit code 1")),
    "check_run_not_published.md": lambda: _check_run(_check(
        run_status="not_published", version=None, run_id=None, run_url=None, produced_by=None,
        metrics={}, error="compile failed")),
    "check_run_hostile_error.md": lambda: _check_run(_check(
        run_status="failed", metrics={}, error=FENCE)),
    "check_run_hostile_pipeline.md": lambda: _check_run(_check(
        pipeline=HOSTILE_PIPELINE, carried_from=EARLIER, metrics=HOSTILE_METRICS)),
    # plans: PR comment and terminal (mlops_bot.report.plan_report)
    "plan.md": lambda: render_plan_markdown(_plan()),
    "plan.txt": lambda: _text(render_plan(_plan())),
    "plan_nothing.md": lambda: render_plan_markdown(Plan(BASE, SHA, None, "mlops.yaml changed")),
    "plan_nothing.txt": lambda: _text(render_plan(Plan(BASE, SHA, None, "mlops.yaml changed"))),
    "plan_hostile.md": lambda: render_plan_markdown(_plan(
        HOSTILE_PIPELINE, f"pipelines/{HOSTILE_PIPELINE}/{INJECT} changed",
        {INJECT: [Problem(f"pipelines/{INJECT}/definition.py", FENCE, 3)]})),
    "plan_hostile.txt": lambda: _text(render_plan(_plan(
        HOSTILE_PIPELINE, f"{INJECT} changed",
        {INJECT: [Problem(f"pipelines/{INJECT}", MULTILINE)]}))),
    "pipelines.txt": lambda: _text(render_pipelines(
        [_plan().pipelines[0].pipeline], {"broken": [Problem("pipelines/broken", "no def")]})),
    "pipelines_none.txt": lambda: _text(render_pipelines([], {})),
    # push: job summary and terminal (mlops_bot.report.push_report)
    "push.md": lambda: render_push_markdown(_push()),
    "push.txt": lambda: _text(render_push_text(_push())),
    "push_failed.md": lambda: render_push_markdown(_push(error="task trainer failed: OOM")),
    "push_failed.txt": lambda: _text(render_push_text(_push(error="task trainer failed: OOM"))),
    "push_hostile.md": lambda: render_push_markdown(_push(
        HOSTILE_BRANCH, HOSTILE_PIPELINE, FENCE, HOSTILE_METRICS, HOSTILE_NOTE)),
    "push_hostile.txt": lambda: _text(render_push_text(_push(
        HOSTILE_BRANCH, HOSTILE_PIPELINE, FENCE, HOSTILE_METRICS, HOSTILE_NOTE))),
    # deploy and rollback: sticky comment, job summary, terminal (report.deploy_report)
    "deploy_promoted.md": lambda: deploy_markdown(_promotion().to_dict()),
    "deploy_promoted.txt": lambda: _text(deploy_text(_promotion().to_dict())),
    "deploy_gate_failed.md": lambda: deploy_markdown(_promotion(
        "gate_failed", message="accuracy 0.85 is below the champion's 0.9").to_dict()),
    "deploy_no_run.md": lambda: deploy_markdown(PromotionResult(
        "staging", "churn", "no_run", "no successful run of churn@" + VERSION).to_dict()),
    "deploy_hostile.md": lambda: deploy_markdown(_promotion(
        "smoke_failed", HOSTILE_PIPELINE, HOSTILE_METRICS, FENCE, (HOSTILE_NOTE,)).to_dict()),
    "deploy_hostile.txt": lambda: _text(deploy_text(_promotion(
        "smoke_failed", HOSTILE_PIPELINE, HOSTILE_METRICS, FENCE, (HOSTILE_NOTE,)).to_dict())),
    "rollback.md": lambda: deploy_markdown(_rollback().to_dict()),
    "rollback.txt": lambda: _text(deploy_text(_rollback().to_dict())),
    "rollback_no_previous.md": lambda: deploy_markdown(_rollback("no_previous").to_dict()),
    # scheduled retraining: tracking-issue comment, job summary, terminal (retrain_report)
    "retrain.md": lambda: retrain_markdown(_retrain(
        _scheduled(), _scheduled("weekly", metrics={"accuracy": 0.8}),
        decisions=("offered", "not_better"), notes=("schedule monthly is paused",))),
    "retrain.txt": lambda: _text(retrain_text(_retrain(
        _scheduled(), _scheduled("weekly", metrics={"accuracy": 0.8}),
        decisions=("offered", "not_better"), notes=("schedule monthly is paused",)))),
    "retrain_nothing_due.md": lambda: retrain_markdown(_retrain()),
    "retrain_nothing_due.txt": lambda: _text(retrain_text(_retrain())),
    "retrain_schedule_failed.md": lambda: schedule_markdown(
        _scheduled(error="task trainer failed", metrics={}, url="/tmp/runs/x"), None),
    "retrain_schedule_hostile.md": lambda: schedule_markdown(
        _scheduled(INJECT, FENCE, HOSTILE_METRICS, RUN_URL + ") [x](javascript:1",
                   HOSTILE_PIPELINE), _retrain_promotion(
            _scheduled(metrics=HOSTILE_METRICS), "not_better", FENCE)),
    "retrain_hostile.txt": lambda: _text(retrain_text(_retrain(
        _scheduled(INJECT, FENCE, HOSTILE_METRICS, pipeline=HOSTILE_PIPELINE),
        decisions=("not_compared",), notes=(HOSTILE_NOTE,)))),
    # the action's step outputs (mlops_bot.github.outcome)
    "outputs_deploy.txt": lambda: _outputs(Outcome(
        "proceed", ReasonCode.OK, "deploy of churn@v-0123456789abcdef to staging awaits "
        "approval", sha=SHA, environment="staging", deployment_id=77, comment_id=5,
        pipelines=["churn"], versions=[{"pipeline": "churn", "version": VERSION}])),
    "outputs_hostile.txt": lambda: _outputs(Outcome(
        "stop", ReasonCode.FAILED, MULTILINE + "\nreason_code=ok", pipelines=[HOSTILE_PIPELINE],
        details={"error": FENCE})),
    # terminal reports of the CLI (mlops_bot.report.*_report)
    "endpoints.txt": lambda: _text(endpoints_table([
        _endpoint(), _endpoint("prod", 0), _endpoint("dev", exists=False)])),
    "endpoint_show.txt": lambda: _text(endpoint_text(_endpoint())),
    "endpoint_show_not_served.txt": lambda: _text(endpoint_text(_endpoint("prod", 0, url=None))),
    "endpoint_show_not_created.txt": lambda: _text(endpoint_text(_endpoint(exists=False))),
    "registry.txt": lambda: _text(versions_table([_version(), _version("fraud", ())])),
    "registry_empty.txt": lambda: _text(versions_table([])),
    "registry_show.txt": lambda: _text(version_text(_version())),
    "run.txt": lambda: _text(run_text(_run_record(), "churn", "succeeded")),
    "run_failed.txt": lambda: _text(run_text(
        _run_record(status="failed", metrics={}, error="task trainer failed: exit code 1"),
        "churn", "failed")),
    "runs.txt": lambda: _text(runs_table([
        _run_record(), _run_record(run_id="churn-2", metrics={"nan": math.nan, "inf": math.inf},
                                   status="failed")])),
    "runs_none.txt": lambda: _text(runs_table([])),
    "schedules.txt": lambda: _text(schedules_table([
        _schedule_row(), _schedule_row("weekly", paused=True, environment=None)])),
    "schedules_none.txt": lambda: _text(schedules_table([])),
    "schedules_sync_dry_run.txt": lambda: _text(render_sync(SyncResult(
        [Change("create", "nightly", ("cron 15 8 * * * Europe/Amsterdam",)),
         Change("update", "weekly", ("cron: 0 3 * * 1 -> 0 4 * * 1",)),
         Change("delete", "old"), Change("unchanged", "monthly")], ("someone-elses",), True))),
    "schedules_sync_applied.txt": lambda: _text(render_sync(SyncResult(
        [Change("pause", "nightly")], (), False, ["nightly"]))),
    "schedules_sync_in_sync.txt": lambda: _text(render_sync(SyncResult(
        [Change("unchanged", "nightly")], (), False))),
    "init.txt": lambda: _text(init_text([".github/workflows/mlops-push.yml", "mlops.yaml"],
                                        "acme/mlops-bot@" + "8" * 40, "OWNER/REPO@SHA")),
    "init_unpinned.txt": lambda: _text(init_text(["mlops.yaml"], None, "OWNER/REPO@SHA")),
    "serve.txt": lambda: _text(_serving()),
    "serve_error.txt": lambda: _text(_serving("staging.json is not valid JSON")),
}
