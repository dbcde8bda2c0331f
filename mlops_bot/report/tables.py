"""Tables for terminals (aligned columns) and for GitHub (Markdown), and Markdown's code spans.

Only the standard library: everything that writes Markdown (comments, check runs, summaries)
can use these without importing what it renders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mlops_bot.report.markdown import cap, no_mentions

__all__ = ["CODE_LIMIT", "code", "markdown_table", "table"]

CODE_LIMIT = 200  # characters of one value shown as code: an image reference with its digest fits
_BACKTICKS = re.compile(r"`+")


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


def code(text: str, limit: int = CODE_LIMIT) -> str:
    """`text` as one inline code span, shown as it is: its delimiters are longer than any run of
    backticks inside, so values from users, pipelines or check runs (a lock reason, a metric
    name) cannot close it; on one line, at most `limit` characters, mentioning nobody."""
    flat = no_mentions(cap(" ".join(text.split()), limit)) or " "
    longest = max((len(run) for run in _BACKTICKS.findall(flat)), default=0)
    fence = "`" * (longest + 1)
    # A space each side when the text starts or ends with a backtick (CommonMark strips one
    # space from each side of such a span, so the value is shown whole).
    pad = " " if flat[0] == "`" or flat[-1] == "`" else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
