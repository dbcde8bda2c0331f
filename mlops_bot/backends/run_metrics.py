"""A run's metrics, from wherever its pipeline put them, each with where it came from.

In order of precedence (a name found earlier is not taken again from a later place):

1. `Metrics` and `ClassificationMetrics` artifacts (`metrics.log_metric("accuracy", 0.9)`): their
   numeric metadata; a name two tasks log is `<task>.<name>` for the second;
2. the model artifact's numeric metadata (`model.metadata["accuracy"] = 0.9`), of the last model;
3. float outputs of the pipeline's final tasks (those no other task depends on): the fields of a
   NamedTuple by their names, a bare `-> float` by its task's name. Runners list them among the
   run's artifacts as entries of type FLOAT_OUTPUT (name, task, metadata {"value": v}).

Names and values come from pipeline code: a name is kept only when it is short, printable text
(reports still show it escaped), a value only when it is a finite number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["FLOAT_OUTPUT", "METRIC_TYPES", "MetricSource", "final_tasks", "float_outputs",
           "metric_sources", "metric_values", "source_words", "sources_of"]

METRIC_TYPES = ("system.Metrics", "system.ClassificationMetrics")
FLOAT_OUTPUT = "float_output"  # a RunRecord.artifacts entry that is a final task's float output
SINGLE_OUTPUT = "Output"  # KFP's name for a component's one return value
_NAME = re.compile(r"^[\w.:/ -]{1,100}$")
# Where a metric came from: (kind, name, task); kind is "artifact", "model" or "output".
MetricSource = tuple[str, str, str]


def metric_sources(artifacts: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float,
                                                                                MetricSource]]:
    """Every metric of a run (see the module doc) with its source."""
    listed = list(artifacts)
    found: dict[str, tuple[float, MetricSource]] = {}
    for artifact in listed:
        if artifact.get("type") in METRIC_TYPES:
            source = ("artifact", str(artifact.get("name") or ""), str(artifact.get("task") or ""))
            for name, value in _numbers(artifact):
                key = name if name not in found else f"{source[2]}.{name}"
                if _NAME.match(key):
                    found.setdefault(key, (value, source))
    models = [a for a in listed if a.get("type") == "system.Model"]
    if models:
        model = models[-1]
        source = ("model", str(model.get("name") or ""), str(model.get("task") or ""))
        for name, value in _numbers(model):
            found.setdefault(name, (value, source))
    for artifact in listed:
        if artifact.get("type") == FLOAT_OUTPUT:
            name, task = str(artifact.get("name") or ""), str(artifact.get("task") or "")
            for _, value in _numbers(artifact):
                found.setdefault(name, (value, ("output", name, task)))
    return found


def sources_of(artifacts: Iterable[Mapping[str, Any]]) -> dict[str, MetricSource]:
    return {name: source for name, (_, source) in metric_sources(artifacts).items()}


def metric_values(artifacts: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    return {name: value for name, (value, _) in metric_sources(artifacts).items()}


def source_words(source: MetricSource | list[str], shown: Any = str) -> str:
    """Where a metric came from, in words; `shown` renders the pipeline's own names."""
    kind, name, task = source
    if kind == "artifact":
        return f"metrics artifact {shown(name)} of task {shown(task)}"
    if kind == "model":
        return f"metadata of model artifact {shown(name)}"
    return f"output {shown(name)} of task {shown(task)}"


def _numbers(artifact: Mapping[str, Any]) -> Iterable[tuple[str, float]]:
    metadata = artifact.get("metadata")
    if not isinstance(metadata, Mapping):
        return
    for name, value in metadata.items():
        if (isinstance(name, str) and _NAME.match(name) and isinstance(value, int | float)
                and not isinstance(value, bool) and math.isfinite(value)):
            yield name, float(value)


def final_tasks(spec: Mapping[str, Any]) -> set[str]:
    """The root DAG's tasks that no other task depends on (by `dependentTasks` or by taking
    one of its outputs): where a pipeline ends."""
    tasks = (((spec.get("root") or {}).get("dag") or {}).get("tasks") or {})
    needed: set[str] = set()
    for task in tasks.values():
        needed.update(task.get("dependentTasks") or ())
        for kind in ("parameters", "artifacts"):
            for value in ((task.get("inputs") or {}).get(kind) or {}).values():
                producer = ((value.get("taskOutputParameter") or value.get("taskOutputArtifact")
                             or {}).get("producerTask"))
                if producer:
                    needed.add(str(producer))
    return set(tasks) - needed


def float_outputs(task: str, values: Mapping[str, Any],
                  component: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A final task's float output parameters (NUMBER_DOUBLE in its `component` spec), as
    RunRecord.artifacts entries."""
    declared = ((component.get("outputDefinitions") or {}).get("parameters") or {})
    entries = []
    for name, value in sorted(values.items()):
        kind = (declared.get(name) or {}).get("parameterType")
        if (kind == "NUMBER_DOUBLE" and isinstance(value, int | float)
                and not isinstance(value, bool)):
            shown = task if name == SINGLE_OUTPUT else name
            entries.append({"task": task, "name": shown, "type": FLOAT_OUTPUT, "uri": None,
                            "metadata": {"value": value}})
    return entries
