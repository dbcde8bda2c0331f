"""The plan as a terminal table."""

from __future__ import annotations

from mlops_bot.repo.layout import Pipeline, Problem
from mlops_bot.repo.plan import Plan
from mlops_bot.report.markdown import plain
from mlops_bot.report.tables import code, markdown_table, table

__all__ = ["render_pipelines", "render_plan", "render_plan_markdown"]


def render_plan(plan: Plan) -> str:
    compared = plan.compared_with[:12] if plan.compared_with else "nothing (full plan)"
    out = [f"Plan for {plan.head[:12]} (compared with {compared})"]
    if plan.everything_reason:
        out.append(f"Every pipeline: {plan.everything_reason}")
    out += [f"Note: {note}" for note in plan.notes]
    if plan.pipelines:
        rows = []
        for p in plan.pipelines:
            builds = ", ".join(f"{i.image.name} ({i.image.content_hash[:12]})"
                               for i in p.images if i.rebuild) or "-"
            rows.append([p.name, p.status, builds, "; ".join(p.reasons)])
        out += ["", table(["PIPELINE", "STATUS", "IMAGES TO BUILD", "WHY"], rows)]
    else:
        out += ["", "No pipeline is affected."]
    rebuilt_shared = [i for i in plan.shared_images if i.rebuild]
    if rebuilt_shared:
        out += ["", "Shared images to build: " + ", ".join(
            f"{i.image.name} ({i.image.content_hash[:12]})" for i in rebuilt_shared)]
    if plan.deleted:
        out += ["", "Deleted (not built): " + ", ".join(plan.deleted)]
    if plan.config_changes:
        out += ["", "mlops.yaml sections changed: " + ", ".join(plan.config_changes)]
    out += _broken(plan.broken)
    return "\n".join(out)


def render_plan_markdown(plan: Plan) -> str:
    """The plan as a PR comment: what a merge of this PR would rebuild and why. Names and paths
    come from the PR's files, so each is shown as code or plain text, never as Markdown."""
    compared = plan.compared_with[:12] if plan.compared_with else "nothing (full plan)"
    out = [f"### mlops-bot plan for `{plan.head[:12]}`", "",
           f"Compared with `{compared}`."]
    if plan.everything_reason:
        out.append(f"Every pipeline is planned: {plain(plan.everything_reason)}.")
    if plan.pipelines:
        rows = [[code(p.name), p.status,
                 ", ".join(code(i.image.name) for i in p.images if i.rebuild) or "-",
                 "<br>".join(plain(r) for r in p.reasons)] for p in plan.pipelines]
        out += ["", markdown_table(["Pipeline", "Status", "Images to build", "Why"], rows)]
    else:
        out += ["", "No pipeline is affected."]
    if plan.deleted:
        out += ["", "Deleted (not built): " + ", ".join(code(d) for d in plan.deleted)]
    for name, problems in sorted(plan.broken.items()):
        out += ["", f":x: {code(name)} is broken:"] + [f"- {code(str(p))}" for p in problems]
    return "\n".join(out)


def render_pipelines(pipelines: list[Pipeline], broken: dict[str, list[Problem]]) -> str:
    rows = [[p.name, ", ".join(c.name for c in p.components) or "-",
             ", ".join(i.name for i in p.images) or "-"] for p in pipelines]
    out = [table(["PIPELINE", "COMPONENTS", "IMAGES"], rows)] if rows else ["No pipelines found."]
    return "\n".join(out + _broken(broken))


def _broken(broken: dict[str, list[Problem]]) -> list[str]:
    if not broken:
        return []
    lines = ["", "Broken (not built; fix these):"]
    for name, problems in sorted(broken.items()):
        lines += [f"  {name}: {problem}" for problem in problems]
    return lines
