"""A promotion or rollback as Markdown (the sticky PR comment, the job summary) and as console
text. Both render the JSON document of the result (`to_dict()`), so the deploy job can render
what it holds as JSON."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlops_bot.backends.run_metrics import source_words
from mlops_bot.report.markdown import plain
from mlops_bot.report.tables import code, markdown_table, table

__all__ = ["deploy_markdown", "deploy_text"]

Table = Callable[[Sequence[str], Sequence[Sequence[str]]], str]
Text = Callable[[str], str]  # how a value that is not the bot's is shown

_TITLES = {
    "promoted": ":white_check_mark: Deployed to {env}",
    "unchanged": ":white_check_mark: Already serving in {env}",
    "rolled_back": ":rewind: Rolled back {env}",
    "gate_failed": ":no_entry: Not deployed to {env}: the metric gate refused it",
    "smoke_failed": ":x: Deploy to {env} failed its smoke test",
    "concurrent_change": ":warning: Deploy to {env} stopped: the endpoint changed meanwhile",
}
_REFUSED = ("no_run", "run_failed", "no_model", "artifact_outside_run", "nothing_deployed",
            "no_previous")


def deploy_markdown(document: Mapping[str, Any]) -> str:
    """The sticky comment and job summary. Names, metric names, messages and notes carry
    pipeline names and error text, which are not the bot's: each is shown as code or text."""
    status, env = str(document["status"]), code(str(document["environment"]))
    default = (":no_entry: Not deployed to {env}" if status in _REFUSED
               else ":x: Deploy to {env} failed")
    if document.get("kind") == "rollback" and status != "rolled_back":
        default = ":x: Rollback of {env} failed"
    lines = [f"### {_TITLES.get(status, default).format(env=env)}", "",
             _sentence(document, plain), ""]
    lines += [_facts(document, markdown_table, code), ""]
    metrics = _metrics(document, markdown_table, plain, code)
    if metrics:
        lines += ["**Candidate vs champion**", "", metrics, ""]
    smoke = _smoke(document, plain)
    if smoke:
        lines += [smoke, ""]
    steps = _steps(document, markdown_table, plain)
    if steps:
        lines += ["**Traffic steps**", "", steps, ""]
    lines += [f"- {plain(str(note))}" for note in document.get("notes") or []]
    return "\n".join(lines).rstrip() + "\n"


def deploy_text(document: Mapping[str, Any]) -> str:
    facts = _facts(document, table, str).split("\n", 1)[1]  # without the empty header
    sections = [_sentence(document, str), facts, _smoke(document, str),
                _metrics(document, table, str), _steps(document, table, str),
                *[f"note: {note}" for note in document.get("notes") or []]]
    return "\n\n".join(s for s in sections if s)


def _sentence(document: Mapping[str, Any], text: Text) -> str:
    message = str(document.get("message") or document["status"])
    return text(message) + ("" if message.endswith(".") else ".")  # names lead: never capitalised


def _facts(document: Mapping[str, Any], render: Table, shown: Text) -> str:
    def value(v: Any) -> str:
        return shown(str(v)) if v not in (None, "") else "-"

    if document.get("kind") == "rollback":
        lineage = document.get("to_lineage") or {}
        rows = [("environment", document["environment"]), ("model", document.get("pipeline")),
                ("from version", document.get("from_version")),
                ("to version", document.get("to_version")),
                ("commit", (lineage.get("git_sha") or "")[:12]),
                ("run", lineage.get("run_id")),
                ("registry version", lineage.get("registry_version"))]
    else:
        previous = document.get("previous") or {}
        rows = [("environment", document["environment"]),
                ("commit", (document.get("git_sha") or "")[:12]),
                ("pipeline", document.get("pipeline")),
                ("registry version", document.get("registry_version")),
                ("image", document.get("image")), ("run", document.get("run_id")),
                ("model version", document.get("model_version")),
                ("champion", previous.get("deployed_model_id"))]
    rows += [("endpoint", document.get("endpoint")), ("url", document.get("url")),
             ("result", document["status"])]
    return render(["", ""], [(name, value(v)) for name, v in rows if v or name == "result"])


def _smoke(document: Mapping[str, Any], text: Text) -> str:
    smoke = document.get("smoke")
    if not smoke or not smoke.get("instances"):
        return ""
    return (f"Smoke test: {smoke['predictions']} predictions for the {smoke['instances']} "
            f"instances of {text(str(smoke['source']))}.")


def _metrics(document: Mapping[str, Any], render: Table, text: Text,
             names: Text = str) -> str:
    gate = document.get("gate")
    if not gate or not gate.get("metrics"):
        return ""
    # The rule is the gate's own words around numbers from mlops.yaml; the name and the source
    # (artifact, output and task names) are the run's.
    rows = [(text(m["name"]), _number(m["candidate"]),
             source_words(m["source"], names) if m.get("source") else "-",
             _number(m["champion"]), m["rule"] or "-",
             ("ok" if m["ok"] else "FAIL") if m["rule"] else "")
            for m in gate["metrics"]]
    return render(["metric", "candidate", "source", "champion", "rule", ""], rows)


def _steps(document: Mapping[str, Any], render: Table, text: Text) -> str:
    steps = document.get("steps") or []
    if not steps:
        return ""
    rows = [(str(i), text(s["action"]), text(", ".join(
        f"{k} {v}%" for k, v in s["traffic"].items()) or "nothing deployed"),
        text(s["detail"] or "")) for i, s in enumerate(steps, 1)]
    return render(["#", "step", "traffic after", "detail"], rows)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
