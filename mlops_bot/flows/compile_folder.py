"""Compile pipelines of the checked-out commit into a folder, publishing nothing.

The same compilation as `push` (each pipeline in its own environment, one worker per
environment), of the working tree's files, for looking at the IR a pipeline produces or checking
that every pipeline compiles, e.g. in a pre-commit hook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_bot.errors import UserError

__all__ = ["compile_to_folder"]


def compile_to_folder(repo: Path, names: list[str], out: Path,
                      pins: dict[str, str]) -> list[dict[str, Any]]:
    """Compile `names` (all when empty) into OUT/<pipeline>.yaml; one result per pipeline, with
    `ok` and either `path` or `error`."""
    from mlops_bot.backends.factory import state_dir
    from mlops_bot.compile_pool import CompileJob, compile_in_environments
    from mlops_bot.config import load_config
    from mlops_bot.precompiled import precompiled_outcome
    from mlops_bot.repo.checks import configured_function
    from mlops_bot.repo.entries import discover_at
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.repo.layout import Problem

    git = GitRepo(repo)  # from any folder of the repository
    config = load_config(git.root)
    head = git.resolve("HEAD")
    if head is None:
        raise UserError(f"{git.root} has no commit yet: commit the pipelines first")
    pipelines, broken = discover_at(git, head, config)  # mlops.yaml entries: or pipelines_dir
    unknown = sorted(set(names) - set(pipelines) - set(broken))
    if unknown:
        raise UserError(f"no pipeline named {', '.join(unknown)} (pipelines: "
                        f"{', '.join(pipelines) or 'none'})")
    selected = [p for name, p in pipelines.items() if not names or name in names]
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    jobs = [CompileJob(p.name, p.path, configured_function(config, p.name), p.definition)
            for p in selected if not p.spec]  # a compiled spec entry is published as it is
    # The working tree, as before a commit (a pre-commit hook); `push` compiles the commit.
    outcomes = compile_in_environments(git.root, jobs, pins, state_dir(config, git.root) / "envs")
    outcomes.update({p.name: precompiled_outcome(git.root, p.definition, p.name, pins)
                     for p in selected if p.spec})
    for pipeline in selected:
        compiled = outcomes[pipeline.name]
        if isinstance(compiled, Problem):
            results.append({"pipeline": pipeline.name, "ok": False, "error": str(compiled)})
            continue
        target = out / f"{pipeline.name}.yaml"
        target.write_bytes(compiled.spec)
        results.append({"pipeline": pipeline.name, "ok": True, "path": str(target)})
    results += [{"pipeline": n, "ok": False, "error": str(ps[0])} for n, ps in broken.items()
                if not names or n in names]
    return results
