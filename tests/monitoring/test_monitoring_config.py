"""environments.<env>.monitoring: defaults, validation with the key path, the schedule cross-check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlops_bot.config import parse_config, schema_json
from mlops_bot.errors import ConfigError

TEMPLATE = Path(__file__).resolve().parents[2] / "mlops_bot" / "templates" / "mlops.yaml"

BASE = """\
environments:
  production:
    endpoint: prod
    monitoring:
{monitoring}
schedules:
  - name: weekly-retrain
    pipeline: wine_quality
    cron: "0 3 * * 1"
    environment: production
"""


def _parse(monitoring: str):
    return parse_config(BASE.format(monitoring=monitoring), "mlops.yaml")


def _error(monitoring: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _parse(monitoring)
    return str(caught.value)


def test_defaults_watch_every_feature_with_psi_and_jensen_shannon():
    monitoring = _parse("      {}").environments["production"].monitoring
    assert monitoring is not None and monitoring.features == []
    assert monitoring.skew is not None and monitoring.drift is not None
    assert (monitoring.skew.numeric.statistic, monitoring.skew.numeric.threshold) == ("psi", 0.2)
    assert monitoring.skew.check("colour", categorical=True).statistic == "jensen_shannon"
    assert (monitoring.sampling_rate, monitoring.interval, monitoring.window) == (1.0, "1h", "1d")
    assert monitoring.retrain_on_drift is None and monitoring.alerts.github_issue is False


def test_per_feature_override_wins_over_the_default():
    monitoring = _parse("      skew:\n        per_feature:\n"
                        "          ph: {statistic: ks, threshold: 0.01}").environments[
        "production"].monitoring
    assert monitoring is not None and monitoring.skew is not None
    assert monitoring.skew.check("ph", categorical=False).statistic == "ks"
    assert monitoring.skew.check("alcohol", categorical=False).statistic == "psi"


def test_retrain_on_drift_must_name_a_schedule_with_a_did_you_mean():
    message = _error("      retrain_on_drift: weekly-retrian")
    assert ("environments.production.monitoring.retrain_on_drift: 'weekly-retrian' is not a "
            "schedule; did you mean 'weekly-retrain'?") in message


@pytest.mark.parametrize(("monitoring", "expected"), [
    ("      sampling_rate: 1.5", "monitoring.sampling_rate: must be at most 1"),
    ("      sampling_rate: 0", "monitoring.sampling_rate: Input should be greater than 0"),
    ("      interval: 5h", "monitoring.interval: '5h' is not an interval monitoring can run at"),
    ("      window: 3 days", "monitoring.window: '3 days' is not a duration"),
    ("      skew: {numeric: {statistic: l_infinity, threshold: 0.1}}",
     "skew.numeric: l_infinity does not apply to numeric features"),
    ("      drift: {categorical: {statistic: ks, threshold: 0.1}}",
     "drift.categorical: ks does not apply to categorical features"),
    ("      drift: {per_feature: {ph: {statistic: ks, threshold: 2}}}",
     "per_feature.ph: threshold 2.0 is out of range for ks"),
    ("      alerts: {emails: [nope]}", "alerts.emails: 'nope' is not an email address"),
    ("      skew: null\n      drift: null", "monitoring: checks nothing"),
    ("      skew: {nmeric: {}}", "skew.nmeric: unknown key; did you mean 'numeric'?"),
])
def test_bad_monitoring_settings_name_the_key(monitoring, expected):
    assert expected in _error(monitoring)


def test_schema_describes_monitoring():
    schema = json.loads(schema_json())
    environment = schema["$defs"]["Environment"]["properties"]
    assert "monitoring" in environment
    assert {"features", "skew", "drift", "sampling_rate", "interval", "window", "alerts",
            "retrain_on_drift"} <= set(schema["$defs"]["Monitoring"]["properties"])
    properties = schema["$defs"]["Monitoring"]["properties"]
    assert properties["interval"]["enum"] == ["1h", "2h", "3h", "4h", "6h", "8h", "12h", "24h",
                                              "1d"]
    assert re.match(properties["window"]["pattern"], "7d")
    assert not re.match(properties["window"]["pattern"], "3 days")


def test_the_templates_commented_example_is_valid():
    lines = TEMPLATE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "# monitoring:") + 1
    block = []
    for line in lines[start:]:
        if not line.startswith("    #   "):
            break
        block.append("    " + line[len("    # "):])  # under `monitoring:` in BASE
    config = parse_config(BASE.format(monitoring="\n".join(block)), "the template")
    checked = config.environments["production"].monitoring
    assert checked is not None and checked.retrain_on_drift == "weekly-retrain"
    assert checked.alerts.emails == ["ml-team@example.com"] and checked.skew is not None
    assert checked.skew.per_feature["alcohol"].statistic == "ks"
