"""GITHUB_OUTPUT: values, even hostile ones, come back exactly as written."""

from __future__ import annotations

import re

import pytest

from mlops_bot.github.outputs import write_outputs
from tests.support.action import read_outputs


def test_values_round_trip_including_newlines_and_fake_delimiters(tmp_path):
    path = tmp_path / "output"
    hostile = "staging\ndecision<<EOF\nproceed\nEOF\nreason_code=ok"
    write_outputs(path, {"environment": hostile, "decision": "stop"})
    write_outputs(path, {"sha": "a" * 40})
    assert read_outputs(path.read_text()) == {"environment": hostile, "decision": "stop", "sha": "a" * 40}


def test_delimiters_are_random(tmp_path):
    path = tmp_path / "output"
    write_outputs(path, {"a": "1", "b": "2"})
    delimiters = re.findall(r"<<(\S+)", path.read_text())
    assert len(set(delimiters)) == 2


@pytest.mark.parametrize("name", ["", "bad name", "x\ny", "a=b", "1abc"])
def test_invalid_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="invalid output name"):
        write_outputs(tmp_path / "output", {name: "v"})
