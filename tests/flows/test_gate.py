"""The metric gate: thresholds, champion/challenger with tolerance or a required gain."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_bot.config import Environment, Threshold, load_config
from mlops_bot.flows.gate import check_gate


def env(**kwargs) -> Environment:
    return Environment(endpoint="wine-staging", **kwargs)


def test_no_champion_only_thresholds_apply():
    environment = env(thresholds={"accuracy": Threshold(min=0.8), "loss": Threshold(max=0.5)})
    result = check_gate({"accuracy": 0.9, "loss": 0.2, "f1": 0.88}, None, environment)
    assert result.passed and result.reasons == ()
    assert [(r.name, r.rule, r.ok) for r in result.rows] == [
        ("accuracy", ">= 0.8", True), ("loss", "<= 0.5", True), ("f1", "", True)]


def test_thresholds_fail_with_a_reason_per_bound():
    environment = env(thresholds={"accuracy": Threshold(min=0.8, max=0.99),
                                  "loss": Threshold(max=0.5)})
    result = check_gate({"accuracy": 0.7, "loss": 0.6}, None, environment)
    assert not result.passed
    assert result.reasons == ("accuracy 0.7 is below the minimum 0.8",
                              "loss 0.6 is above the maximum 0.5")
    assert result.rows[0].rule == "between 0.8 and 0.99" and not result.rows[0].ok


def test_a_threshold_metric_missing_from_the_candidate_fails_naming_it():
    environment = env(thresholds={"f1": Threshold(min=0.5)})
    result = check_gate({"accuracy": 0.9}, None, environment)
    assert not result.passed
    assert result.reasons == ("f1 is missing from the candidate's metrics (thresholds of "
                              "mlops.yaml need it)",)
    assert result.rows[0].candidate is None


def test_nan_metric_is_not_a_pass():
    result = check_gate({"accuracy": float("nan")}, None,
                        env(thresholds={"accuracy": Threshold(min=0.5)}))
    assert not result.passed and "accuracy is not a finite number" in result.reasons[0]


@pytest.mark.parametrize(("candidate", "tolerance", "passed"), [
    (0.90, 0.0, True),     # equal is not worse
    (0.89, 0.0, False),
    (0.89, 0.02, True),    # within tolerance
    (0.88, 0.02, True),    # exactly at the tolerance edge
    (0.87, 0.02, False),
])
def test_champion_with_tolerance(candidate, tolerance, passed):
    result = check_gate({"accuracy": candidate}, {"accuracy": 0.90}, env(tolerance=tolerance))
    assert result.passed is passed
    [row] = result.rows
    assert (row.candidate, row.champion) == (candidate, 0.90)
    if not passed:
        assert result.reasons[0].startswith(f"accuracy {candidate:.4g} is ")
        assert "worse than the champion's 0.9" in result.reasons[0]


@pytest.mark.parametrize(("candidate", "gain", "passed"), [
    (0.90, 0.0, False),    # a tie does not beat the champion
    (0.9001, 0.0, True),
    (0.91, 0.01, True),
    (0.905, 0.01, False),
])
def test_required_gain_for_a_challenger(candidate, gain, passed):
    result = check_gate({"accuracy": candidate}, {"accuracy": 0.90}, env(tolerance=0.05),
                        required_gain=gain)
    assert result.passed is passed
    assert result.rows[0].rule == ("> champion" if gain == 0 else
                                   f">= champion + {gain:.4g} ({0.90 + gain:.4g})")


def test_primary_metric_missing_from_candidate_fails_when_there_is_a_champion():
    result = check_gate({"f1": 0.9}, {"accuracy": 0.9}, env())
    assert not result.passed and len(result.reasons) == 1
    assert result.reasons[0].startswith("accuracy is missing from the candidate's metrics")


def test_primary_metric_missing_fails_without_a_champion_naming_where_it_looked():
    result = check_gate({"f1": 0.9}, None, env())
    assert not result.passed and result.rows[0].rule == "required (primary_metric)"
    assert result.reasons == (
        "accuracy is missing from the candidate's metrics (it is the primary_metric in "
        "mlops.yaml): looked in the run's Metrics and ClassificationMetrics artifacts, its model "
        "artifact's numeric metadata and the float outputs of its final tasks; log it in one of "
        "them (e.g. metrics.log_metric) or set primary_metric to one the run has",)


def test_each_metric_row_carries_its_source():
    sources = {"accuracy": ("model", "model", "train"), "f1": ("output", "f1", "evaluate")}
    result = check_gate({"accuracy": 0.9, "f1": 0.8}, None, env(), sources=sources)
    assert result.passed
    assert [(r.name, r.source) for r in result.rows] == [
        ("accuracy", ("model", "model", "train")), ("f1", ("output", "f1", "evaluate"))]


def test_champion_without_the_primary_metric_is_not_compared():
    result = check_gate({"accuracy": 0.5}, {}, env())
    assert result.passed and result.rows[0].rule == "champion has no value: not compared"


def test_primary_metric_in_thresholds_gets_both_rules_in_one_row():
    environment = env(primary_metric="f1", thresholds={"f1": Threshold(min=0.8)}, tolerance=0.01)
    result = check_gate({"f1": 0.85}, {"f1": 0.9}, environment)
    [row] = result.rows
    assert row.rule == ">= 0.8; >= champion - 0.01 (0.89)" and not row.ok
    assert result.to_dict()["metrics"][0]["champion"] == 0.9


def test_the_repository_config_gates_the_wine_example():
    root = Path(__file__).parents[2]
    config = load_config(root)
    assert set(config.environments) == {"staging", "production"}
    for environment in config.environments.values():
        assert (root / environment.smoke_instances).is_file()
        assert check_gate({"accuracy": 1.0, "f1": 1.0}, {"accuracy": 1.0}, environment).passed
        weak = check_gate({"accuracy": 0.64, "f1": 0.5}, {"accuracy": 1.0}, environment)
        assert not weak.passed and len(weak.reasons) == 3
    production = config.environments["production"]
    assert not check_gate({"accuracy": 0.99, "f1": 0.99}, {"accuracy": 1.0}, production).passed
