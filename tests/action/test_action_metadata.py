"""action.yml and the code agree: every input is read, every output is written, and back."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mlops_bot.github.action import EVENT_COMMANDS, HANDLERS
from mlops_bot.github.outcome import Outcome, ReasonCode

ROOT = Path(__file__).parents[2]
METADATA = yaml.safe_load((ROOT / "action.yml").read_text())


def test_every_output_is_written_and_every_written_output_is_declared():
    written = set(Outcome("stop", ReasonCode.OK, "").outputs())
    assert written == set(METADATA["outputs"])


def test_every_input_is_read_by_the_code_and_every_read_input_is_declared():
    source = "\n".join(p.read_text() for p in (ROOT / "mlops_bot").rglob("*.py"))
    read = set(re.findall(r'\.input\("([a-z-]+)"\)', source))
    assert read == set(METADATA["inputs"])


def test_every_command_an_event_implies_has_a_handler():
    assert set(EVENT_COMMANDS.values()) <= set(HANDLERS)


def test_the_image_runs_the_entrypoint():
    assert METADATA["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert 'ENTRYPOINT ["python", "/opt/mlops-bot/action/entrypoint.py"]' in (
        ROOT / "Dockerfile").read_text()
