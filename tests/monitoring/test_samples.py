"""The training data monitoring compares requests with: a CSV's columns, typed."""

from __future__ import annotations

from mlops_bot.monitoring.samples import training_columns


def test_a_missing_value_leaves_a_numeric_column_numeric(tmp_path):
    data = tmp_path / "train_data"
    data.write_text("alcohol,colour\n12.5,red\n,white\n13.1,\n")
    columns = training_columns(data)
    assert columns == {"alcohol": [12.5, 13.1], "colour": ["red", "white"]}
