"""The wine data set: it ships inside scikit-learn, so nothing is downloaded."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

TARGET = "target"


def load_wine_frame() -> pd.DataFrame:
    """13 numeric features in their canonical order, and the class in `target`."""
    frame: pd.DataFrame = load_wine(as_frame=True).frame
    return frame


def split(
    frame: pd.DataFrame, test_size: float, random_state: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified split, so every class is in both parts even for small test sizes."""
    train, test = train_test_split(
        frame, test_size=test_size, random_state=random_state, stratify=frame[TARGET]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)
