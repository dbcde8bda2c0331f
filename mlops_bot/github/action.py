"""The GitHub Action: read the event and inputs, run one handler, write outputs and summary.

One handler per command, found through `HANDLERS`; the event decides the command unless the
`command` input names one. Every handler returns an `Outcome`, whatever happens, so the outputs
are always written and a workflow can branch on `decision` and `reason_code`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.console import progress
from mlops_bot.errors import ConfigError, UserError
from mlops_bot.github.context import ActionContext
from mlops_bot.github.forge_failure import RERUN, failed_on_github
from mlops_bot.github.outcome import Decision, Outcome, ReasonCode
from mlops_bot.github.outputs import write_outputs
from mlops_bot.github.pygithub_client import ForgeError
from mlops_bot.github.run_checks import workflow_run_url
from mlops_bot.interrupts import exit_code, stoppable, stopped_by

if TYPE_CHECKING:
    from mlops_bot.flows.results.push import PushResult

__all__ = ["EVENT_COMMANDS", "HANDLERS", "run_action", "trust_workspace"]

# The command each event implies when the `command` input is empty.
EVENT_COMMANDS = {
    "push": "push",
    "pull_request": "plan",
    "issue_comment": "comment",
    "schedule": "retrain",
    "workflow_dispatch": "retrain",
}


def handle_push(ctx: ActionContext) -> Outcome:
    from mlops_bot.flows.push import push

    result = push(ctx.workspace, None, None, {}, ctx.environ, plan_only=ctx.dry_run,
                  wait=_wait_input(ctx))
    checks_problem = "" if ctx.dry_run else _publish_run_checks(ctx, result)
    names = [p.name for p in result.plan.pipelines]
    versions = [{"pipeline": v.pipeline, "version": v.version, "status": v.status}
                for v in result.versions]
    decision: Decision
    if not result.ok or checks_problem:
        code, decision = ReasonCode.FAILED, "stop"
    elif not names:
        code, decision = ReasonCode.NOTHING_CHANGED, "stop"
    else:
        code, decision = ReasonCode.OK, "proceed"
    message = (f"{len(names)} pipeline(s) affected; {len(versions)} version(s); "
               f"{sum(r.status == 'failed' for r in result.runs)} failed run(s)"
               + (f"; {checks_problem}" if checks_problem else ""))
    return Outcome(decision, code, message, sha=result.plan.head, pipelines=names,
                   versions=versions, details=result.to_dict())


def _wait_input(ctx: ActionContext) -> bool:
    value = ctx.input("wait").lower() or "true"
    if value not in ("true", "false"):
        raise UserError(f"action input wait is {value!r}: use true (wait for the runs) or false "
                        "(start them and exit; `mlops-bot status` records how they end)")
    return value == "true"


def _publish_run_checks(ctx: ActionContext, result: PushResult) -> str:
    """The check runs `/deploy` reads (mlops_bot.flows.push_checks); "" or why they failed."""
    from mlops_bot.flows.push_checks import publish_run_checks
    from mlops_bot.repo.git import GitRepo

    return publish_run_checks(ctx.forge(), result, GitRepo(ctx.workspace), ctx.environ)


def handle_plan(ctx: ActionContext) -> Outcome:
    """pull_request: plan the PR's range and show it in one sticky comment."""
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.repo.planner import ChangePlanner
    from mlops_bot.report.plan_report import render_plan_markdown

    pull = ctx.event.get("pull_request") or {}
    base, head = pull.get("base", {}).get("sha"), pull.get("head", {}).get("sha")
    if not (base and head and pull.get("number")):
        return Outcome("stop", ReasonCode.NO_TRIGGER, "the event has no pull request")
    plan = ChangePlanner(GitRepo(ctx.workspace)).plan(base, head)
    comment_id = ctx.forge().upsert_comment(int(pull["number"]), "plan",
                                            render_plan_markdown(plan))
    names = [p.name for p in plan.pipelines]
    code = ReasonCode.OK if plan.ok else ReasonCode.FAILED
    return Outcome("proceed" if names and plan.ok else "stop",
                   code if names or not plan.ok else ReasonCode.NOTHING_CHANGED,
                   f"{len(names)} pipeline(s) affected", sha=plan.head, pipelines=names,
                   comment_id=comment_id, details=plan.to_dict())


def handle_comment(ctx: ActionContext) -> Outcome:
    from mlops_bot.flows.comment import handle_comment as comment_flow

    return comment_flow(ctx)


def handle_promote(ctx: ActionContext) -> Outcome:
    from mlops_bot.flows.deploy_job import handle_promote as promote_job

    return promote_job(ctx)


def handle_status(ctx: ActionContext) -> Outcome:
    """Complete the check runs of runs a push with wait: false started (mlops_bot.flows.status)."""
    from mlops_bot.flows.status import status

    result = status(ctx.workspace, [], 3.0, ctx.forge())
    done = [c for c in result.checks if c.status != "running"]
    message = (f"{len(result.commits)} commit(s) looked at; {len(done)} check run(s) completed; "
               f"{len(result.checks) - len(done)} run(s) still running")
    if not result.ok:  # GitHub refused or failed: said in the job summary too
        return failed_on_github(ctx.environ, f"{message}; {'; '.join(result.notes)}",
                                details=result.to_dict())
    return Outcome("proceed" if done else "stop", ReasonCode.OK if done else
                   ReasonCode.NOTHING_CHANGED, message, details=result.to_dict())


