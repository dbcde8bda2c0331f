"""From a commit range to a plan: which pipelines to recompile and which images to rebuild.

The rules (the README documents them for users):
- a file under `<pipelines_dir>/<p>/` affects `<p>`; files that go into its image (src/, the
  Dockerfile, package metadata...) rebuild the pipeline image; a file of a component with its own
  Dockerfile rebuilds that component's image only;
- a shared-library change affects the pipelines that import it (see `mlops_bot.repo.shared`);
- an `mlops.yaml` change affects what it changes (see `mlops_bot.repo.config_diff`);
- when the range cannot be diffed (the default branch's first push, a new branch without a default
  branch, base commit missing after a force-push or in a shallow clone), or with `--all`, every
  pipeline is planned, with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from mlops_bot.config_location import config_file, state_folder
from mlops_bot.errors import UserError
from mlops_bot.repo.checks import check_syntax, configured_function, definition_check
from mlops_bot.repo.config_diff import config_at, config_impact, layout_at
from mlops_bot.repo.entries import discover_at, entries_of, owner
from mlops_bot.repo.git import EMPTY_TREE, Change, GitRepo
from mlops_bot.repo.image_index import ImageIndex, image_index_file
from mlops_bot.repo.image_users import (
    changed_repository_images,
    image_input,
    image_users_with_importers,
    repository_images,
)
from mlops_bot.repo.import_index import ImportIndex, index_file
from mlops_bot.repo.layout import (
    Pipeline,
    Problem,
    discover_pipelines,
    discover_shared_images,
    is_image_input,
)
from mlops_bot.repo.plan import ImagePlan, PipelinePlan, Plan
from mlops_bot.repo.shared import shared_impact
from mlops_bot.repo.sources import Sources

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlops_bot.config import Config
    from mlops_bot.repo.config_diff import LayoutSettings

__all__ = ["ChangePlanner"]

_VERBS = {"A": "added", "M": "modified", "D": "deleted", "T": "changed type", "C": "copied"}


@dataclass
class _Touched:
    """What the diff says about one pipeline folder."""

    files: list[tuple[str, str]] = field(default_factory=list)  # (path inside folder, reason)
    reasons: list[str] = field(default_factory=list)


class ChangePlanner:
    """Plans a commit range of one repository.

    With `cache` (the default) what definition files import and their checks are kept in the
    state folder (`mlops_bot.repo.import_index`), so the next plan rereads only what changed.
    """

    def __init__(self, repo: GitRepo, default_branch: str | None = None,
                 cache: bool = True, pushed_default_branch: str | None = None) -> None:
        self._repo = repo
        self._default_branch = default_branch
        self._cache = cache
        # Set when the range is a push to the default branch: with an all-zero base that is the
        # branch's first push, which has no merge base to compare with but itself.
        self._pushed_default_branch = pushed_default_branch

    def plan_all(self, head: str) -> Plan:
        """Every pipeline and shared image at `head`, whatever changed (`--all`)."""
        return self.plan("", head, everything="--all: planning every pipeline at "
                         f"{head[:12]}")

    def plan(self, base: str, head: str, everything: str | None = None) -> Plan:
        self._sources = Sources(self._repo)
        head_sha = self._repo.resolve(head)
        if head_sha is None:
            raise UserError(f"--head {head} is not a commit in {self._repo.root}: fetch it first")
        config = layout_at(self._repo, head_sha)
        self._config = config  # for pipelines.<name>.function
        self._head = head_sha
        file = index_file(state_folder(self._repo.root, getattr(config, "state_dir", ".mlops")),
                          config.pipelines_dir, config.shared) if self._cache else None
        self._index = (ImportIndex(file, config.pipelines_dir, config.shared)
                       if file and not entries_of(config) else None)
        self._images = ImageIndex(image_index_file(
            file.parent.parent, config.pipelines_dir, config.shared)) if file else None
        compared, everything_reason, notes = ((None, everything, []) if everything
                                              else self._comparison(base, head_sha, config))
        plan = Plan(base, head_sha, compared, everything_reason, notes=notes)
        if compared is None:
            self._plan_everything(plan, config)
        else:
            self._plan_changes(plan, config, compared)
        if self._index:
            self._index.save()
        if self._images:
            self._images.save()
        return plan

    def _comparison(
        self, base: str, head: str, config: LayoutSettings
    ) -> tuple[str | None, str | None, list[str]]:
        """The commit to diff against, or None and the reason everything must be planned."""
        if set(base) == {"0"}:  # GitHub sends all zeros as `before` for a new branch
            if self._pushed_default_branch:
                return None, (f"first push of the default branch {self._pushed_default_branch} "
                              f"(base {base[:12]}): planning every pipeline"), []
            branch = self._branch_to_compare(config)
            merge_base = self._repo.merge_base(branch, head) if branch else None
            if merge_base is None:
                return None, (f"new branch (base {base[:12]}) and no default branch "
                              f"({self._default_branch or config.default_branch}) to compare "
                              "with: planning every pipeline"), []
            return merge_base, None, [f"new branch: compared with its merge base with {branch} "
                                      f"({merge_base[:12]})"]
        if base == EMPTY_TREE:  # the first commit: everything in it is added
            return EMPTY_TREE, None, ["first commit: every pipeline in it is new"]
        base_sha = self._repo.resolve(base)
        if base_sha is None:
            return None, (f"base commit {base[:12]} is not in this clone (a force-push, or a "
                          "shallow clone: check out with fetch-depth: 0): planning every "
                          "pipeline"), []
        return base_sha, None, []

    def _branch_to_compare(self, config: LayoutSettings) -> str | None:
        if self._default_branch:
            return self._default_branch
        for candidate in (f"origin/{config.default_branch}", config.default_branch):
            if self._repo.resolve(candidate):
                return candidate
        return self._repo.default_branch()

    def _plan_everything(self, plan: Plan, config: LayoutSettings) -> None:
        if entries_of(config):
            pipelines, broken = discover_at(self._repo, plan.head, config)
            blobs: dict[str, str] = {}
        else:
            entries = self._repo.tree(plan.head, [config.pipelines_dir])
            pipelines, broken = discover_pipelines(entries, config.pipelines_dir)
            blobs = {e.path: e.sha for e in entries if e.kind == "blob"}
        plan.broken.update(broken)
        reason = plan.everything_reason or ""
        for pipeline in pipelines.values():
            self._add(plan, pipeline, "modified", [reason], reason, [], blobs)
        shared_entries = self._repo.tree(plan.head, config.shared)
        plan.shared_images = [ImagePlan(image, True, [reason])
                              for image in discover_shared_images(shared_entries, config.shared)]
        plan.shared_images += [ImagePlan(image, True, [reason])
                               for image in repository_images(self._repo, plan.head, config)]

    def _plan_changes(self, plan: Plan, config: LayoutSettings, compared: str) -> None:
        changes = self._repo.changes(compared, plan.head)
        if entries_of(config):
            touched, shared_changes, outside = self._classify_entries(changes, config, plan,
                                                                      compared)
        else:
            touched, shared_changes, outside = self._classify(changes, config)
        if outside:
            plan.notes.append(f"{outside} changed file(s) outside {config.pipelines_dir}/ and the "
                              "shared paths affect no pipeline")
        if any(config_file() in (c.path, c.old_path) for c in changes):
            by_config = config_impact(_config_or_none(self._repo, compared),
                                      config_at(self._repo, plan.head))
            plan.config_changes = by_config.changed_sections
            if by_config.everything_reason:
                plan.everything_reason = by_config.everything_reason
                plan.compared_with = None
                self._plan_everything(plan, config)
                return
            for name, reasons in by_config.pipelines.items():
                touched[name].reasons.extend(reasons)
        by_shared = shared_impact(self._sources, plan.head, shared_changes, config.shared,
                                  config.pipelines_dir, self._index, self._definitions())
        for name, reasons in by_shared.pipelines.items():
            touched[name].reasons.extend(reasons)
        self._plan_touched(plan, config, compared, touched)
        self._plan_shared_images(plan, config, by_shared.units)
        self._plan_repository_images(plan, config, changes)
        self._plan_image_users(plan, config)

    def _classify_entries(
        self, changes: list[Change], config: LayoutSettings, plan: Plan, compared: str
    ) -> tuple[defaultdict[str, _Touched], list[str], int]:
        """`_classify` for `entries:`: a path belongs to the pipeline that owns it (its file,
        or its folder for a pipeline named by its folder)."""
        self._at_head, broken = discover_at(self._repo, plan.head, config)
        plan.broken.update(broken)
        base_pipelines = {} if compared == EMPTY_TREE else discover_at(
            self._repo, compared, config)[0]
        self._at_base = set(base_pipelines)

        def locate(path: str) -> tuple[str, str] | None:
            name = owner(self._at_head, path) or owner(base_pipelines, path)
            if not name:
                return None
            folder = (self._at_head.get(name) or base_pipelines[name]).path
            return name, path[len(folder) + 1:]

        return self._classify(changes, config, locate)

    def _definitions(self) -> dict[str, str] | None:
        """With `entries:`, each definition file and the pipeline it defines."""
        at_head: dict[str, Pipeline] = getattr(self, "_at_head", None) or {}
        if not entries_of(self._config):
            return None
        return {p.definition: p.name for p in at_head.values() if not p.spec}

    def _classify(
        self, changes: list[Change], config: LayoutSettings,
        locate: Callable[[str], tuple[str, str] | None] | None = None,
    ) -> tuple[defaultdict[str, _Touched], list[str], int]:
        """Each changed path's pipeline and its path inside the pipeline's folder, by `locate`
        (default: the folder layout, `<pipelines_dir>/<name>/...`; a pipeline name of "" is a
        path of the pipelines folder that belongs to none), else a shared path, else outside."""
        touched: defaultdict[str, _Touched] = defaultdict(_Touched)
        shared: list[str] = []
        outside = 0
        prefix = config.pipelines_dir.rstrip("/") + "/"
        shared_prefixes = tuple(s.rstrip("/") + "/" for s in config.shared)

        def in_folder(path: str) -> tuple[str, str] | None:
            if not path.startswith(prefix):
                return None
            name, _, rest = path[len(prefix):].partition("/")
            return (name, rest) if rest else ("", "")

        for change in changes:
            verb = (f"renamed from {change.old_path}" if change.status == "R"
                    else _VERBS.get(change.status, "changed"))
            hit = False
            for path in filter(None, (change.path, change.old_path)):
                located = (locate or in_folder)(path)
                if located is not None:
                    name, inside = located
                    if name:
                        reason = f"{path} {verb}" if path == change.path else f"{path} moved away"
                        touched[name].files.append((inside, reason))
                        hit = True
                elif path.startswith(shared_prefixes):
                    shared.append(path)
                    hit = True
            outside += not hit and change.path != config_file() and not image_input(
                config, change.path)
        return touched, shared, outside

    def _plan_touched(
        self, plan: Plan, config: LayoutSettings, compared: str, touched: dict[str, _Touched]
    ) -> None:
        if entries_of(config):
            broken: dict[str, list[Problem]] = {}
            pipelines, existed = self._at_head, self._at_base
            blobs: dict[str, str] = {}
        else:
            folders = [f"{config.pipelines_dir.rstrip('/')}/{name}" for name in touched]
            entries = self._repo.tree(plan.head, folders)
            pipelines, broken = discover_pipelines(entries, config.pipelines_dir)
            blobs = {e.path: e.sha for e in entries if e.kind == "blob"}
            existed = {e.path.rsplit("/", 1)[-1]
                       for e in self._repo.tree(compared, folders, recursive=False)
                       if e.kind == "tree"}
        plan.broken.update(broken)
        for name in sorted(touched):
            if name in pipelines:
                info = touched[name]
                reasons = [reason for _, reason in info.files] + info.reasons
                status = "modified" if name in existed else "added"
                rebuild_all = "new pipeline" if status == "added" else None
                self._add(plan, pipelines[name], status, reasons, rebuild_all, info.files, blobs)
            elif name not in broken and name in existed:
                plan.deleted.append(name)

    def _add(
        self, plan: Plan, pipeline: Pipeline, status: str, reasons: list[str],
        rebuild_all: str | None, changed: list[tuple[str, str]], blobs: dict[str, str],
    ) -> None:
        entry = PipelinePlan(pipeline, status, _unique(reasons))
        by_component = {c.name: c for c in pipeline.components}
        for image in pipeline.images:
            entry.images.append(ImagePlan(image, rebuild_all is not None,
                                          [rebuild_all] if rebuild_all else []))
        for rel, reason in changed if rebuild_all is None else []:
            parts = rel.split("/")
            if is_image_input(rel) and pipeline.images and pipeline.images[0].kind == "pipeline":
                target = pipeline.images[0].name
            elif parts[0] == "components" and len(parts) > 2 and by_component.get(
                    parts[1]) and by_component[parts[1]].image:
                target = by_component[parts[1]].image or ""
            else:
                continue
            for image_plan in entry.images:
                if image_plan.image.name == target:
                    image_plan.rebuild = True
                    image_plan.reasons.append(reason)
        errors = self._check(pipeline, [rel for rel, _ in changed], blobs)
        if errors:
            plan.broken[pipeline.name] = errors
        else:
            plan.pipelines.append(entry)

    def _check(self, pipeline: Pipeline, changed: list[str],
               blobs: dict[str, str]) -> list[Problem]:
        """Parse definition.py and every changed Python file (their ids are in `blobs`)."""
        if pipeline.spec:
            return []  # a compiled spec: read when it is published
        if not blobs:  # planned without a listing: the files' ids at the head
            for path in [pipeline.definition] + [f"{pipeline.path}/{rel}" for rel in changed]:
                found = self._repo.entry(self._head, path)
                if found and found[1] == "blob":
                    blobs[path] = found[0]
        paths = {pipeline.definition} | {
            f"{pipeline.path}/{rel}" for rel in changed if rel.endswith(".py")}
        problems: list[Problem] = []
        for path in sorted(p for p in paths if p in blobs):
            parse = partial(self._sources.parse, blobs[path], path)
            kind, check = (definition_check(configured_function(self._config, pipeline.name))
                           if path == pipeline.definition else ("check_syntax", check_syntax))
            problems += (self._index.check(blobs[path], kind, path,
                                           partial(check, parse, path)) if self._index
                         else check(parse, path))
        return problems

    def _plan_repository_images(
        self, plan: Plan, config: LayoutSettings, changes: list[Change]
    ) -> None:
        """`mlops.yaml` `images:` whose inputs changed are rebuilt (once, whoever names them)."""
        paths = [p for c in changes for p in (c.path, c.old_path) if p]
        changed = changed_repository_images(config, paths)
        for image in repository_images(self._repo, plan.head, config):
            if image.name in changed:
                plan.shared_images.append(ImagePlan(image, True, [f"{changed[image.name]} "
                                                                  "changed"]))

    def _plan_image_users(self, plan: Plan, config: LayoutSettings) -> None:
        """Pipelines whose components name an image being rebuilt are affected by it."""
        causes = {i.image.name: (i.reasons or ["its inputs changed"])[0]
                  for i in plan.shared_images if i.rebuild}
        for entry in plan.pipelines:
            for image_plan in entry.images:
                if image_plan.rebuild:
                    causes.setdefault(image_plan.image.name,
                                      (image_plan.reasons or ["its inputs changed"])[0])
        if not causes:
            return
        own = {e.name: {i.image.name for i in e.images} for e in plan.pipelines}
        users, pipelines = image_users_with_importers(
            self._sources, plan.head, config, causes, self._definitions(),
            getattr(self, "_at_head", {}), self._images, own)
        planned = {p.name: p for p in plan.pipelines}
        for name, hits in sorted(users.items()):
            reasons = [f"{path} uses image {image}, whose inputs changed ({causes[image]})"
                       for path, image in hits
                       if not any(i.name == image for i in (
                           pipelines[name].images if name in pipelines else ()))]
            if not reasons or name in plan.broken:
                continue
            if name in planned:
                planned[name].reasons.extend(r for r in reasons
                                             if r not in planned[name].reasons)
            elif name in pipelines:
                self._add(plan, pipelines[name], "modified", reasons, None, [], {})

    def _plan_shared_images(self, plan: Plan, config: LayoutSettings, units: set[str]) -> None:
        if not units:
            return
        images = discover_shared_images(self._repo.tree(plan.head, sorted(units)), config.shared)
        plan.shared_images = [ImagePlan(image, True, [f"{image.context} changed"])
                              for image in images]


def _config_or_none(repo: GitRepo, commit: str) -> Config | None:
    try:
        return config_at(repo, commit)
    except UserError:
        return None  # an invalid config at the base only means we cannot tell what changed


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
