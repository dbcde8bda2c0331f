"""A job GitHub failed: one sentence on stderr and in the job summary, and exit 1, not a bug.

A `ForgeError` is GitHub failing (a 5xx after the client's retries, an unreachable API, a rate
limit, a request it refused with 422), which the user fixes by running the job again, not a bug
to report with a traceback. Its sentence, made where the library was called
(mlops_bot.github.pygithub_client), names what was asked and GitHub's answer, never the token.
A flow that changed something before GitHub failed says what it left (flows/comment.py,
flows/deploy_job.py); any other reaches the action's catch (mlops_bot.github.action) as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_bot.github.context import step_summary_path
from mlops_bot.github.outcome import Outcome, ReasonCode
from mlops_bot.report.markdown import plain

__all__ = ["RERUN", "failed_on_github", "summarize"]

RERUN = "re-run this job once GitHub answers again"


def failed_on_github(environ: Mapping[str, str], message: str, **fields: Any) -> Outcome:
    """The outcome of a job GitHub failed (`message`: what happened and what to do), also
    written to the job summary, where a failed job is looked at first."""
    summarize(environ, message)
    return Outcome("stop", ReasonCode.FAILED, message, **fields)


def summarize(environ: Mapping[str, str], message: str) -> None:
    summary = step_summary_path(environ)
    if summary is not None:
        with summary.open("a", encoding="utf-8") as stream:
            stream.write(f":x: {plain(message, 2000)}\n")
