"""Evaluation metrics: higher is better for each, as the promotion gate expects."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score


def score(model: Any, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    predicted = model.predict(features)
    return {
        "accuracy": float(accuracy_score(target, predicted)),
        "f1": float(f1_score(target, predicted, average="macro")),
    }
