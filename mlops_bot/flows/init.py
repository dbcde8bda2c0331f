"""Init: a starter mlops.yaml and the GitHub workflows, written into a repository.

Everything is rendered and every target checked before the first byte is written, so a refusal
(a file exists and --force was not given) leaves the repository exactly as it was. With --force
an existing mlops.yaml is never overwritten (it is the team's configuration), and an existing
workflow only gets the new action pin on its mlops-bot `uses:` lines. `.mlops/`, the local
backend's state, is added to `.gitignore`.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mlops_bot import __version__
from mlops_bot.errors import UsageError, UserError

__all__ = ["ACTION_PLACEHOLDER", "DEFAULT_ACTION_REF", "TEMPLATES", "VERSION_PLACEHOLDER",
           "InitFile", "InitOutcome", "init_repository", "render_files", "write_files"]

# Target path in the repository -> template file in mlops_bot/templates/.
TEMPLATES: dict[str, str] = {
    "mlops.yaml": "mlops.yaml",
    ".github/workflows/mlops-push.yml": "mlops-push.yml",
    ".github/workflows/mlops-plan.yml": "mlops-plan.yml",
    ".github/workflows/mlops-comment.yml": "mlops-comment.yml",
    ".github/workflows/mlops-retrain.yml": "mlops-retrain.yml",
    ".github/workflows/mlops-status.yml": "mlops-status.yml",
    ".github/workflows/mlops-monitor.yml": "mlops-monitor.yml",
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
# A `uses:` line of the mlops-bot action (any owner's `mlops-bot`, or the repository of the
# --action-ref given), pinned or not, with its version comment.
_USES = (r"^(\s*(?:-\s+)?uses:\s*)(?:[A-Za-z0-9-]+/mlops-bot|{repo})(/[A-Za-z0-9._/-]+)?@\S+"
         r"(\s*#.*)?$")
_STATE_IGNORED = {".mlops", ".mlops/", "/.mlops", "/.mlops/"}


@dataclass(frozen=True)
class InitFile:
    path: str  # relative to the repository, with '/'
    text: str


@dataclass(frozen=True)
class InitOutcome:
    written: list[str]  # paths written, relative to the repository
    notes: list[str]  # what was kept or merged, and what to do by hand


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
                        f"in {repo}; nothing was written. Pass --force to write the missing files "
                        "and pin the action in existing workflows (mlops.yaml is never "
                        "overwritten).")
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


def init_repository(repo: Path, force: bool, action_ref: str | None) -> InitOutcome:
    """Check the arguments, then write every file (see the module's docstring for --force)."""
    if action_ref is not None and not _ACTION_REF.fullmatch(action_ref):
        raise UsageError(f"--action-ref {action_ref!r} must look like OWNER/REPO@SHA with the "
                        "full 40-character commit SHA: a tag or branch could later point at "
                        "code nobody reviewed")
    if not repo.is_dir():
        raise UserError(f"{repo} is not a folder: pass --repo with your repository's root")
    if not (repo / ".git").exists():
        raise UserError(f"{repo} is not the root of a git repository (it has no .git): run "
                        "`git init` there first, or pass --repo with the repository's root; "
                        "GitHub reads workflows only from .github/workflows at the root")
    ref = action_ref or DEFAULT_ACTION_REF
    files, notes = render_files(ref), list[str]()
    if force:
        files, notes = _merged(repo, files, ref)
    written = write_files(repo, files, force)
    return InitOutcome(written + _ignore_state(repo), notes)


def _merged(repo: Path, files: list[InitFile], ref: str) -> tuple[list[InitFile], list[str]]:
    """What --force writes: an existing mlops.yaml is kept; an existing workflow keeps its
    text and gets `ref` on its mlops-bot `uses:` lines (or a note saying what to add)."""
    kept: list[InitFile] = []
    notes: list[str] = []
    pin = f"{ref} # v{__version__}"
    uses = re.compile(_USES.format(repo=re.escape(ref.split("@")[0])), re.M)
    for file in files:
        target = repo / file.path
        if not target.is_file():
            kept.append(file)
        elif file.path == "mlops.yaml":
            if target.read_text(encoding="utf-8") != file.text:
                notes.append("kept your mlops.yaml (--force never overwrites it); "
                             "`mlops-bot config check` validates it")
        else:
            text = target.read_text(encoding="utf-8")
            merged = uses.sub(lambda m: m.group(1) + pin, text)
            if uses.search(text) is None:
                notes.append(f"{file.path} runs no mlops-bot action, so it was kept as it is: "
                             f"add `uses: {pin}` to the steps that should run mlops-bot")
            elif merged != text:
                kept.append(InitFile(file.path, merged))
    return kept, notes


def _ignore_state(repo: Path) -> list[str]:
    """Add `.mlops/` (the local backend's state) to .gitignore, once; the paths written."""
    path = repo / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if any(line.strip() in _STATE_IGNORED for line in text.splitlines()):
        return []
    separator = "\n" if text and not text.endswith("\n") else ""
    try:
        _write_atomically(path, f"{text}{separator}# mlops-bot's local state\n.mlops/\n")
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}; add the line "
                        "`.mlops/` to it by hand") from None
    return [".gitignore"]
