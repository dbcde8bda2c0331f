"""What `/deploy` deploys for a pull request head, from the push job's check runs alone.

The comment job holds no cloud credentials and runs no pull request code, so it neither asks
the cloud for runs nor compiles the head: the push job recorded, on the head commit, the
registry version each pipeline compiles to and the successful run of that version (whichever
commit of the PR or its base produced it). When there is no such record, the reply says exactly
what to do. The record is untrusted (mlops_bot.github.run_checks); the deploy job re-verifies it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_bot.github.run_checks import (
    InvalidRecord,
    RunCheck,
    check_name,
    parse_record,
    web_url,
)
from mlops_bot.report.comments import code

if TYPE_CHECKING:
    from mlops_bot.github.forge import CheckRun, Forge

__all__ = ["NoRun", "head_record"]


class NoRun(Exception):
    """No deployable run for the head; the message says what to do about it."""


def head_record(forge: Forge, sha: str, pipeline: str, backend: str,
                version: str | None = None) -> RunCheck:
    """The head's record of `pipeline` with a successful run, else `NoRun` saying why."""
    short = code(sha[:12])
    name = check_name(pipeline)
    check = next((c for c in forge.check_runs(sha) if c.name == name), None)
    if check is None:
        raise NoRun(
            f"There is no check run {code(name)} on commit {short} (the PR head), so no run is "
            f"known for it. If the mlops push workflow is still running for {short}, wait for it "
            "to finish and comment again; otherwise push to the PR branch, and check that the "
            "default branch has `.github/workflows/mlops-push.yml` (written by `mlops-bot init`, "
            "with `checks: write`).")
    try:
        record = parse_record(check, pipeline, sha)
    except InvalidRecord as error:
        raise NoRun(f"The check run {code(name)} on {short} holds no valid record "
                    f"({code(str(error))}), so it is not trusted: push to the PR branch to have "
                    "the mlops push workflow record the commit again.") from None
    _check_usable(record, check, short, backend)
    if version is not None and record.version != version:
        raise NoRun(f"The PR head {short} compiles {code(pipeline)} to "
                    f"{code(str(record.version))}, not {code(version)}: `/deploy` deploys what the "
                    "PR head contains; drop `--version`, or push the change that compiles to it.")
    return record


def _check_usable(record: RunCheck, check: CheckRun, short: str, backend: str) -> None:
    pipeline, at = record.pipeline, code(f"{record.pipeline}@{record.version}")
    link = web_url(check.details_url)
    where = f" ({link})" if link else ""
    error = f": {code(record.error)}" if record.error else ""
    if record.backend != backend:
        raise NoRun(f"The record of {code(pipeline)} on {short} was made on backend "
                    f"{code(record.backend)}, but mlops.yaml of the default branch says "
                    f"{code(backend)}: "
                    "push to the PR branch again once both say the same.")
    if record.run_status == "not_published":
        raise NoRun(f"The push workflow's run for {short} failed to publish "
                    f"{code(pipeline)}{where}{error}. Fix it and push to the PR branch.")
    if record.run_status == "failed":
        raise NoRun(f"The push workflow's run for {short} failed{where}: run "
                    f"{code(str(record.run_id))} of {at} did not succeed{error}. Fix the pipeline "
                    "and push to the PR branch.")
    if record.run_status == "not_run":
        raise NoRun(f"{at} was published for {short} but not run (`run_branches` or "
                    f"{code(f'pipelines.{pipeline}.run')} in mlops.yaml): let the PR branch run it "
                    "and push again.")
    if record.run_status == "running":
        raise NoRun(f"Run `{record.run_id}` of {at} for {short} was started by a push that did "
                    f"not wait for it{where}, and has not been recorded as ended yet: wait for "
                    "the next `mlops-bot status` job (or run the mlops status workflow) and "
                    "comment again.")
    if record.run_status != "succeeded":
        raise NoRun(f"No run of {code(pipeline)} is recorded for {short}{error}.")
