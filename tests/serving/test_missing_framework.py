"""A model whose framework library is not installed where mlops-bot runs: one sentence naming the
package and how to install it, instead of a ModuleNotFoundError in the middle of a deploy."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlops_bot.serving.models import ModelLoadError, load_models
from mlops_bot.serving.state import parse_state
from tests.serving.helpers import deployed


def _state(entry: dict[str, object]):
    return parse_state(json.dumps({"revision": 1, "deployed": [entry]}), "s.json")


def test_a_model_of_a_framework_not_installed_names_the_package(tmp_path: Path):
    # Pickled where its framework (here a tiny module) exists, loaded where it does not.
    (tmp_path / "fancyboost.py").write_text("class Booster:\n    def predict(self, rows):\n"
                                            "        return [0 for _ in rows]\n")
    model = tmp_path / "model" / "model.joblib"
    model.parent.mkdir()
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import sys, joblib
        sys.path.insert(0, {str(tmp_path)!r})
        import fancyboost
        joblib.dump(fancyboost.Booster(), {str(model)!r})
        """)], check=True)
    with pytest.raises(ModelLoadError) as caught:
        load_models(_state(deployed("boost-1", model, 100)))
    assert "model boost-1" in str(caught.value)
    assert "needs fancyboost, which is not installed" in str(caught.value)
    assert "pip install fancyboost" in str(caught.value)


def test_a_scikit_learn_model_without_scikit_learn_says_which_extra(models, monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # what Python does for "not installed"
    with pytest.raises(ModelLoadError, match=r"needs scikit-learn, which is not installed.*"
                                             r"pip install 'mlops-bot\[sklearn\]'"):
        load_models(_state(deployed("forest-1", models.forest, 100)))


def test_a_model_fitted_on_a_dataframe_without_pandas_is_refused_at_load(models, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ModelLoadError, match=r"fitted on a DataFrame .* pandas is not installed"):
        load_models(_state(deployed("forest-1", models.forest, 100)))