def handle_monitor(ctx: ActionContext) -> Outcome:
    from mlops_bot.flows.monitor import handle_monitor as monitor_flow

    return monitor_flow(ctx)


def handle_retrain(ctx: ActionContext) -> Outcome:
    from mlops_bot.flows.retrain import handle_retrain as retrain_flow

    return retrain_flow(ctx)


HANDLERS: dict[str, Callable[[ActionContext], Outcome]] = {
    "push": handle_push,
    "plan": handle_plan,
    "comment": handle_comment,
    "promote": handle_promote,
    "retrain": handle_retrain,
    "status": handle_status,
    "monitor": handle_monitor,
}


def run_action(environ: Mapping[str, str]) -> int:
    """Run the command; whatever happens (a bug, Ctrl-C, SIGTERM from a cancel or `docker
    stop`), the outputs are written and the deploy job's deployment is not left in progress."""
    with stoppable():  # also while the outputs are written: a second signal waits for them
        return _run_to_the_end(environ)


def _run_to_the_end(environ: Mapping[str, str]) -> int:
    outcome = Outcome("stop", ReasonCode.FAILED, "the action stopped before it decided anything")
    ctx: ActionContext | None = None
    abnormal = True  # until a handler returned an outcome
    try:
        ctx = ActionContext.from_env(environ)
        outcome = _dispatch(ctx, environ)
        abnormal = False
    except KeyboardInterrupt as stop:
        done = "".join(f"; {note.removeprefix('mlops-bot: ')}"
                       for note in getattr(stop, "__notes__", []))
        outcome = Outcome("stop", ReasonCode.FAILED, f"stopped by {stopped_by(stop)}{done}")
        return exit_code(stop)
    except Exception as error:  # re-raised: the entry point prints the traceback, exits 3
        outcome = Outcome("stop", ReasonCode.FAILED, f"unexpected failure ({type(error).__name__}"
                          f": {error}): the job log has the traceback")
        raise
    finally:
        if ctx is not None and abnormal:
            outcome.environment = outcome.environment or ctx.input("environment")
            _close_deployment(ctx, outcome)
        output_file = environ.get("GITHUB_OUTPUT")
        if output_file:
            write_outputs(Path(output_file), outcome.outputs())
        progress(f"mlops-bot: {outcome.decision} ({outcome.reason_code}): {outcome.message}")
    return 1 if outcome.reason_code in (ReasonCode.FAILED, ReasonCode.CONFIG_INVALID) else 0


def _dispatch(ctx: ActionContext, environ: Mapping[str, str]) -> Outcome:
    if environ.get("GITHUB_WORKSPACE"):
        trust_workspace(ctx.workspace)
    if ctx.input("config"):
        # Read by mlops_bot.config_location wherever the configuration is looked for.
        os.environ["MLOPS_BOT_CONFIG"] = ctx.input("config")
    command = ctx.input("command") or EVENT_COMMANDS.get(ctx.event_name, "")
    handler = HANDLERS.get(command)
    if handler is None:
        return Outcome("stop", ReasonCode.NO_TRIGGER,
                       f"nothing to do for event {ctx.event_name!r} (command {command!r})")
    return _guarded(handler, ctx)


def _close_deployment(ctx: ActionContext, outcome: Outcome) -> None:
    """The deploy job's deployment ends `error` with why, if the job stopped without ending it
    (interrupted, a bug); one it ended already only gets the same word again."""
    deployment = ctx.input("deployment-id")
    if ctx.input("command") != "promote" or not deployment.isdigit():
        return
    outcome.deployment_id = int(deployment)
    try:
        ctx.forge().set_deployment_status(int(deployment), "error", outcome.message[:140],
                                          log_url=workflow_run_url(ctx.environ))
    except Exception as error:  # the outputs still get written; the log says why not
        progress(f"mlops-bot: could not set deployment {deployment} to error: {error}")


def trust_workspace(workspace: Path) -> None:
    """Let git read `workspace` whoever owns it, for this process and the git it starts.

    The runner mounts a checkout the container's user may not own (root on self-hosted runners
    and under act), and git refuses such a repository ("dubious ownership"). Only the workspace
    the runner gave is trusted, through git's environment (command-line scope, which git honours
    for safe.directory) rather than a config file, so no writable HOME is needed.
    """
    count = os.environ.get("GIT_CONFIG_COUNT", "")
    index = int(count) if count.isdigit() else 0
    for path in dict.fromkeys([str(workspace), os.path.realpath(workspace)]):
        os.environ[f"GIT_CONFIG_KEY_{index}"] = "safe.directory"
        os.environ[f"GIT_CONFIG_VALUE_{index}"] = path
        index += 1
    os.environ["GIT_CONFIG_COUNT"] = str(index)


def _guarded(handler: Callable[[ActionContext], Outcome], ctx: ActionContext) -> Outcome:
    try:
        return handler(ctx)
    except ConfigError as error:
        return Outcome("stop", ReasonCode.CONFIG_INVALID, str(error))
    except UserError as error:
        return Outcome("stop", ReasonCode.FAILED, str(error))
    except ForgeError as error:  # GitHub failed, not mlops-bot: a sentence, exit 1
        return failed_on_github(ctx.environ, f"{error}; {RERUN}")
