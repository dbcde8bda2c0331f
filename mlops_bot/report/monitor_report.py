"""`mlops-bot monitor`'s report: a table per feature for the terminal, and in Markdown for the
job summary and the drift issue (feature names come from requests: shown as code spans)."""

from __future__ import annotations

from collections.abc import Callable

from mlops_bot.flows.results.monitor import FeatureResult, MonitorResult
from mlops_bot.report.markdown import plain
from mlops_bot.report.tables import code, markdown_table, table

__all__ = ["judged", "monitor_markdown", "monitor_text", "skipped_markdown", "skipped_text"]

_HEADER = ("feature", "objective", "statistic", "value", "threshold", "verdict")
_VERDICTS = {"drift": "DRIFT", "ok": "ok", "no_baseline": "no baseline", "too_few": "too few"}


def judged(feature: FeatureResult) -> str:
    """E.g. `psi 0.94 > 0.2`, `ks p=0.001 < 0.01`: the value against its threshold."""
    if feature.value is None:
        return f"{feature.statistic} (no baseline)"
    value = f"p={feature.value:.3g}" if feature.statistic == "ks" else f"{feature.value:.3g}"
    compare = {("ks", True): "<", ("ks", False): ">=", (None, True): ">", (None, False): "<="}
    sign = compare[("ks" if feature.statistic == "ks" else None, feature.verdict == "drift")]
    return f"{feature.statistic} {value} {sign} {feature.threshold:g}"


def _rows(result: MonitorResult) -> list[list[str]]:
    return [[f.feature, f.objective, f.statistic,
             "-" if f.value is None else f"{f.value:.4g}",
             ("p < " if f.statistic == "ks" else "> ") + f"{f.threshold:g}",
             _VERDICTS[f.verdict]] for f in result.features]


def _headline(result: MonitorResult) -> str:
    watched = len({f.feature for f in result.features})
    over = sorted({f.feature for f in result.drifted})
    unjudged = {f.feature for f in result.features if f.verdict == "too_few"}
    if over:
        return f"{len(over)} of {watched} feature(s) over the threshold: {', '.join(over)}"
    if unjudged:
        return (f"no drift found, but {len(unjudged)} of {watched} feature(s) not judged: too "
                "few samples")
    return f"no drift in {watched} feature(s)"


def monitor_text(result: MonitorResult) -> str:
    model = result.model
    lines = [f"mlops-bot monitor {result.environment}: {_headline(result)}",
             f"window {result.window} ({result.since} to {result.until}): {result.requests} "
             f"logged request(s) against {model.get('model')} version "
             f"{model.get('model_version')}'s training data ({result.training_rows} rows, run "
             f"{model.get('run_id')})", "", table(_HEADER, _rows(result))]
    lines += [line[2:] if line else line for line in _follow_up(result, str)]
    return "\n".join(lines)


def monitor_markdown(result: MonitorResult) -> str:
    model = result.model
    rows = [[code(r[0]), *r[1:5], f"**{r[5]}**" if r[5] == "DRIFT" else r[5]]
            for r in _rows(result)]
    lines = [f"### Model monitoring: {code(result.environment)}", "",
             f"{plain(_headline(result))}.", "",
             f"Window {result.window} ({result.since} to {result.until}): {result.requests} "
             f"logged request(s) against the training data of {code(str(model.get('model')))} "
             f"version {code(str(model.get('model_version')))} (run "
             f"{code(str(model.get('run_id')))}, {result.training_rows} rows).", "",
             markdown_table(_HEADER, rows)]
    lines += _follow_up(result, plain)
    return "\n".join(lines)


def skipped_text(environment: str, reason: str) -> str:
    """A run with nothing to judge (no model serving, no requests in the window)."""
    return (f"mlops-bot monitor {environment}: skipped, nothing to judge: {reason}\n"
            "(not a failure: the next monitoring run checks again)")


def skipped_markdown(environment: str, reason: str) -> str:
    return (f"### Model monitoring: {code(environment)}\n\nSkipped, nothing to judge: "
            f"{plain(reason)} (not a failure: the next monitoring run checks again).\n")


def _follow_up(result: MonitorResult, escape: Callable[[str], str]) -> list[str]:
    lines: list[str] = []
    retrain = result.retrain
    if retrain:
        lines.append(f"retraining {retrain['schedule']}: run {retrain['run_id']} "
                     f"{retrain['status']}; {retrain['decision']}: {retrain['message']}")
    if result.episode and result.drifted:
        lines.append(f"drift episode since {result.episode['started']}")
    lines += result.notes
    if result.plot:
        lines.append(f"plot: {result.plot}")
    return ["", *(f"- {escape(line)}" for line in lines)] if lines else []
