"""Pipelines found as compiled specs (`pipeline.yaml`, `pipeline.json`): published as they are.

A spec may be KFP's IR (YAML or JSON, with a second YAML document of platform config) or the
PipelineJob JSON that TFX's Vertex runner writes, whose IR is its `pipelineSpec`: that is
unwrapped, and its `runtimeConfig` parameter values become the defaults of the parameters that
have none, so a run without `--param` runs as TFX meant. Images are pinned like a compiled
definition's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_bot.compile import CompiledPipeline, CompileError, _parameters, _pin_images
from mlops_bot.compile_normalise import normalise_embedded_archives
from mlops_bot.repo.layout import Problem
from mlops_bot.repo.parameters import document_inputs

__all__ = ["load_precompiled", "precompiled_outcome", "unwrap"]

# The legacy runtimeConfig.parameters form: {"name": {"stringValue": "x"}}.
_VALUE_KEYS = ("stringValue", "intValue", "doubleValue", "boolValue")


def load_precompiled(tree: Path, relative: str, name: str,
                     pins: Mapping[str, str]) -> CompiledPipeline:
    """The spec at `<tree>/<relative>` as published; CompileError naming the file if it is not
    a compiled pipeline."""
    import yaml

    try:
        text = (tree / relative).read_text(encoding="utf-8")
        documents = ([json.loads(text)] if relative.endswith(".json")
                     else [d for d in yaml.safe_load_all(text) if d is not None])
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        raise CompileError(Problem(relative, f"cannot read the compiled spec: {error}")) from None
    if not documents or not isinstance(documents[0], dict):
        raise CompileError(Problem(relative, "not a compiled KFP pipeline spec: it holds no "
                                   "mapping"))
    spec = documents[0] = unwrap(documents[0], relative)
    normalise_embedded_archives(spec)
    used, unpinned = _pin_images(spec, pins)
    types, required = document_inputs(spec)
    return CompiledPipeline(
        pipeline=name, spec=yaml.safe_dump_all(documents, sort_keys=True).encode(),
        parameters=_parameters(spec), images=used, unpinned=tuple(sorted(unpinned)),
        parameter_types=types, required=required)


def precompiled_outcome(tree: Path, relative: str, name: str,
                        pins: Mapping[str, str]) -> CompiledPipeline | Problem:
    """`load_precompiled`, its CompileError as the pipeline's problem."""
    try:
        return load_precompiled(tree, relative, name, pins)
    except CompileError as error:
        return error.problem


def unwrap(document: dict[str, Any], relative: str) -> dict[str, Any]:
    """The IR of a spec or of a PipelineJob (`pipelineSpec` + `runtimeConfig`)."""
    spec = document.get("pipelineSpec", document)
    if not isinstance(spec, dict) or "root" not in spec or "deploymentSpec" not in spec:
        raise CompileError(Problem(relative, "not a compiled KFP pipeline spec: it needs root "
                                   "and deploymentSpec (KFP IR), or a pipelineSpec holding them "
                                   "(a PipelineJob JSON, as TFX writes)"))
    runtime = document.get("runtimeConfig") or {}
    values = dict(runtime.get("parameterValues") or {})
    for key, value in (runtime.get("parameters") or {}).items():
        found = [value[k] for k in _VALUE_KEYS if isinstance(value, dict) and k in value]
        if found:
            values.setdefault(key, found[0])
    parameters = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    for key, value in values.items():
        if key in parameters and "defaultValue" not in parameters[key]:
            parameters[key]["defaultValue"] = value
    return spec
