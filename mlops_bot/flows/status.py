"""`mlops-bot status`: complete the check runs a push left in_progress (`wait: false`).

A push that does not wait starts its runs, writes each pipeline's check run `in_progress` with
the run it started, and exits. This flow, run later (a scheduled or dispatched job, or by hand),
reads those check runs on the commits of the recent runs and the branch tips (or the commits it
is given), asks the runner how each run is, and completes the check run of each run that ended,
with its status, metrics and error, as the push would have written it had it waited. Runs still
going are left as they are, for the next call. Idempotent: completed check runs are never
touched again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.github.run_checks import (
    CHECK_PREFIX,
    InvalidRecord,
    RunCheck,
    conclusion_of,
    parse_record,
    render_check,
    sanitized_metrics,
    short_error,
    web_url,
)

if TYPE_CHECKING:
    from mlops_bot.backends.types import PipelineRunner, RunRecord
    from mlops_bot.github.forge import Forge

__all__ = ["CheckUpdate", "StatusResult", "recent_commits", "status", "update_run_checks"]

MAX_COMMITS = 100  # commits looked at in one call (the newest runs' first)
MAX_TIPS = 30  # branch tips among them, the most recently committed


@dataclass(frozen=True)
class CheckUpdate:
    pipeline: str
    sha: str
    run_id: str
    status: str  # succeeded, failed (completed now) or running (left in_progress)
    url: str | None = None
    error: str | None = None


@dataclass
class StatusResult:
    commits: list[str] = field(default_factory=list)
    checks: list[CheckUpdate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(n.startswith("could not") for n in self.notes)

    def to_dict(self) -> dict[str, object]:
        return {"schema_version": 1, "ok": self.ok, "commits": self.commits,
                "checks": [vars(c) for c in self.checks], "notes": self.notes}


def recent_commits(runner: PipelineRunner, days: float, now: datetime | None = None) -> list[str]:
    """The commits of the runs started in the last `days`, newest first."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    commits: list[str] = []
    for run in runner.runs():
        if _started(run) >= since and len(run.git_sha) == 40 and run.git_sha not in commits:
            commits.append(run.git_sha)
    return commits[:MAX_COMMITS]


def update_run_checks(forge: Forge, runner: PipelineRunner, commits: list[str],
                      backend: str) -> StatusResult:
    """Complete the in_progress mlops-bot check runs of `commits` whose runs ended. GitHub
    failing (ForgeError: down, rate-limited) ends the look: the next commits would only wait
    out the same retries; what was completed stays completed for the re-run."""
    from mlops_bot.github.pygithub_client import ForgeError

    result = StatusResult(commits=list(commits))
    for done, sha in enumerate(commits):
        try:
            _update_commit(forge, runner, sha, backend, result)
        except ForgeError as error:
            result.notes.append(f"could not update the check runs of {sha[:12]}: {error}; "
                                f"{len(commits) - done - 1} commit(s) after it were not looked "
                                "at: run the status job again once GitHub answers")
            break
    return result


def _update_commit(forge: Forge, runner: PipelineRunner, sha: str, backend: str,
                   result: StatusResult) -> None:
    try:
        checks = forge.check_runs(sha)
    except UserError as error:
        result.notes.append(f"could not read the check runs of {sha[:12]}: {error}")
        return
    for check in checks:
        if check.status == "completed" or not check.name.startswith(CHECK_PREFIX):
            continue
        pipeline = check.name[len(CHECK_PREFIX):]
        try:
            record = parse_record(check, pipeline, sha)
        except InvalidRecord as error:
            result.notes.append(f"{sha[:12]} {pipeline}: not updated, its record is not "
                                f"trusted ({error})")
            continue
        if record.run_status != "running" or record.run_id is None:
            continue
        if record.backend != backend:
            result.notes.append(f"{sha[:12]} {pipeline}: not updated, recorded on backend "
                                f"{record.backend}, mlops.yaml says {backend}")
            continue
        try:
            result.checks.append(_update(forge, runner, check.id, record))
        except UserError as error:
            result.notes.append(f"could not update {sha[:12]} {pipeline}: {error}")


def _update(forge: Forge, runner: PipelineRunner, check_id: int,
            record: RunCheck) -> CheckUpdate:
    assert record.run_id is not None
    run = runner.get(record.run_id)
    if run is not None and run.status == "running":
        progress(f"  {record.pipeline}: run {record.run_id} still running")
        return CheckUpdate(record.pipeline, record.recorded_on, record.run_id, "running",
                           record.run_url)
    ended = _ended(record, run)
    title, summary, text = render_check(ended)
    conclusion = conclusion_of(ended)
    assert conclusion is not None
    forge.complete_check_run(check_id, conclusion, title, summary, text)
    progress(f"  {record.pipeline}: run {record.run_id} {ended.run_status}; check run on "
             f"{record.recorded_on[:12]} completed")
    return CheckUpdate(record.pipeline, record.recorded_on, record.run_id, ended.run_status,
                       ended.run_url, ended.error)


def _ended(record: RunCheck, run: RunRecord | None) -> RunCheck:
    """The record as a waiting push would have written it."""
    if run is None:
        return replace(record, run_status="failed", error=short_error(
            f"run {record.run_id} is not known to the runner (deleted, or another project?)"))
    succeeded = run.status == "succeeded"
    return replace(record, run_status="succeeded" if succeeded else "failed",
                   run_url=web_url(run.url) or record.run_url,
                   produced_by=record.produced_by or run.git_sha or None,
                   metrics=sanitized_metrics(run.metrics),
                   error=None if succeeded else short_error(run.error or "the run failed"))


def _started(run: RunRecord) -> datetime:
    try:
        moment = datetime.fromisoformat(run.started_at.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status(repo: Path, commits: list[str], days: float, forge: Forge) -> StatusResult:
    """The status flow for the repository at `repo`: `commits` (full or short SHAs), else those
    of the runs started in the last `days`."""
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config
    from mlops_bot.repo.git import GitRepo

    config = load_config(repo)
    runner = backends_for(config, repo).runner
    git = GitRepo(repo)
    shas = []
    for commit in commits:
        sha = git.resolve(commit)
        if sha is None:
            raise UserError(f"--sha {commit} is not a commit in {git.root}: fetch it first")
        shas.append(sha)
    if not shas:
        # A commit that changed no pipeline carries the records of the one before over, a
        # running one too: the branch tips (pull request heads, which /deploy reads) are looked
        # at besides the commits of the runs.
        shas = list(dict.fromkeys([*recent_commits(runner, days),
                                   *git.branch_tips(MAX_TIPS)]))[:MAX_COMMITS]
    result = update_run_checks(forge, runner, shas, config.backend)
    if not result.checks:
        result.notes.append(f"no check run in progress on the {len(shas)} commit(s) looked at "
                            f"(of the runs of the last {days:g} day(s) and the branch tips): "
                            "nothing to update")
    return result

