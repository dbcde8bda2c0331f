"""Pipelines, components and images found by folder convention in a git tree.

Discovery works on a tree listing (`GitRepo.tree`), so it reads a commit rather than the working
tree and only the folders it is asked about: the planner lists just the pipelines a change touches.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from posixpath import basename

from mlops_bot.repo.git import TreeEntry

__all__ = [
    "Component",
    "Image",
    "Pipeline",
    "Problem",
    "discover_pipelines",
    "discover_shared_images",
    "image_name",
    "is_image_input",
]

# Files of a pipeline folder that are compiled or read by the bot, not installed into its image:
# changing them recompiles the pipeline without rebuilding the image.
_NOT_IN_IMAGE = frozenset({"definition.py", "run.py", "components", "tests", "__pycache__"})
_PACKAGE_FILES = ("Dockerfile", "pyproject.toml", "setup.py")
_HASH_SALT = "mlops-bot/image/v1"


@dataclass(frozen=True)
class Problem:
    """Something wrong with a file, reported with its path and (when known) line."""

    file: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Image:
    """A container image the bot builds; `context` and `dockerfile` are repository paths."""

    name: str
    kind: str  # pipeline, component or shared
    context: str
    dockerfile: str | None
    content_hash: str


@dataclass(frozen=True)
class Component:
    name: str
    path: str
    kind: str  # python (definition.py) or container (component.yaml)
    image: str | None  # the name of its own image, when it has a Dockerfile


@dataclass(frozen=True)
class Pipeline:
    name: str
    path: str
    components: tuple[Component, ...]
    images: tuple[Image, ...]
    warnings: tuple[Problem, ...] = field(default=())
    # Set when found by an `entries:` glob: the file that defines it (a definition, or a compiled
    # spec published as is when `spec`), and whether its folder is its own (else only the file).
    entry: str | None = None
    spec: bool = False
    owns_folder: bool = True

    @property
    def definition(self) -> str:
        return self.entry or f"{self.path}/definition.py"

    def owns(self, path: str) -> bool:
        """Whether a change to `path` is a change to this pipeline."""
        return path == self.definition or (self.owns_folder and path.startswith(self.path + "/"))


def image_name(*parts: str) -> str:
    """A valid image repository name from folder names (`Wine Quality` -> `wine-quality`)."""
    name = "-".join(parts).lower()
    return re.sub(r"[^a-z0-9._-]+", "-", name).strip("-._") or "image"


def is_image_input(relative_path: str) -> bool:
    """Whether a path inside a pipeline folder goes into the pipeline image."""
    top = relative_path.split("/", 1)[0]
    return top not in _NOT_IN_IMAGE and not top.lower().endswith(".md")


def content_hash(image: str, kind: str, inputs: Iterable[tuple[str, str]]) -> str:
    """A hash of an image's inputs by their git object ids: equal trees give equal hashes."""
    digest = hashlib.sha256(f"{_HASH_SALT}\n{kind}\n{image}\n".encode())
    for path, sha in sorted(inputs):
        digest.update(f"{path}\0{sha}\n".encode())
    return digest.hexdigest()


def discover_pipelines(
    entries: Iterable[TreeEntry], pipelines_dir: str
) -> tuple[dict[str, Pipeline], dict[str, list[Problem]]]:
    """Pipelines found in `entries` (a recursive listing below `pipelines_dir`).

    Returns the valid pipelines and, separately, folders that look like pipelines but are not
    (no definition.py), so one malformed folder never hides the others.
    """
    prefix = pipelines_dir.rstrip("/") + "/"
    folders: dict[str, dict[str, TreeEntry]] = defaultdict(dict)
    for entry in entries:
        if not entry.path.startswith(prefix):
            continue
        name, _, rest = entry.path[len(prefix):].partition("/")
        if rest and not name.startswith((".", "_")):
            folders[name][rest] = entry
    pipelines: dict[str, Pipeline] = {}
    problems: dict[str, list[Problem]] = {}
    for name, files in sorted(folders.items()):
        path = prefix + name
        if "definition.py" not in files:
            problems[name] = [Problem(
                path, "no definition.py: a pipeline folder needs a definition.py that defines "
                "one @dsl.pipeline (or move the folder out of " + pipelines_dir + "/)",
            )]
            continue
        pipelines[name] = _pipeline(name, path, files)
    return pipelines, problems


def _pipeline(name: str, path: str, files: dict[str, TreeEntry],
              entry: str | None = None) -> Pipeline:
    components, warnings = _components(name, path, files)
    images = [
        Image(image_name(name, c.name), "component", f"{path}/components/{c.name}",
              f"{c.path}/Dockerfile",
              content_hash(image_name(name, c.name), "component",
                           [("", files[f"components/{c.name}"].sha)]))
        for c in components if c.image
    ]
    top_level = {rel: e for rel, e in files.items() if "/" not in rel}
    if any(f in top_level for f in _PACKAGE_FILES):
        inputs = [(rel, e.sha) for rel, e in top_level.items()
                  if is_image_input(rel) and f"{path}/{rel}" != entry]
        dockerfile = f"{path}/Dockerfile" if "Dockerfile" in top_level else None
        images.insert(0, Image(image_name(name), "pipeline", path, dockerfile,
                               content_hash(image_name(name), "pipeline", inputs)))
    return Pipeline(name, path, tuple(components), tuple(images), tuple(warnings), entry,
                    spec=bool(entry) and not (entry or "").endswith(".py"))


def _components(
    pipeline: str, path: str, files: dict[str, TreeEntry]
) -> tuple[list[Component], list[Problem]]:
    found: dict[str, set[str]] = defaultdict(set)
    for rel, entry in files.items():
        parts = rel.split("/")
        if parts[0] == "components" and len(parts) == 3 and entry.kind == "blob":
            found[parts[1]].add(parts[2])
        elif parts[0] == "components" and len(parts) == 2 and entry.kind == "tree":
            found.setdefault(parts[1], set())
    components, warnings = [], []
    for name, names in sorted(found.items()):
        folder = f"{path}/components/{name}"
        if name.startswith((".", "_")):
            continue
        if "definition.py" in names or "component.yaml" in names:
            kind = "python" if "definition.py" in names else "container"
            image = image_name(pipeline, name) if "Dockerfile" in names else None
            components.append(Component(name, folder, kind, image))
        else:
            warnings.append(Problem(folder, "not a component: it has neither definition.py nor "
                                    "component.yaml"))
    return components, warnings


def discover_shared_images(
    entries: Iterable[TreeEntry], shared_paths: Iterable[str]
) -> list[Image]:
    """Images of shared components: folders directly under a shared path with a Dockerfile."""
    trees = {e.path: e for e in entries if e.kind == "tree"}
    dockerfiles = [e.path for e in entries if basename(e.path) == "Dockerfile"]
    images = []
    for shared in shared_paths:
        prefix = shared.rstrip("/") + "/"
        for dockerfile in dockerfiles:
            unit = dockerfile[len(prefix):].split("/")
            if dockerfile.startswith(prefix) and len(unit) == 2 and prefix + unit[0] in trees:
                name = image_name("shared", unit[0])
                context = prefix + unit[0]
                images.append(Image(name, "shared", context, dockerfile,
                                    content_hash(name, "shared", [("", trees[context].sha)])))
    return sorted(images, key=lambda image: image.name)
