"""A local state folder made by hand: a finished run with its training CSV, its model serving an
environment, and requests logged as `serve` logs them. No pipeline runs: seconds, not minutes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlops_bot.serving.request_log import requests_folder

RUN_ID = "wine-quality-run-1"
NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z
NOW_ISO = "2026-05-28T20:26:40Z"
FEATURES = ("alcohol", "ph", "sugar", "colour")
MLOPS_YAML = """\
local: {builder: venv}
environments:
  staging:
    endpoint: wine-staging
    monitoring:
      window: 1d
      skew:
        per_feature:
          ph: {statistic: ks, threshold: 0.01}
"""


def rows(count: int, seed: int, shift: float = 0.0, red: float = 0.5) -> list[dict[str, Any]]:
    """Wine-like instances; `shift` moves alcohol by that many standard deviations, `red` is
    the share of red wines."""
    rng = np.random.default_rng(seed)
    return [{"alcohol": round(float(rng.normal(12 + shift, 1)), 3),
             "ph": round(float(rng.normal(3.3, 0.15)), 3),
             "sugar": round(float(rng.exponential(2)), 3),
             "colour": "red" if rng.random() < red else "white"} for _ in range(count)]


def make_state(repo: Path, *, training: bool = True, serve: bool = True,
               config: str = MLOPS_YAML) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "mlops.yaml").write_text(config)
    state = repo / ".mlops"
    run_folder = state / "runs" / RUN_ID
    data = run_folder / "artifacts" / "load-data" / "train_data"
    data.parent.mkdir(parents=True)
    data.write_text("alcohol,ph,sugar,colour,quality\n" + "".join(
        f"{r['alcohol']},{r['ph']},{r['sugar']},{r['colour']},1\n" for r in rows(1500, 1)))
    artifacts = [{"task": "load-data", "name": "test_data", "type": "system.Dataset",
                  "uri": str(data.with_name("test_data")), "metadata": {}}]
    if training:
        artifacts.append({"task": "load-data", "name": "train_data", "type": "system.Dataset",
                          "uri": str(data), "metadata": {}})
    (run_folder / "run.json").write_text(json.dumps({
        "run_id": RUN_ID, "pipeline": "wine_quality", "version": "v1", "git_sha": "a" * 40,
        "status": "succeeded", "parameters": {}, "started_at": "2026-05-01T00:00:00Z",
        "finished_at": "2026-05-01T00:01:00Z", "metrics": {"accuracy": 0.9},
        "artifacts": artifacts}))
    if serve:  # the state file a deploy writes (the model file itself is never read here)
        (state / "endpoints").mkdir(parents=True)
        (state / "endpoints" / "staging.json").write_text(json.dumps({
            "environment": "staging", "endpoint": "wine-staging", "revision": 1, "deployed": [{
                "deployed_model_id": "wine_quality-1", "model": "wine_quality",
                "model_version": 1, "artifact_uri": str(run_folder / "model"),
                "framework": "scikit-learn", "feature_names": list(FEATURES), "traffic": 100,
                "lineage": {"run_id": RUN_ID, "git_sha": "a" * 40}}]}))
    return state


def log_requests(state: Path, instances: Sequence[dict[str, Any]], at: float,
                 environment: str = "staging") -> None:
    """Instances as `serve` logs them, spread over the hour before `at`."""
    folder = requests_folder(state, environment)
    folder.mkdir(parents=True, exist_ok=True)
    step = 3600 / max(1, len(instances))
    lines = [json.dumps({"time": at - 3600 + i * step, "model": "wine_quality-1",
                         "model_name": "wine_quality", "model_version": 1, "run_id": RUN_ID,
                         "features": instance, "prediction": 1})
             for i, instance in enumerate(instances)]
    (folder / f"{at - 3600:.6f}-1-1.jsonl").write_text("\n".join(lines) + "\n")
