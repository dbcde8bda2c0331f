"""The drift statistics on synthetic samples: same distribution passes, a shift is flagged."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_bot.monitoring.drift import distributions, drifted, is_numeric, statistic

RNG = np.random.default_rng(7)
TRAIN = {"alcohol": list(RNG.normal(12, 1, 2000)), "ph": list(RNG.normal(3.3, 0.15, 2000)),
         "sugar": list(RNG.exponential(2, 2000))}
SAME = {"alcohol": list(RNG.normal(12, 1, 400)), "ph": list(RNG.normal(3.3, 0.15, 400)),
        "sugar": list(RNG.exponential(2, 400))}
THRESHOLDS = {"psi": 0.2, "ks": 0.01, "jensen_shannon": 0.1, "l_infinity": 0.3}


def flagged(recent: dict[str, list[float]], name: str) -> set[str]:
    return {feature for feature in TRAIN if drifted(
        name, statistic(name, TRAIN[feature], recent[feature], False), THRESHOLDS[name])}


@pytest.mark.parametrize("name", ["psi", "ks", "jensen_shannon", "l_infinity"])
def test_the_same_distribution_is_not_flagged(name):
    assert flagged(SAME, name) == set()


@pytest.mark.parametrize("name", ["psi", "ks", "jensen_shannon"])
def test_a_shifted_feature_is_flagged_and_the_others_are_not(name):
    shifted = {**SAME, "alcohol": [v + 1.0 for v in SAME["alcohol"]]}  # one standard deviation
    assert flagged(shifted, name) == {"alcohol"}


def test_a_categorical_shift_is_flagged():
    training = ["red"] * 500 + ["white"] * 500
    same = ["red"] * 52 + ["white"] * 48
    shifted = ["red"] * 85 + ["white"] * 10 + ["rose"] * 5  # and a category never trained on
    for name, threshold in (("jensen_shannon", 0.1), ("l_infinity", 0.2), ("psi", 0.2)):
        assert not drifted(name, statistic(name, training, same, True), threshold)
        assert drifted(name, statistic(name, training, shifted, True), threshold)
    shares = distributions(training, shifted, True)
    assert shares.labels == ("red", "rose", "white") and shares.baseline[1] == 0.0


def test_ks_p_value_agrees_with_scipys_asymptotic_test():
    scipy_stats = pytest.importorskip("scipy.stats")
    for shift in (0.0, 0.1, 0.3):
        recent = [v + shift for v in SAME["alcohol"][:150]]
        expected = scipy_stats.ks_2samp(TRAIN["alcohol"], recent, method="asymp").pvalue
        assert statistic("ks", TRAIN["alcohol"], recent, False) == pytest.approx(
            expected, rel=0.05, abs=1e-6)


def test_numbers_and_categories_are_told_apart():
    assert is_numeric([1, 2.5]) and not is_numeric(["1"]) and not is_numeric([True, False])


def test_an_empty_sample_or_ks_on_categories_is_refused():
    with pytest.raises(ValueError, match="empty"):
        statistic("psi", [], [1.0], False)
    with pytest.raises(ValueError, match="ks needs numbers"):
        statistic("ks", ["a"], ["b"], True)
