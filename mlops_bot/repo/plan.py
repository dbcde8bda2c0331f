"""The plan: what a commit range requires, and why. Its JSON form is a public contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops_bot.repo.layout import Image, Pipeline, Problem

__all__ = ["SCHEMA_VERSION", "ImagePlan", "PipelinePlan", "Plan"]

SCHEMA_VERSION = 1


@dataclass
class ImagePlan:
    image: Image
    rebuild: bool = False
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.image.name,
            "kind": self.image.kind,
            "context": self.image.context,
            "dockerfile": self.image.dockerfile,
            "content_hash": self.image.content_hash,
            "rebuild": self.rebuild,
            "reasons": self.reasons,
        }


@dataclass
class PipelinePlan:
    pipeline: Pipeline
    status: str  # added or modified
    reasons: list[str] = field(default_factory=list)
    images: list[ImagePlan] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.pipeline.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.pipeline.path,
            "status": self.status,
            "reasons": self.reasons,
            "images": [image.to_dict() for image in self.images],
            "components": [
                {"name": c.name, "path": c.path, "kind": c.kind, "image": c.image}
                for c in self.pipeline.components
            ],
            "warnings": [str(w) for w in self.pipeline.warnings],
        }


@dataclass
class Plan:
    base: str
    head: str
    compared_with: str | None  # the commit actually diffed; None when everything is planned
    everything_reason: str | None = None
    pipelines: list[PipelinePlan] = field(default_factory=list)
    shared_images: list[ImagePlan] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    broken: dict[str, list[Problem]] = field(default_factory=dict)
    config_changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "base": self.base,
            "head": self.head,
            "compared_with": self.compared_with,
            "everything": self.everything_reason is not None,
            "everything_reason": self.everything_reason,
            "pipelines": [p.to_dict() for p in self.pipelines],
            "shared_images": [i.to_dict() for i in self.shared_images],
            "deleted": self.deleted,
            "broken": [
                {"name": name, "errors": [
                    {"file": p.file, "line": p.line, "message": p.message} for p in problems]}
                for name, problems in sorted(self.broken.items())
            ],
            "config_changes": self.config_changes,
            "notes": self.notes,
        }
