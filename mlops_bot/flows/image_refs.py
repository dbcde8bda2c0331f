"""Every image the repository builds that a compiled spec names gets pinned, whoever built it.

A push builds the images its plan rebuilds; a spec may also name images the push did not touch (a
shared component's, the library's from `mlops.yaml` `images:`, another pipeline's). Those are
built or, far more often, reused by content hash here, once per push, and pinned: a published
spec never names an image the repository builds by a tag. A bare image name (no registry, tag
or digest) that the repository does not build is that pipeline's compile error.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.backends.types import BuildRequest, BuildResult
from mlops_bot.compile import CompiledPipeline, CompileError, image_repository
from mlops_bot.repo.entries import discover_at, entries_of
from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.image_users import repository_images
from mlops_bot.repo.layout import Image, Pipeline, Problem, discover_shared_images

if TYPE_CHECKING:
    from mlops_bot.backends.types import ImageBuilder

__all__ = ["RepositoryImages"]


class RepositoryImages:
    """The images of one commit, found by name and built (or reused) on first use."""

    def __init__(self, git: GitRepo, head: str, config: Any, builder: ImageBuilder,
                 tree: Path, refs: dict[str, str]) -> None:
        self._git, self._head, self._config = git, head, config
        self._builder, self._tree = builder, tree
        self._refs = refs  # image name -> pinned reference, shared with the push
        self._images: dict[str, Image] | None = None
        self.builds: list[BuildResult] = []  # built or reused here, for the report

    def _known(self) -> dict[str, Image]:
        if self._images is None:
            found = repository_images(self._git, self._head, self._config)
            found += discover_shared_images(self._git.tree(self._head, self._config.shared),
                                            self._config.shared)
            if entries_of(self._config):
                pipelines = discover_at(self._git, self._head, self._config)[0].values()
                found += [image for p in pipelines for image in p.images]
            self._images = {image.name: image for image in found}
        return self._images

    def find(self, name: str) -> Image | None:
        image = self._known().get(name)
        if image is None and not entries_of(self._config):
            # The folder convention: a pipeline's image is named by its folder.
            folder = f"{self._config.pipelines_dir.rstrip('/')}/{name}"
            from mlops_bot.repo.layout import discover_pipelines

            pipelines, _ = discover_pipelines(self._git.tree(self._head, [folder]),
                                              self._config.pipelines_dir)
            image = next((i for p in pipelines.values() for i in p.images if i.name == name),
                         None)
        return image

    def ref(self, name: str, pipeline: str) -> str | None:
        """The pinned reference of image `name`, built now if no build has it."""
        if name in self._refs:
            return self._refs[name]
        image = self.find(name)
        if image is None:
            return None
        result = self._builder.build([BuildRequest(image, pipeline, self._head, self._tree)])[0]
        self.builds.append(result)
        if result.ref is None:
            raise CompileError(Problem(image.dockerfile or image.context,
                                       f"image {name} failed to build: {result.error}"))
        self._refs[name] = result.ref
        return result.ref

    def complete(self, pipelines: list[Pipeline],
                 outcomes: dict[str, CompiledPipeline | Problem]) -> None:
        """Fill in `outcomes` (pipeline name -> compiled or its problem): compiled specs read,
        every image the repository builds pinned."""
        from mlops_bot.precompiled import precompiled_outcome

        for pipeline in pipelines:
            if pipeline.spec:
                outcomes[pipeline.name] = precompiled_outcome(
                    self._tree, pipeline.definition, pipeline.name, self._refs)
            outcome = outcomes.get(pipeline.name)
            try:
                if isinstance(outcome, CompiledPipeline):
                    outcomes[pipeline.name] = self.pin(outcome, pipeline)
            except CompileError as error:
                outcomes[pipeline.name] = error.problem

    def pin(self, compiled: CompiledPipeline, pipeline: Pipeline) -> CompiledPipeline:
        """`compiled` with every image the repository builds pinned; CompileError naming the
        component for a bare image name the repository does not build."""
        import yaml

        if not compiled.unpinned:
            return compiled
        documents = [d for d in yaml.safe_load_all(compiled.spec) if d is not None]
        executors = (documents[0].get("deploymentSpec") or {}).get("executors") or {}
        used: dict[str, str] = {}
        for executor_name, executor in sorted(executors.items()):
            container = executor.get("container") or {}
            reference = container.get("image")
            if not reference or reference not in compiled.unpinned:
                continue
            name = image_repository(reference)
            pinned = self.ref(name, pipeline.name)
            if pinned is not None:
                container["image"] = used[name] = pinned
            elif _bare(reference):
                raise CompileError(Problem(pipeline.definition, _unknown(
                    executor_name.removeprefix("exec-"), reference, sorted(self._known()))))
        if not used:
            return compiled
        left = tuple(sorted({(e.get("container") or {}).get("image", "")
                             for e in executors.values()} & set(compiled.unpinned)))
        return replace(compiled, spec=yaml.safe_dump_all(documents, sort_keys=True).encode(),
                       images={**compiled.images, **used}, unpinned=left)


def _bare(reference: str) -> bool:
    return not any(mark in reference for mark in "/:@")


def _unknown(component: str, reference: str, known: list[str]) -> str:
    built = f"it builds {', '.join(known)}" if known else "it builds no image by that name"
    return (f"component {component} names image {reference!r}, which the repository does not "
            f"build ({built}) and which has no registry, tag or digest: name an image the "
            "repository builds (a pipeline folder with a Dockerfile, a shared component's, "
            "or mlops.yaml images:), or give the full reference of an external image "
            "(e.g. python:3.11-slim)")
