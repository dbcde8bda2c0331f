"""Golden files: every comment, reply, check run, job summary and terminal report the bot
renders, byte for byte, so a change to any of them shows up in review as a diff of
tests/fixtures/expected/.

Regenerate after an intended change with `pytest tests/report/test_golden.py --update-golden`
(or MLOPS_BOT_UPDATE_GOLDEN=1), then read the diff: it is what users will see.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from tests.report.golden_scenarios import SCENARIOS

EXPECTED = Path(__file__).resolve().parent.parent / "fixtures" / "expected"
_HOW = "pytest tests/report/test_golden.py --update-golden (or MLOPS_BOT_UPDATE_GOLDEN=1)"


def _updating(request: pytest.FixtureRequest) -> bool:
    flag = request.config.getoption("--update-golden", default=False)
    return bool(flag) or os.environ.get("MLOPS_BOT_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rendering_matches_its_golden_file(name: str, request: pytest.FixtureRequest) -> None:
    rendered = SCENARIOS[name]()
    path = EXPECTED / name
    if _updating(request):
        EXPECTED.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rendered.encode("utf-8"))
        return
    if not path.is_file():
        pytest.fail(f"{path} does not exist: write it with {_HOW}")
    expected = path.read_bytes().decode("utf-8")
    if rendered != expected:
        diff = difflib.unified_diff(expected.splitlines(keepends=True),
                                    rendered.splitlines(keepends=True),
                                    f"expected/{name}", f"rendered/{name}")
        pytest.fail(f"{name} differs from its golden file; if the change is intended, "
                    f"regenerate with {_HOW}:\n" + "".join(diff), pytrace=False)


def test_every_golden_file_has_a_scenario(request: pytest.FixtureRequest) -> None:
    """A file no scenario renders any more would keep showing output that no longer exists."""
    stale = sorted(p.name for p in EXPECTED.iterdir() if p.name not in SCENARIOS)
    if _updating(request):
        for name in stale:
            (EXPECTED / name).unlink()
        return
    assert not stale, f"golden files without a scenario (delete them, or run {_HOW}): {stale}"


def test_the_hostile_scenarios_are_rendered() -> None:
    """The table keeps a hostile case of each kind of output it covers."""
    hostile = {name.split("_", 1)[0] for name in SCENARIOS if "hostile" in name}
    assert hostile >= {"comment", "reply", "check", "plan", "push", "deploy", "retrain",
                       "outputs"}
