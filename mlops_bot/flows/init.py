"""Init: a starter mlops.yaml and the GitHub workflows, written into a repository.

Everything is rendered and every target checked before the first byte is written, so a refusal
(a file exists and --force was not given) leaves the repository exactly as it was.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mlops_bot import __version__
from mlops_bot.errors import UserError

__all__ = ["ACTION_PLACEHOLDER", "DEFAULT_ACTION_REF", "TEMPLATES", "VERSION_PLACEHOLDER",
           "InitFile", "init_repository", "render_files", "write_files"]

# Target path in the repository -> template file in mlops_bot/templates/.
TEMPLATES: dict[str, str] = {
    "mlops.yaml": "mlops.yaml",
    ".github/workflows/mlops-push.yml": "mlops-push.yml",
    ".github/workflows/mlops-plan.yml": "mlops-plan.yml",
    ".github/workflows/mlops-comment.yml": "mlops-comment.yml",
    ".github/workflows/mlops-retrain.yml": "mlops-retrain.yml",
}
ACTION_PLACEHOLDER = "__MLOPS_BOT_ACTION__"
# The version comment beside the pin: these templates fit the action of the release they ship in.
VERSION_PLACEHOLDER = "__MLOPS_BOT_VERSION__"
# No release is published yet, so there is no commit to pin by default: the all-zero SHA keeps
# the workflows well-formed but fails loudly at their first run until --action-ref is given.
DEFAULT_ACTION_REF = "mlops-bot/mlops-bot@" + "0" * 40
# A full commit SHA only: a tag or branch can be moved to other code after it was reviewed.
_ACTION_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}"
                         r"(/[A-Za-z0-9._/-]+)?@[0-9a-f]{40}")


@dataclass(frozen=True)
class InitFile:
    path: str  # relative to the repository, with '/'
    text: str


def render_files(action_ref: str) -> list[InitFile]:
    """Every file init writes, with the workflows using the action at `action_ref`."""
    templates = resources.files("mlops_bot") / "templates"
    return [InitFile(target, (templates / name).read_text(encoding="utf-8")
                     .replace(ACTION_PLACEHOLDER, action_ref)
                     .replace(VERSION_PLACEHOLDER, __version__))
            for target, name in TEMPLATES.items()]


def write_files(repo: Path, files: list[InitFile], force: bool) -> list[str]:
    """Write `files` under `repo`; without `force`, refuse (writing nothing) if any exists."""
    existing = [f.path for f in files if (repo / f.path).exists()]
    if existing and not force:
        raise UserError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''} "
                        f"in {repo}; nothing was written. Pass --force to overwrite "
                        f"{'it' if len(existing) == 1 else 'them'}.")
    created: list[Path] = []
    try:
        for file in files:
            target = repo / file.path
            new = not target.exists()
            _write_atomically(target, file.text)
            if new:
                created.append(target)
    except OSError as error:
        # Take back what this run created, so a failure half-way leaves no partial set-up.
        for path in created:
            path.unlink(missing_ok=True)
        raise UserError(f"cannot write {error.filename or repo}: {error.strerror or error}; "
                        "the files this run had created were removed") from None
    return [f.path for f in files]


def _write_atomically(target: Path, text: str) -> None:
    # A file appears whole or not at all, even if the process dies while writing it.
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the file from other users
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def init_repository(repo: Path, force: bool, action_ref: str | None) -> list[str]:
    """Check the arguments, then write every file; the paths written."""
    if action_ref is not None and not _ACTION_REF.fullmatch(action_ref):
        raise UserError(f"--action-ref {action_ref!r} must look like OWNER/REPO@SHA with the "
                        "full 40-character commit SHA: a tag or branch could later point at "
                        "code nobody reviewed")
    if not repo.is_dir():
        raise UserError(f"{repo} is not a folder: pass --repo with your repository's root")
    if not (repo / ".git").exists():
        raise UserError(f"{repo} is not the root of a git repository (it has no .git): run "
                        "`git init` there first, or pass --repo with the repository's root; "
                        "GitHub reads workflows only from .github/workflows at the root")
    return write_files(repo, render_files(action_ref or DEFAULT_ACTION_REF), force)
