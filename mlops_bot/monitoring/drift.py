"""Drift statistics on two samples of one feature (pure functions over numpy).

- psi: population stability index over ten bins cut at the baseline's deciles (categories for
  categorical features); 0.1 is a small shift, 0.2 a significant one.
- ks: the two-sample Kolmogorov-Smirnov test; the value is its p-value (asymptotic Kolmogorov
  distribution, the same as scipy's `ks_2samp(method="asymp")`), so small means different.
- jensen_shannon: the Jensen-Shannon divergence in bits (0 to 1) of the two histograms.
- l_infinity: the largest change of one category's (or bin's) frequency, as Vertex AI uses.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Distribution", "distributions", "drifted", "is_numeric", "statistic"]

_BINS = 10
_FLOOR = 1e-4  # an empty bin's share: keeps the logarithms of psi and js finite


@dataclass(frozen=True)
class Distribution:
    """Two samples binned alike: the labels of the bins and each sample's share of them."""

    labels: tuple[str, ...]
    baseline: tuple[float, ...]
    recent: tuple[float, ...]


def is_numeric(values: Sequence[Any]) -> bool:
    """Numbers only (true/false are categories); an empty sample counts as numeric."""
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def distributions(baseline: Sequence[Any], recent: Sequence[Any],
                  categorical: bool) -> Distribution:
    """Both samples' shares of the baseline's deciles, or of the categories either has."""
    if categorical:
        return _categories(baseline, recent)
    base, new = np.asarray(baseline, dtype=float), np.asarray(recent, dtype=float)
    edges = np.unique(np.quantile(base, np.linspace(0, 1, _BINS + 1)[1:-1]))
    labels = _bin_labels(edges)
    return Distribution(labels, _shares(np.searchsorted(edges, base, "right"), len(labels)),
                        _shares(np.searchsorted(edges, new, "right"), len(labels)))


def statistic(name: str, baseline: Sequence[Any], recent: Sequence[Any],
              categorical: bool) -> float:
    """The value of statistic `name` between the samples (ValueError: empty, or ks on text)."""
    if not baseline or not recent:
        raise ValueError("a sample is empty")
    if name == "ks":
        if categorical:
            raise ValueError("ks needs numbers; this feature is categorical")
        return _ks_pvalue(np.asarray(baseline, dtype=float), np.asarray(recent, dtype=float))
    shares = distributions(baseline, recent, categorical)
    expected = np.maximum(np.asarray(shares.baseline), _FLOOR)
    actual = np.maximum(np.asarray(shares.recent), _FLOOR)
    if name == "psi":
        return float(np.sum((actual - expected) * np.log(actual / expected)))
    if name == "jensen_shannon":
        middle = (expected + actual) / 2
        return float(np.clip((np.sum(expected * np.log2(expected / middle))
                              + np.sum(actual * np.log2(actual / middle))) / 2, 0.0, 1.0))
    if name == "l_infinity":
        return float(np.max(np.abs(np.asarray(shares.baseline) - np.asarray(shares.recent))))
    raise ValueError(f"unknown statistic {name!r}")


def drifted(name: str, value: float, threshold: float) -> bool:
    """Over the threshold; for ks (a p-value) under it."""
    return value < threshold if name == "ks" else value > threshold


def _ks_pvalue(baseline: np.ndarray, recent: np.ndarray) -> float:
    a, b = np.sort(baseline), np.sort(recent)
    pooled = np.concatenate([a, b])
    gap = np.max(np.abs(np.searchsorted(a, pooled, "right") / len(a)
                        - np.searchsorted(b, pooled, "right") / len(b)))
    size = math.sqrt(len(a) * len(b) / (len(a) + len(b)))
    scaled = (size + 0.12 + 0.11 / size) * float(gap)  # Stephens' small-sample correction
    if scaled < 1e-3:
        return 1.0
    terms = [(-1) ** (k - 1) * math.exp(-2 * k * k * scaled * scaled) for k in range(1, 101)]
    return float(min(1.0, max(0.0, 2 * sum(terms))))


def _categories(baseline: Sequence[Any], recent: Sequence[Any]) -> Distribution:
    base, new = Counter(map(str, baseline)), Counter(map(str, recent))
    labels = tuple(sorted(set(base) | set(new)))
    return Distribution(labels, tuple(base[k] / len(baseline) for k in labels),
                        tuple(new[k] / len(recent) for k in labels))


def _shares(indices: np.ndarray, bins: int) -> tuple[float, ...]:
    counts = np.bincount(indices, minlength=bins)[:bins]
    return tuple(float(c) / max(1, len(indices)) for c in counts)


def _bin_labels(edges: np.ndarray) -> tuple[str, ...]:
    if len(edges) == 0:
        return ("all",)
    cuts = [f"{e:.4g}" for e in edges]
    return (f"<{cuts[0]}", *(f"{lo}-{hi}" for lo, hi in itertools.pairwise(cuts)),
            f">={cuts[-1]}")
