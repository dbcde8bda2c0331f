"""`mlops-bot gc`: free what nothing refers to in the local state folder (and local images).

What is kept, always: every registry version (versions are immutable and small); the runs,
environments and images that something refers to: a registry tag (the newest succeeded run of a
tagged version, and the version's images), an endpoint's deployed model, a registered model
version, a lock or a promotion record (any run id, version or image named in `endpoints/`,
`locks/` or `models/`), a recent run (the newest `keep` per pipeline, and any newer than
`older_than`), a running run. What goes: other runs, environments (`envs/<image>-<hash>` and
run environments `envs/run-<hash>`) and the `mlops-local/...` Docker images a version of this
registry pins (only when an engine answers; the engine's other images may be another
repository's), and the leftovers of killed commands: `.incoming-*` folders of publishes, staged
temporary files, half-built environments and checkouts in the temporary folder.

Something may be in use by a command running now: an environment or run whose lock is held is
skipped, and nothing unreferenced younger than a grace period (`older_than`, at most 10 minutes;
a day for temporary checkouts) is removed. A referrer file that cannot be read stops gc before it
removes anything: what it refers to cannot be known.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.backends.local.files import TEMP_PATTERNS
from mlops_bot.backends.local.state_files import (
    disk_usage,
    local_images,
    remove,
    remove_image,
    unlocked,
)
from mlops_bot.console import progress
from mlops_bot.errors import UsageError, UserError
from mlops_bot.flows.results.gc import GcResult, Item
from mlops_bot.report.gc_report import human_bytes

if TYPE_CHECKING:
    from mlops_bot.config import Config

__all__ = ["GcResult", "Item", "collect_garbage", "parse_age", "state_size_note",
           "state_size_warnings"]

_GRACE = 600.0  # seconds: a push may be using what it made this recently
_CHECKOUT_GRACE = 86400.0  # a push's checkout lives as long as its runs
# What writers stage under (files.py), and what older releases staged under (`.tmp-*` of the
# registry, `run.tmp` of the runner).
_TEMPORARY = (*TEMP_PATTERNS, ".tmp-*", "run.tmp")
_CHECKOUTS = ("mlops-bot-checkout-*", "mlops-bot-build-*", "mlops-bot-compile-*")
_REFERRERS = ("endpoints", "locks", "models")
_COMPLETE = ".mlops-bot-complete"  # what the venv builder writes into a finished environment
_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 86400}


def parse_age(text: str) -> float:
    """`--older-than`: 30m, 12h, 7d, 2w, or a number of days; in seconds."""
    match = _AGE.match(text.strip())
    if match is None:
        raise UsageError(f"--older-than {text!r} is not an age: use a number and a unit, such as "
                         "30m, 12h, 7d or 2w (a bare number is days)")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class _References:
    """Every run id, version and image ref something that must be kept names."""

    strings: set[str] = field(default_factory=set)
    why: dict[str, str] = field(default_factory=dict)  # name -> who refers to it

    def add(self, name: str, why: str) -> None:
        self.strings.add(name)
        self.why.setdefault(name, why)

    def of(self, *names: str) -> str | None:
        return next((self.why[n] for n in names if n in self.why), None)


def collect_garbage(state: Path, repo: Path, keep: int, older_than: float,
                    dry_run: bool) -> GcResult:
    """Remove (or with `dry_run` only list) what nothing refers to; the result says what."""
    if keep < 0:
        raise UsageError(f"--keep {keep} is negative: give how many runs per pipeline to keep")
    result = GcResult(str(state), dry_run)
    if not state.is_dir():
        result.notes.append(f"no state folder at {state}: nothing to free")
        return result
    now = time.time()
    grace = min(older_than, _GRACE)
    references = _References()
    for folder in _REFERRERS:
        _named_in(state / folder, references)
    runs = _runs(state / "runs")
    versions = _versions(state / "registry", references)
    kept_runs = _keep_runs(state / "runs", runs, references, keep, now - older_than, result)
    for run_id in kept_runs:
        version = runs[run_id].get("version")
        if isinstance(version, str):
            references.add(version, f"run {run_id}")
    for version, manifest in versions.items():
        if version in references.strings:
            for ref in (manifest.get("images") or {}).values():
                references.add(str(ref), f"version {version}")
    _drop_runs(state / "runs", runs, kept_runs, now - max(older_than, grace), result)
    _drop_environments(state / "envs", runs, kept_runs, references, now - grace, result)
    ours = {str(ref) for manifest in versions.values()
            for ref in (manifest.get("images") or {}).values()}
    _drop_images(references, ours, now - grace, result)
    _drop_temporary(state, repo, now, grace, result)
    if not dry_run:
        result.removed = [item for item in result.removed if item.kind == "image"
                          or _removed(Path(item.name), item.kind)]
    return result


def _removed(path: Path, kind: str) -> bool:
    """Remove `path` unless a command took its lock since it was listed: whether it went."""
    lock = {"run": path / ".claim", "environment": path.parent / f".{path.name}.lock"}.get(kind)
    if lock is None:  # a leftover nobody locks
        remove(path)
        return True
    # What makes it look whole goes first: a gc killed half-way leaves a run with no record
    # (the next gc removes it) or an environment the builder rebuilds, never a broken "whole" one.
    marker = path / ("run.json" if kind == "run" else _COMPLETE)
    with unlocked(lock) as free:
        if free:
            remove(marker)
            remove(path)
    return free


def _named_in(folder: Path, references: _References) -> None:
    """Every string in the JSON files under `folder` (endpoints, locks, models)."""
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue  # a staged temporary file
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise UserError(f"gc removed nothing: {path} cannot be read ({error}), so what it "
                            "refers to is unknown; fix or move it aside and run gc again") from None
        for text in _strings(document):
            references.add(text, str(path.relative_to(folder.parent)))
            if "/runs/" in text:  # an artifact's path names its run's folder
                references.add(text.split("/runs/", 1)[1].split("/", 1)[0],
                               str(path.relative_to(folder.parent)))


def _strings(document: Any) -> Iterator[str]:
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for value in document.values():
            yield from _strings(value)
    elif isinstance(document, list):
        for value in document:
            yield from _strings(value)


def _runs(folder: Path) -> dict[str, dict[str, Any]]:
    """Run id -> its record (an unreadable record is kept, as `{}`)."""
    runs: dict[str, dict[str, Any]] = {}
    for run in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not run.is_dir():
            continue
        try:
            document = json.loads((run / "run.json").read_text())
        except FileNotFoundError:
            document = {"status": "unrecorded"}
        except (OSError, ValueError):
            document = {}
        runs[run.name] = document if isinstance(document, dict) else {}
    return runs


def _versions(registry: Path, references: _References) -> dict[str, dict[str, Any]]:
    """Version -> manifest; tagged versions are added to `references`."""
    manifests: dict[str, dict[str, Any]] = {}
    for path in registry.glob("pipelines/*/versions/v-*/manifest.json"):
        manifest = _read(path)  # gc keeps what it cannot read; `registry list` reports it
        if manifest:
            manifests[path.parent.name] = manifest
    for tag in registry.glob("pipelines/*/tags/[!.]*"):
        try:
            version = tag.read_text().strip()
        except (OSError, ValueError) as error:
            raise UserError(f"gc removed nothing: {tag} cannot be read ({error}), so what it "
                            "refers to is unknown; fix or move it aside and run gc again") from None
        references.add(version, f"tag {tag.parts[-3]}:{tag.name}")
    return manifests


def _keep_runs(folder: Path, runs: dict[str, dict[str, Any]], references: _References,
               keep: int, cutoff: float, result: GcResult) -> set[str]:
    """The runs that stay, each with why in `result.kept`."""
    kept: dict[str, str] = {}
    by_pipeline: dict[str, list[tuple[str, str]]] = {}
    newest_succeeded: dict[str, tuple[str, str]] = {}  # version -> (started_at, run id)
    for run_id, record in runs.items():
        started = str(record.get("started_at") or "")
        if record.get("pipeline"):
            by_pipeline.setdefault(str(record["pipeline"]), []).append((started, run_id))
        version = str(record.get("version"))
        if record.get("status") == "succeeded" and (started, run_id) > newest_succeeded.get(
                version, ("", "")):
            newest_succeeded[version] = (started, run_id)
        named = references.of(run_id)
        if not record:
            kept[run_id] = "its run.json cannot be read: fix or remove it by hand"
        elif record.get("status") == "running":
            kept[run_id] = "running"
        elif named:
            kept[run_id] = f"referred to by {named}"
        elif _epoch(started) > cutoff:
            kept[run_id] = "recent"
    for listed in by_pipeline.values():
        for _, run_id in sorted(listed, reverse=True)[:keep]:
            kept.setdefault(run_id, f"one of the newest {keep} of its pipeline")
    for version, (_, run_id) in newest_succeeded.items():
        named = references.of(version)
        if named and named.startswith("tag "):
            kept.setdefault(run_id, f"the run of {named}")
    for run_id, why in sorted(kept.items()):
        result.kept.append(Item("run", str(folder / run_id), 0, why))
    return set(kept)


def _drop_runs(folder: Path, runs: dict[str, dict[str, Any]], kept: set[str], cutoff: float,
               result: GcResult) -> None:
    for run_id, record in sorted(runs.items()):
        path = folder / run_id
        if run_id in kept or path.stat().st_mtime > cutoff:
            continue
        with unlocked(path / ".claim") as free:
            if not free:
                continue  # claimed by a push right now
        why = ("a run folder with no record (a push was killed before it ran)"
               if record.get("status") == "unrecorded" else
               f"an old {record.get('status')} run nothing refers to")
        result.removed.append(Item("run", str(path), disk_usage(path), why))


def _drop_environments(folder: Path, runs: dict[str, dict[str, Any]], kept_runs: set[str],
                       references: _References, cutoff: float, result: GcResult) -> None:
    used = {}  # environment folder name -> the kept run that ran in it
    for run_id in kept_runs:
        request = _read(folder.parent / "runs" / run_id / "request.json")
        python = request.get("environment")
        if isinstance(python, str):
            used[Path(python).parent.parent.name] = run_id
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not path.is_dir() or path.name.startswith("."):
            continue
        image, _, tag = path.name.rpartition("-")
        why = references.of(f"mlops-local/{image}:{tag}")
        if why is None and path.name in used:
            why = f"run {used[path.name]}"
        if why is not None:
            result.kept.append(Item("environment", str(path), 0, f"referred to by {why}"))
            continue
        if path.stat().st_mtime > cutoff:
            continue
        with unlocked(folder / f".{path.name}.lock") as free:
            if not free:
                continue  # being built or used right now
        state = ("half-built (its build was killed)" if not (path / _COMPLETE).is_file()
                 else "nothing refers to it")
        result.removed.append(Item("environment", str(path), disk_usage(path), state))


def _drop_images(references: _References, ours: set[str], cutoff: float,
                 result: GcResult) -> None:
    """Images some version of this registry pins (others may be another repository's: the
    engine is shared) that nothing kept refers to."""
    for image in local_images():
        names = {*image.tags, *(f"mlops-local/{t.split('/', 1)[1].split(':')[0]}:"
                                f"id-{image.id.removeprefix('sha256:')}" for t in image.tags)}
        if not names & ours:
            continue
        why = references.of(*sorted(names))
        if why is not None:
            result.kept.append(Item("image", " ".join(image.tags), 0, f"referred to by {why}"))
        elif _epoch(image.created) <= cutoff:
            result.removed.append(Item("image", " ".join(image.tags), image.size,
                                       "nothing refers to it"))
            if not result.dry_run:
                refused = remove_image(image)
                if refused:
                    result.removed.pop()
                    result.notes.append(f"kept image {image.tags[0]}: {refused}")


def _drop_temporary(state: Path, repo: Path, now: float, grace: float,
                    result: GcResult) -> None:
    folders = [p for p in state.iterdir() if p.is_dir() and p.name not in ("envs", "cache")]
    found = [p for folder in [state, *folders] for pattern in _TEMPORARY
             for p in (folder.glob(pattern) if folder == state else folder.rglob(pattern))]
    found += [p for pattern in _TEMPORARY for p in (state / "envs").glob(pattern)]
    found = sorted(set(found))
    for path in [p for p in found if not any(q in p.parents for q in found)]:  # outermost
        if path.lstat().st_mtime <= now - grace:
                result.removed.append(Item("temporary", str(path), disk_usage(path),
                                       "left by a command that was killed"))
    scratch = Path(tempfile.gettempdir())
    checkouts = [p for pattern in _CHECKOUTS for p in sorted(scratch.glob(pattern))
                 if p.lstat().st_mtime <= now - max(grace, _CHECKOUT_GRACE)]
    for path in checkouts:
        result.removed.append(Item("temporary", str(path), disk_usage(path),
                                   "a checkout or build folder left by a killed push"))
    if checkouts and not result.dry_run and (repo / ".git").exists():
        # The worktrees of removed checkouts are forgotten once their folders are gone.
        for path in checkouts:
            remove(path)
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)


def state_size_warnings(config: Config, repo_root: Path) -> list[str]:
    """`push`'s warning (also on stderr) when the local state folder has grown past
    `local.state_size_warning` of mlops.yaml; none on gcp."""
    from mlops_bot.backends.factory import state_dir

    if config.backend != "local":
        return []
    note = state_size_note(state_dir(config, repo_root), config.local.state_size_warning)
    if note is None:
        return []
    progress(f"warning: {note}")
    return [note]


def state_size_note(state: Path, limit: int | None) -> str | None:
    """A warning when the state folder takes more than `limit` bytes (None: never)."""
    if limit is None or not state.is_dir():
        return None
    used = disk_usage(state)
    if used <= limit:
        return None
    return (f"the state folder {state} takes {human_bytes(used)}, more than "
            f"local.state_size_warning ({human_bytes(limit)}) of mlops.yaml: `mlops-bot gc` "
            "frees the runs, environments and images nothing refers to")


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _epoch(timestamp: str) -> float:
    """Seconds since the epoch of an ISO 8601 time; 0 when there is none (old, not recent)."""
    # Docker's times have nanoseconds and a Z; fromisoformat takes microseconds and +00:00.
    exact = re.sub(r"(\.\d{6})\d+", r"\1", timestamp.strip()).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(exact).timestamp()
    except ValueError:
        return 0.0
