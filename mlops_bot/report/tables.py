"""Tables for terminals (aligned columns) and for GitHub (Markdown), and Markdown's code spans.

Only the standard library: everything that writes Markdown (comments, check runs, summaries)
can use these without importing what it renders.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlops_bot.report.markdown import no_mentions

__all__ = ["code", "markdown_table", "table"]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned table, one line per row (a line break in a cell becomes a space); the
    last column is left ragged."""
    cells = [[" ".join(str(cell).splitlines()) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Cells are Markdown; a pipe or a line break in one cannot end the cell or the row."""
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(" ".join(str(c).splitlines()).replace("|", "\\|")
                                 for c in cells) + " |"

    return "\n".join([row(header), row(["---"] * len(header)), *map(row, rows)])


def code(text: str) -> str:
    """`text` as one inline code span: values from users, pipelines or check runs (a lock
    reason, a metric name) cannot break out of it, start a new line or mention people."""
    flat = " ".join(text.split())
    return "`" + no_mentions(flat.replace("`", "'")) + "`"
