"""The two sides monitoring compares: the training data of the serving model's run, as columns,
and the logged requests of a time window, as columns."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlops_bot.errors import UserError

__all__ = ["TRAINING_NAMES", "categorical_columns", "request_columns", "training_columns",
           "training_data_uri"]

# The Dataset output monitoring takes as the training data, in order of preference.
TRAINING_NAMES = ("train_data", "training_data", "train", "train_dataset")
_MAX_TRAINING_BYTES = 512 * 1024 * 1024


def training_data_uri(artifacts: list[dict[str, Any]], run_id: str, artifact_root: str) -> Path:
    """The run's training Dataset (a CSV file written by one of its components, inside the run's
    own folder); UserError saying what the run has instead."""
    datasets = [a for a in artifacts if a.get("type") == "system.Dataset" and a.get("uri")]
    ranked = sorted(datasets, key=lambda a: _rank(str(a.get("name", ""))))
    if not ranked or _rank(str(ranked[0].get("name", ""))) >= len(TRAINING_NAMES) + 1:
        names = ", ".join(sorted(str(a.get("name")) for a in datasets)) or "none"
        raise UserError(f"run {run_id} has no training data to compare requests with: a "
                        f"component of the pipeline must write an Output[Dataset] named "
                        f"{' or '.join(TRAINING_NAMES[:2])} (a CSV with a header); its Dataset "
                        f"outputs: {names}")
    path = Path(str(ranked[0]["uri"])).resolve()
    root = (Path(artifact_root) / run_id).resolve()
    if not path.is_relative_to(root):
        raise UserError(f"run {run_id} names its training data {str(path)[:300]}, outside the "
                        f"run's folder {root}: it is not read")
    return path


def _rank(name: str) -> int:
    if name in TRAINING_NAMES:
        return TRAINING_NAMES.index(name)
    return len(TRAINING_NAMES) if name.startswith("train") else len(TRAINING_NAMES) + 1


def training_columns(path: Path) -> dict[str, list[Any]]:
    """Each column of the CSV at `path`; a column of numbers only is read as floats."""
    try:
        if path.stat().st_size > _MAX_TRAINING_BYTES:
            raise UserError(f"the training data {path} is over 512 MiB: monitoring reads it "
                            "whole; write a sample of it as the Dataset")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read the training data {path}: {error}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2 or not rows[0]:
        raise UserError(f"the training data {path} has no rows: it must be a CSV with a header "
                        "line and at least one row")
    header, body = rows[0], rows[1:]
    columns = {name: [row[i] if i < len(row) else "" for row in body]
               for i, name in enumerate(header)}
    return {name: _typed(values) for name, values in columns.items()}


def categorical_columns(head: str, whole: bool) -> tuple[str, ...]:
    """The columns of a CSV's first bytes (`whole`: the file entire) whose values are not all
    numbers: what `mlops-bot monitor` judges as categorical. A cut-off last line is left out."""
    lines = head.splitlines(keepends=True)
    if not whole and len(lines) > 1:
        lines = lines[:-1]
    rows = list(csv.reader(io.StringIO("".join(lines))))
    if not rows:
        return ()
    header, body = rows[0], rows[1:]
    return tuple(name for i, name in enumerate(header)
                 if not all(isinstance(v, float) for v in
                            _typed([row[i] if i < len(row) else "" for row in body])))


def _typed(values: list[str]) -> list[Any]:
    """A missing value (an empty cell) is left out, as a null in a request is: one must not
    turn a column of numbers into categories."""
    present = [v for v in values if v.strip()]
    try:
        return [float(v) for v in present]
    except ValueError:
        return present


def request_columns(records: Iterable[dict[str, Any]]) -> tuple[dict[str, list[Any]], int]:
    """The features of logged requests as columns (a missing or null value is left out), and
    how many requests there were."""
    columns: dict[str, list[Any]] = {}
    count = 0
    for record in records:
        count += 1
        for name, value in record["features"].items():
            if value is not None:
                columns.setdefault(str(name), []).append(value)
    return columns, count
