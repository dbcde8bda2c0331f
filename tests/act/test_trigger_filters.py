"""Trigger filters, which act does not apply (it runs whatever event it is given): the workflows as
`init` writes them and as this repository runs them start on the events the end-to-end tests
under act feed them, and on no other: every branch push but the environment locks' branches
(pushing a lock must not start a build), comments only when created."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_bot.flows.init import render_files
from mlops_bot.github.locks import LOCK_BRANCH_PREFIX
from tests.support.act import ACTION_REF

ROOT = Path(__file__).resolve().parents[2]


def workflows() -> list[tuple[str, dict[str, Any]]]:
    rendered = [(f.path, yaml.safe_load(f.text)) for f in render_files(ACTION_REF)
                if f.path.startswith(".github/")]
    own = [(str(p.relative_to(ROOT)), yaml.safe_load(p.read_text()))
           for p in sorted((ROOT / ".github" / "workflows").glob("mlops-*.yml"))]
    return rendered + own


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    found = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    return found if isinstance(found, dict) else {}


def branch_runs(patterns: list[str], branch: str) -> bool:
    """GitHub's `branches:` filter: the last pattern that matches decides; `!` excludes."""
    decided = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!")
        regex = "".join(".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
                        for part in re.split(r"(\*\*|\*)", glob))
        if re.fullmatch(regex, branch):
            decided = not negated
    return decided


@pytest.mark.parametrize(("path", "workflow"), workflows(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_each_workflow_starts_only_on_the_events_the_act_tests_give_it(
        path: str, workflow: dict[str, Any]) -> None:
    on = triggers(workflow)
    if "push" in on:
        branches = on["push"]["branches"]
        assert "paths" not in on["push"]  # a docs-only commit must get its check runs too
        for branch in ("main", "feature", "feature/x", "docs"):
            assert branch_runs(branches, branch), f"{path}: a push to {branch} starts nothing"
        assert not branch_runs(branches, LOCK_BRANCH_PREFIX + "staging"), (
            f"{path}: pushing an environment lock would start the push workflow")
    if "issue_comment" in on:
        assert on["issue_comment"] == {"types": ["created"]}, path
