"""The classifier: a random forest, which needs no feature scaling."""

from __future__ import annotations

import joblib
import pandas as pd
from sklearn.ensemble import RandomForestClassifier


def train_model(
    features: pd.DataFrame, target: pd.Series, n_estimators: int, max_depth: int,
    random_state: int,
) -> RandomForestClassifier:
    model = RandomForestClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth or None,  # 0 means unlimited: KFP parameters cannot be None
        random_state=random_state,
    )
    return model.fit(features, target)


def save_model(model: RandomForestClassifier, path: str) -> None:
    # Written exactly at the artifact's path: serving and the model registry read it there.
    joblib.dump(model, path)


def load_model(path: str) -> RandomForestClassifier:
    model: RandomForestClassifier = joblib.load(path)
    return model
