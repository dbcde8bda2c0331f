"""`mlops-bot endpoints list|show` as text: what serves where, with traffic and lineage (git SHA
-> image -> registry version -> run -> model version), from the documents `--json` prints."""

from __future__ import annotations

from typing import Any

from mlops_bot.report.tables import table

__all__ = ["endpoint_text", "endpoints_table"]


def endpoints_table(documents: list[dict[str, Any]]) -> str:
    """`endpoints list`: one row per deployed model (or per empty endpoint)."""
    rows = []
    for document in documents:
        models = document["deployed"] or [None]
        for model in models:
            rows.append([document["environment"], document["endpoint"],
                         *(_model_cells(model) if model else ["-", "-", "-", "-", "-"]),
                         document["url"] or "-"])
    problems = [f"{d['environment']}: {m['deployed_model_id']}: {m['problem']}"
                for d in documents for m in d["deployed"] if m.get("problem")]
    return "\n".join([table(["ENV", "ENDPOINT", "DEPLOYED MODEL", "VERSION", "TRAFFIC", "GIT SHA",
                             "RUN", "URL"], rows), *(f"problem: {p}" for p in problems)])


def _model_cells(model: dict[str, Any]) -> list[str]:
    return [model["deployed_model_id"], f"{model['model']} v{model['model_version']}",
            f"{model['traffic']}%", model["lineage"]["git_sha"][:12] or "-",
            model["lineage"]["run_id"] or "-"]


def endpoint_text(document: dict[str, Any]) -> str:
    """`endpoints show`: one environment's endpoint with each model's traffic and lineage."""
    head = f"{document['environment']}: endpoint {document['endpoint']}"
    if not document["exists"]:
        return head + " has not been created yet: `mlops-bot deploy " \
            f"{document['environment']} --pipeline P` creates it"
    lines = [head + f" (revision {document['etag']})",
             f"  url: {document['url'] or 'not served here (run `mlops-bot serve '}"
             + ("" if document["url"] else f"{document['environment']}`)")]
    if not document["deployed"]:
        lines.append("  nothing is deployed")
    for model in document["deployed"]:
        lineage = model["lineage"]
        aliases = ", ".join(model["aliases"]) or "-"
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in sorted(model["metrics"].items())) or "-"
        lines += [f"  {model['deployed_model_id']}: {model['traffic']}% of traffic "
                  f"(aliases: {aliases})",
                  f"    git {lineage['git_sha'][:12] or '?'} -> image {lineage['image'] or '?'}"
                  f" -> registry {lineage['registry_version'] or '?'} -> run "
                  f"{lineage['run_id'] or '?'} -> {model['model']} version "
                  f"{model['model_version']}",
                  f"    metrics: {metrics}"]
        if model.get("problem"):
            lines.append(f"    problem: {model['problem']}")
    return "\n".join(lines)
