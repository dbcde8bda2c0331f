"""`mlops-bot plan` and `mlops-bot pipelines`: read-only views of the repository."""

from __future__ import annotations

from pathlib import Path

from mlops_bot.console import emit_json, say
from mlops_bot.errors import EXIT_FAILED, EXIT_OK, UserError

__all__ = ["run_pipelines_list", "run_plan"]


def run_plan(
    repo: Path, base: str, head: str, as_json: bool, default_branch: str | None = None
) -> int:
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.repo.planner import ChangePlanner
    from mlops_bot.report.plan_report import render_plan

    plan = ChangePlanner(GitRepo(repo), default_branch).plan(base, head)
    if as_json:
        emit_json(plan.to_dict())
    else:
        say(render_plan(plan))
    return EXIT_OK if plan.ok else EXIT_FAILED


def run_pipelines_list(repo: Path, ref: str, as_json: bool) -> int:
    from mlops_bot.repo.config_diff import config_at
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.repo.layout import discover_pipelines
    from mlops_bot.report.plan_report import render_pipelines

    git = GitRepo(repo)
    commit = git.resolve(ref)
    if commit is None:
        raise UserError(f"--ref {ref} is not a commit in {git.root}")
    config = config_at(git, commit)
    pipelines, broken = discover_pipelines(git.tree(commit, [config.pipelines_dir]),
                                           config.pipelines_dir)
    if as_json:
        emit_json({
            "ref": commit,
            "pipelines": [
                {"name": p.name, "path": p.path,
                 "components": [{"name": c.name, "kind": c.kind, "image": c.image}
                                for c in p.components],
                 "images": [{"name": i.name, "kind": i.kind, "content_hash": i.content_hash}
                            for i in p.images]}
                for p in pipelines.values()
            ],
            "broken": [{"name": n, "errors": [str(p) for p in ps]} for n, ps in broken.items()],
        })
    else:
        say(render_pipelines(list(pipelines.values()), broken))
    return EXIT_OK if not broken else EXIT_FAILED
