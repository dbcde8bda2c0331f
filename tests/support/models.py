"""Small real models and model versions for the promotion tests (no pipeline run needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_bot.backends.model_types import ModelCandidate, ModelVersion


def train_wine_model(folder: Path, n_estimators: int = 5, max_depth: int = 2) -> Path:
    """A RandomForest on the wine data saved as `folder/model` (a KFP Model artifact's name)."""
    import joblib
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier

    frame = load_wine(as_frame=True).frame
    features, target = frame.drop(columns=["target"]), frame["target"]
    model = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth,
                                   random_state=0).fit(features, target)
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model")
    return folder


def wine_features() -> list[str]:
    from sklearn.datasets import load_wine

    return list(load_wine(as_frame=True).frame.drop(columns=["target"]).columns)


def candidate(run_id: str, artifact: Path | str = "/nowhere", model: str = "wine_quality",
              **extra: Any) -> ModelCandidate:
    fields: dict[str, Any] = {"model": model, "artifact_uri": str(artifact), "run_id": run_id,
                              "git_sha": "a" * 40, "registry_version": "v-1",
                              "metrics": {"accuracy": 0.9}}
    fields.update(extra)
    return ModelCandidate(**fields)


def version(number: int, artifact: Path | str, model: str = "wine_quality",
            **extra: Any) -> ModelVersion:
    fields: dict[str, Any] = {"model": model, "version": str(number),
                              "artifact_uri": str(artifact), "run_id": f"run-{number}",
                              "git_sha": f"{number}" * 40, "registry_version": f"v-{number}",
                              "feature_names": tuple(wine_features()), "classes": (0, 1, 2)}
    fields.update(extra)
    return ModelVersion(**fields)
