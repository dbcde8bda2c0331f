"""`mlops.yaml` keys that say where pipelines and repository-level images are.

`entries:` replaces the folder convention (`<pipelines_dir>/<name>/definition.py`) with globs of
the files that define pipelines; `images:` declares images the repository builds once for any
pipeline's components to name (a shared component library's image). `Config` inherits these.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["LayoutFields", "RepositoryImage"]

_IMAGE_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_SPEC_SUFFIXES = (".py", ".yaml", ".yml", ".json")


def _relative(value: str, what: str) -> str:
    path = PurePosixPath(value)
    if not value.strip() or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{value!r} is not allowed: {what} is relative to the repository root, "
                         "without '..'")
    return str(path)


class RepositoryImage(BaseModel):
    """An image built once per content hash from `context`, named by `name` in components."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_IMAGE_NAME, description="What components name as base_image.")
    context: str = Field(".", description="Build context, relative to the repository root.")
    dockerfile: str = Field("Dockerfile", description="Dockerfile, relative to the context.")
    inputs: list[str] = Field(
        default_factory=list, description="Paths whose content makes the image (default: the "
        "context); a change to one rebuilds it and affects the pipelines naming it.")

    @field_validator("context", "dockerfile")
    @classmethod
    def _paths(cls, value: str) -> str:
        return _relative(value, "a path")

    @field_validator("inputs")
    @classmethod
    def _input_paths(cls, value: list[str]) -> list[str]:
        return [_relative(v, "an input path") for v in value]


class LayoutFields(BaseModel):
    """The layout keys of `mlops.yaml` (`Config` adds the rest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entries: list[str] = Field(
        default_factory=list, description="Globs of the files that define pipelines, e.g. "
        "pipelines/*.py (a pipeline per file, named by its stem) or kfx/pipelines/*/pipeline.py "
        "(named by its folder; a folder's pipeline.yaml or pipeline.json is published as is). "
        "Default: <pipelines_dir>/<name>/definition.py.")
    images: list[RepositoryImage] = Field(
        default_factory=list, description="Repository-level images components may name.")

    @field_validator("entries")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        for glob in value:
            _relative(glob, "an entry")
            if "**" in glob:
                raise ValueError(f"{glob!r}: '**' is not supported; write one '*' per folder level")
            if not glob.endswith(_SPEC_SUFFIXES):
                raise ValueError(f"{glob!r} must end in .py (a definition) or .yaml, .yml or "
                                 ".json (a compiled pipeline spec)")
        return value

    @model_validator(mode="after")
    def _unique_images(self) -> LayoutFields:
        names = [image.name for image in self.images]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"images: {', '.join(twice)} named twice: image names are unique")
        return self
