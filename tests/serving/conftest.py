from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class TrainedModels:
    forest: Path     # RandomForest fitted on a DataFrame, like the example pipeline's
    tree: Path       # DecisionTree fitted on a bare array: no feature names inside
    slow_tree: Path  # the tree, 0.4 s to unpickle
    exploding: Path  # predict raises RuntimeError
    garbage: Path    # not a pickle at all
    features: list[str]
    rows: list[list[float]]  # the first rows of the wine data, one per class


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> TrainedModels:
    import joblib
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    from tests.serving.helpers import ExplodingModel, SlowToLoad

    folder = tmp_path_factory.mktemp("models")
    frame = load_wine(as_frame=True).frame
    features, target = frame.drop(columns=["target"]), frame["target"]
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(features, target)
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(features.to_numpy(),
                                                                  target.to_numpy())
    paths = {}
    for name, model in (("forest", forest), ("tree", tree), ("slow_tree", SlowToLoad(tree, 0.4)),
                        ("exploding", ExplodingModel())):
        paths[name] = folder / name / "model"
        paths[name].parent.mkdir()
        joblib.dump(model, paths[name])
    paths["garbage"] = folder / "garbage" / "model"
    paths["garbage"].parent.mkdir()
    paths["garbage"].write_bytes(b"this is not a pickle")
    rows = [frame[frame["target"] == c].drop(columns=["target"]).iloc[0].tolist() for c in (0, 1, 2)]
    return TrainedModels(features=list(features.columns), rows=rows, **paths)


@pytest.fixture()
def state_file(tmp_path: Path) -> Path:
    return tmp_path / ".mlops" / "endpoints" / "staging.json"
