"""After a push in the action: one check run per pipeline on the pushed commit (see
mlops_bot.github.run_checks), so `/deploy` can be answered without cloud credentials.

Pipelines the push built say what happened to them. Pipelines it did not touch compile to the
same version as on the commit the push was compared with, so that commit's record is carried
over (naming the commit that produced the run): a docs-only commit, a rebase or a merge that does
not change a pipeline is deployable with the run an earlier commit made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.github.run_checks import (
    RunCheck,
    check_name,
    conclusion_of,
    read_run_checks,
    render_check,
    sanitized_metrics,
    short_error,
    web_url,
    workflow_run_url,
)

if TYPE_CHECKING:
    from mlops_bot.flows.results.push import PushResult
    from mlops_bot.github.forge import Forge
    from mlops_bot.repo.git import GitRepo

__all__ = ["publish_run_checks", "push_records"]


def publish_run_checks(forge: Forge, result: PushResult, git: GitRepo,
                       environ: Mapping[str, str]) -> str:
    """Write the records of the pushed commit; returns "" or why they could not be written
    (the push job then fails: without them `/deploy` cannot find this commit's runs)."""
    from mlops_bot.github.pygithub_client import ForgeError

    details_url = workflow_run_url(environ)
    try:
        records = push_records(forge, result, git)
        for record in records:
            title, summary, text = render_check(record)
            forge.create_check_run(record.recorded_on, check_name(record.pipeline),
                                   conclusion_of(record), title, summary, text, details_url)
    except (UserError, ForgeError) as error:
        problem = f"the check runs `/deploy` reads could not be written: {error}"
        result.notes.append(problem)
        return problem
    result.notes.append(f"check runs written on {result.plan.head[:12]} for "
                        f"{len(records)} pipeline(s)")
    progress(f"  check runs: {', '.join(f'{r.pipeline} {r.run_status}' for r in records)}")
    return ""


def push_records(forge: Forge, result: PushResult, git: GitRepo) -> list[RunCheck]:
    """One record per pipeline at the pushed commit."""
    from mlops_bot.repo.config_diff import config_at, layout_at
    from mlops_bot.repo.entries import discover_at
    from mlops_bot.repo.git import EMPTY_TREE

    plan = result.plan
    head = plan.head
    backend = config_at(git, head).backend
    layout = layout_at(git, head)
    pipelines, _ = discover_at(git, head, layout)
    planned = {p.name for p in plan.pipelines} | set(plan.broken)
    earlier = plan.compared_with if plan.compared_with not in (None, EMPTY_TREE) else None
    carried = read_run_checks(forge.check_runs(earlier), earlier) if earlier and (
        set(pipelines) - planned) else {}
    records = []
    for name in sorted(set(pipelines) | planned):
        if name in planned:
            records.append(_built(result, name, backend))
        else:
            records.append(_carried(carried.get(name), name, head, earlier, backend))
    return records


def _built(result: PushResult, pipeline: str, backend: str) -> RunCheck:
    head = result.plan.head
    base = RunCheck(pipeline=pipeline, recorded_on=head, run_status="not_published",
                    backend=backend)
    if pipeline in result.plan.broken:
        problems = "; ".join(str(p) for p in result.plan.broken[pipeline])
        return replace(base, error=short_error(problems))
    version = next((v for v in result.versions if v.pipeline == pipeline), None)
    if version is None or version.version is None:
        return replace(base, error=short_error(version.error if version else "not built"))
    run = next((r for r in result.runs if r.pipeline == pipeline), None)
    if run is None:
        return replace(base, run_status="not_run", version=version.version)
    succeeded = run.status in ("succeeded", "existing")
    status = "succeeded" if succeeded else "running" if run.status == "running" else "failed"
    return replace(base, run_status=status,
                    version=version.version, run_id=run.run_id or None,
                    run_url=web_url(run.url), produced_by=run.produced_by or head,
                    parameters=dict(run.parameters), metrics=sanitized_metrics(run.metrics),
                    error=short_error(run.error))


def _carried(earlier: RunCheck | Exception | None, pipeline: str, head: str,
             earlier_sha: str | None, backend: str) -> RunCheck:
    if isinstance(earlier, RunCheck):
        return replace(earlier, recorded_on=head,
                        carried_from=earlier.carried_from or earlier.recorded_on)
    why = (f"the record on {earlier_sha[:12]} is invalid ({earlier})"
           if isinstance(earlier, Exception) and earlier_sha else
           f"commit {earlier_sha[:12]} has no record of it" if earlier_sha else
           "there was no earlier commit to compare with")
    return RunCheck(pipeline=pipeline, recorded_on=head, run_status="unknown", backend=backend,
                    error=short_error(f"this push did not change {pipeline} and {why}: push a "
                                      f"change to {pipeline}, or re-run the push workflow of "
                                      "the commit that last changed it"))
