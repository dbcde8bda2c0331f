"""The bot's PR comments, as Markdown. Decisions are made in the flows; this only words them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mlops_bot.backends.types import EnvironmentLock, RunRecord
from mlops_bot.report.markdown import link, mention, plain
from mlops_bot.report.tables import code, markdown_table

if TYPE_CHECKING:
    from mlops_bot.github.run_checks import RunCheck

__all__ = ["code", "deploy_requested", "locked", "refused", "rollback_requested",
           "run_started", "unlocked"]

_PULL = re.compile(r"#[1-9][0-9]{0,9}")


def refused(command: str, reason_code: str, message: str) -> str:
    """A refusal; `message` is Markdown written by the bot, its values already code or text."""
    return (f"### :no_entry: {code(command)} refused\n\n{message}\n\n"
            f"<sub>reason: {code(reason_code)}</sub>")


def deploy_requested(environment: str, sha: str, check: RunCheck, traffic: int | None,
                     actor: str) -> str:
    """The approval comment: what the PR head deploys, from the push job's check run."""
    metrics = markdown_table(["Metric", "Value"], [
        [code(name), f"{value:.4g}"] for name, value in sorted(check.metrics.items())]) \
        if check.metrics else "No metrics were recorded."
    canary = f"{traffic}% of traffic first" if traffic else "the environment's canary first"
    produced = code(check.produced_by or "-")
    if check.produced_by and check.produced_by != sha:
        produced += " (an earlier commit: the PR head compiles to the same registry version)"
    run = code(check.run_id or "-")
    details = link("details", check.run_url)
    if details:
        run += f" ({details})"
    return "\n".join([
        f"### :rocket: Deploy {code(check.pipeline)} to {code(environment)}: waiting for approval",
        "",
        f"Requested by {mention(actor)}. This deploys exactly commit {code(sha[:12])} (the PR "
        "head now); if "
        "the PR head moves before the deploy starts, the deploy stops.",
        "",
        markdown_table(["", ""], [
            ["Commit", code(sha)], ["Pipeline", code(check.pipeline)],
            ["Registry version", code(check.version or "-")], ["Run", run],
            ["Run produced by", produced], ["Rollout", canary]]),
        "",
        metrics,
        "",
        f"The {code(environment)} environment's required reviewers approve the deployment in the "
        "workflow run; the deploy job checks the run against the cloud first, and this comment "
        "is updated with the result.",
    ])


def rollback_requested(environment: str, pipeline: str | None, actor: str) -> str:
    what = code(pipeline) if pipeline else "every pipeline"
    return "\n".join([
        f"### :rewind: Roll back {what} in {code(environment)}: waiting for approval", "",
        f"Requested by {mention(actor)}. Traffic goes back to the model version that served "
        "before the last promotion, without a rebuild. The environment's required reviewers "
        "approve it in the workflow run; this comment is updated with the result."])


def locked(lock: EnvironmentLock) -> str:
    reason = f" Reason: {code(lock.reason)}." if lock.reason else ""
    env = code(lock.environment)
    # A deploy job's lock lapses unless renewed: say when, and how to free it at once.
    lapses = (f" It lapses at {plain(lock.expires_at)} unless the job holding it renews it; "
              f"someone allowed to deploy to {env} can release it now with "
              f"{code('/unlock ' + lock.environment + ' --force')}.") if lock.expires_at else ""
    return (f"### :lock: {env} is locked by {_owner(lock.owner)}\n\n"
            f"Locked by {mention(lock.actor)} at {plain(lock.created_at)}.{reason} Other pull "
            f"requests cannot deploy to {env} until {code('/unlock ' + lock.environment)} "
            f"here.{lapses}")


def unlocked(environment: str, lock: EnvironmentLock | None) -> str:
    if lock is None:
        return f"### :unlock: {code(environment)} was not locked"
    return (f"### :unlock: {code(environment)} is unlocked\n\n"
            f"It was locked by {_owner(lock.owner)}.")


def _owner(owner: str) -> str:
    """A lock's owner: its pull request (`#12`, which GitHub links), else the text as code."""
    return owner if _PULL.fullmatch(owner) else code(owner)


def run_started(run: RunRecord, status: str) -> str:
    metrics = ", ".join(plain(f"{k}={v:.4g}") for k, v in sorted(run.metrics.items())) or "none"
    return (f"### :arrow_forward: Run of {code(f'{run.pipeline}@{run.version}')}: "
            f"{plain(status)}\n\nCommit {code(run.git_sha[:12])}, run {code(run.run_id)}, "
            f"metrics: {metrics}.")

