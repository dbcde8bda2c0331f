"""One line per run as it ends, for the job summary while a push or `mlops-bot status` goes on
(the full report follows at the end)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_bot.report.markdown import link, plain
from mlops_bot.report.tables import code

if TYPE_CHECKING:
    from mlops_bot.flows.results.push import RunOutcome

__all__ = ["RUNS_HEADING", "render_run_line"]

RUNS_HEADING = "### mlops-bot: runs, as each ended"


def render_run_line(run: RunOutcome) -> str:
    """A Markdown list item: pipeline and run as code, the status, the run's link, the first
    line of its error as plain text (none of them is the bot's)."""
    run_id = code(run.run_id) if run.run_id else "-"
    details = link("details", run.url)
    line = f"- {code(run.pipeline)}: run {run_id} {run.status}" + (
        f" ({details})" if details else "")
    if run.error:
        line += f": {plain(run.error.strip().splitlines()[0])}"
    return line
