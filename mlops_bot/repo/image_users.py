"""Images as dependencies: repository-level images, and which pipelines name an image.

A component names an image the repository builds by its bare name (`base_image="kfx"`, or
`image: kfx` in a component.yaml), any registry prefix, tag or digest aside. When that image's
inputs change, every pipeline whose files name it is affected, not only the one that owns it.
Finding them is a `git grep` for the names, confirmed by a quoted-string match, so planning
reads only the few files that can name the image.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mlops_bot.repo.entries import discover_at, entries_of, owner
from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.image_index import read_files
from mlops_bot.repo.layout import Image, Pipeline, content_hash, discover_pipelines
from mlops_bot.repo.shared import shared_impact
from mlops_bot.repo.sources import Sources

if TYPE_CHECKING:
    from mlops_bot.repo.image_index import ImageIndex

__all__ = ["changed_repository_images", "image_input", "image_users",
           "image_users_with_importers", "repository_images"]


def repository_images(repo: GitRepo, commit: str, layout: Any) -> list[Image]:
    """`mlops.yaml` `images:` at `commit`, each hashed by its inputs' git ids."""
    images = []
    for declared in getattr(layout, "images", None) or []:
        inputs = declared.inputs or [declared.context]
        ids = [(e.path, e.sha) for e in repo.tree(commit, inputs, recursive=False)]
        dockerfile = (declared.dockerfile if declared.context == "."
                      else f"{declared.context}/{declared.dockerfile}")
        images.append(Image(declared.name, "repository", declared.context, dockerfile,
                            content_hash(declared.name, "repository", ids)))
    return images


def image_input(layout: Any, path: str) -> bool:
    """Whether `path` is an input of a repository-level image (`images:`)."""
    return bool(changed_repository_images(layout, [path]))


def changed_repository_images(layout: Any, changed: Iterable[str]) -> dict[str, str]:
    """Image name -> the first changed path among its inputs."""
    found: dict[str, str] = {}
    paths = sorted(changed)
    for declared in getattr(layout, "images", None) or []:
        inputs = declared.inputs or [declared.context]
        for path in paths:
            if any(i == "." or path == i or path.startswith(i.rstrip("/") + "/")
                   for i in inputs):
                found[declared.name] = path
                break
    return found


def _image_patterns(names: list[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """One pattern for all `names` per way of naming an image, so a file is scanned once
    whatever the number of images rebuilt (a pattern per name cost more than the rest of the
    plan on a push rebuilding 40 images)."""
    # longest first: `kfx-base` is tried before `kfx`, which it starts with
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n)))
    # `base_image="kfx"`, `IMAGE = "eu.gcr.io/p/kfx:latest"`, `"image": "kfx"`
    quoted = re.compile(rf"""\w*(?i:image)\w*["']?\s*[=:]\s*f?["'](?:[^"'\s]*/)?"""
                        rf"""({alternatives})(?:[:@][^"'\s]*)?["']""")
    # `image: kfx` in YAML
    yaml_value = re.compile(rf"""image:\s*(?:[^\s"']*/)?({alternatives})(?:[:@]\S*)?\s*$""",
                            re.MULTILINE)
    return quoted, yaml_value


def _images_named(text: str, patterns: tuple[re.Pattern[str], ...]) -> set[str]:
    return {match.group(1) for pattern in patterns for match in pattern.finditer(text)}


def image_users(
    repo: GitRepo, commit: str, layout: Any, names: Iterable[str],
    index: ImageIndex | None = None, own: Mapping[str, set[str]] | None = None,
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, Pipeline], dict[str, list[str]]]:
    """Who names one of the images: pipeline -> [(its file, image)], the pipelines found (for
    the planner to add), and image -> library files naming it (shared code and repository
    images' inputs: the pipelines importing those are affected too). With `index`, the files
    to read come from the planning cache instead of a `git grep` of the whole tree, and a
    pipeline's files are not read for the images it builds itself (`own`: pipeline -> its
    images), which tell the planner nothing new: a push rebuilding 40 pipelines' images would
    otherwise read every component of the 40."""
    wanted = sorted(set(names))
    if not wanted:
        return {}, {}, {}
    globs = entries_of(layout)
    root = layout.pipelines_dir.rstrip("/")
    libraries = sorted({*layout.shared, *(i for image in getattr(layout, "images", None) or []
                                          for i in (image.inputs or [image.context]))})
    specs = [f":(glob){lib.rstrip('/')}/**/*.py" if lib != "." else ":(glob)**/*.py"
             for lib in libraries]
    if globs:
        pipelines, _ = discover_at(repo, commit, layout)
        specs += sorted({f":(glob){p.path}/**" if p.owns_folder else p.definition
                         for p in pipelines.values()})
    else:
        specs += [f":(glob){root}/**/*.py", f":(glob){root}/**/*.yaml", f":(glob){root}/**/*.yml"]
    users: dict[str, list[tuple[str, str]]] = {}
    library: dict[str, list[str]] = {}

    def pipeline_of(path: str) -> str | None:
        if globs:
            return owner(pipelines, path)
        return path[len(root) + 1:].split("/", 1)[0] if path.startswith(root + "/") else None

    if index:
        own = own or {}
        found = sorted({path for name, paths in index.files(repo, commit, wanted, specs).items()
                        for path in paths if name not in own.get(pipeline_of(path) or "", ())})
    else:
        found = repo.grep_words(commit, wanted, specs, whole=False)
    contents = read_files(repo, commit, found)
    patterns = _image_patterns(wanted)
    for path in found:
        text = contents[path].decode("utf-8", "replace") if path in contents else ""
        named = _images_named(text, patterns)
        hits = [name for name in wanted if name in named]
        pipeline = pipeline_of(path)
        if pipeline:
            users.setdefault(pipeline, []).extend((path, name) for name in hits)
        else:
            for name in hits:
                library.setdefault(name, []).append(path)
    if not globs:
        pipelines, _ = discover_pipelines(
            repo.tree(commit, [f"{root}/{name}" for name in users]), layout.pipelines_dir)
    return users, pipelines, library


def image_users_with_importers(
    sources: Sources, head: str, layout: Any, images: Iterable[str],
    definitions: dict[str, str] | None, at_head: dict[str, Pipeline],
    index: ImageIndex | None = None, own: Mapping[str, set[str]] | None = None,
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, Pipeline]]:
    """`image_users`, plus the pipelines that import a library module naming an image (seed
    001: `kfx/components/stats.py` says `base_image="kfx"`, the pipelines import it)."""
    users, pipelines, library = image_users(sources.repo, head, layout, images, index, own)
    for image, files in library.items():
        roots = sorted({*layout.shared, *(f.split("/", 1)[0] for f in files)})
        by_import = shared_impact(sources, head, files, roots, layout.pipelines_dir, None,
                                  definitions)
        through = files[0] if len(files) == 1 else f"{len(files)} library files"
        for name, why in by_import.pipelines.items():
            users.setdefault(name, []).append(
                (f"{why[0].split(' ', 1)[0]} (through {through})", image))
        if entries_of(layout):
            pipelines.update(at_head)
        elif by_import.pipelines:
            root = layout.pipelines_dir.rstrip("/")
            pipelines.update(discover_pipelines(sources.repo.tree(
                head, [f"{root}/{n}" for n in by_import.pipelines]), layout.pipelines_dir)[0])
    return users, pipelines
