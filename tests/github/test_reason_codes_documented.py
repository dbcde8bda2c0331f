"""The README's reason-code table is the list a workflow author branches on: every ReasonCode
the action can output is in it exactly once, and nothing else is."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from mlops_bot.github.outcome import ReasonCode

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| reason code | the run ended because |"


def test_the_readme_lists_every_reason_code_once() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count(HEADER) == 1
    rows = text.split(HEADER, 1)[1].split("\n\n", 1)[0].splitlines()[2:]  # after the rule
    codes = [m.group(1) for row in rows if (m := re.match(r"\| `([a-z_]+)` \| \S", row))]
    assert len(codes) == len(rows)  # every row: one code, then what it means
    listed = Counter(codes)
    assert [code for code, count in listed.items() if count > 1] == []
    assert set(listed) == {str(code) for code in ReasonCode}
