"""One line per run as it ends, for the job summary while a push goes on (the full report follows
at the end), and what `mlops-bot status` did."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_bot.report.markdown import link, plain
from mlops_bot.report.tables import code

if TYPE_CHECKING:
    from mlops_bot.flows.results.push import RunOutcome
    from mlops_bot.flows.status import StatusResult

__all__ = ["RUNS_HEADING", "render_run_line", "render_status_text"]

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


def render_status_text(result: StatusResult) -> str:
    """What `mlops-bot status` did, for the terminal."""
    from mlops_bot.report.tables import table

    rows = [[c.sha[:12], c.pipeline, c.run_id,
             c.status + ("" if c.status == "running" else ", check run completed")]
            for c in result.checks]
    lines = [f"status: {len(result.commits)} commit(s) looked at, "
             f"{sum(c.status != 'running' for c in result.checks)} check run(s) completed, "
             f"{sum(c.status == 'running' for c in result.checks)} still running"]
    if rows:
        lines += ["", table(["COMMIT", "PIPELINE", "RUN", "STATUS"], rows)]
    notes = [f"Note: {n}" for n in result.notes]
    return "\n".join(lines + ([""] if notes and rows else []) + notes)
