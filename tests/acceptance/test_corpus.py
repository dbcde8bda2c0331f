"""Acceptance of issue 13: a corpus of real-shaped KFP pipelines (nested pipelines, conditions,
loops, an exit handler, an importer, a notebook component, a workspace, parameters without
defaults, a pipeline defined in a block), each its own pipeline of one repository, planned and
pushed once; what the registry publishes is what `kfp.compiler` makes of the same function, apart
from the images mlops-bot pins and the embedded archives it normalises (compile_normalise.py)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_bot.compile_normalise import normalise_embedded_archives
from tests.acceptance.corpus import REFERENCE, SHAPES, corpus_files
from tests.support.cli import cli, cli_json
from tests.support.gitrepo import GitRepoBuilder

ENVS = Path(tempfile.gettempdir()) / "mlops-bot-test-cache" / "envs"


@dataclass(frozen=True)
class Corpus:
    repo: Path
    state: Path
    plan: dict[str, Any]
    push: dict[str, Any]
    reference: Path  # kfp.compiler's <shape>.yaml


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("corpus")
    repo = GitRepoBuilder(root / "repo")
    repo.commit(corpus_files())
    state = root / "state"
    state.mkdir()
    ENVS.mkdir(parents=True, exist_ok=True)
    (state / "envs").symlink_to(ENVS)
    env = {"MLOPS_BOT_STATE_DIR": str(state)}
    plan = cli_json("plan", "--all", "--head", "HEAD", cwd=repo.path, env=env)
    push = cli_json("push", "--all", cwd=repo.path, env=env)
    reference = root / "reference"
    reference.mkdir()
    (root / "reference.py").write_text(REFERENCE)
    arguments = [a for name, (_, function) in SHAPES.items()
                 for a in (f"pipelines/{name}/definition.py", function,
                           str(reference / f"{name}.yaml"))]
    # kfp reads a notebook's path from the working directory: the checkout's root, as the bot.
    subprocess.run([sys.executable, str(root / "reference.py"), *arguments], cwd=repo.path,
                   check=True)
    return Corpus(repo.path, state, plan, push, reference)


def published(corpus: Corpus, name: str) -> list[dict[str, Any]]:
    [version] = [v for v in corpus.push["versions"] if v["pipeline"] == name]
    assert version["status"] == "published", version
    folder = corpus.state / "registry/pipelines" / name / "versions" / version["version"]
    documents = list(yaml.safe_load_all((folder / "pipeline.yaml").read_text()))
    pins = {ref: image for image, ref in yaml.safe_load(
        (folder / "manifest.json").read_text())["images"].items()}
    for executor in documents[0]["deploymentSpec"]["executors"].values():
        container = executor.get("container") or {}
        if container.get("image") in pins:  # pinned: back to the name the component gave
            container["image"] = pins[container["image"]]
    return documents


def reference(corpus: Corpus, name: str) -> list[dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all((corpus.reference / f"{name}.yaml").read_text())
                 if d is not None]
    normalise_embedded_archives(documents[0])
    return documents


@pytest.mark.slow
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_published_ir_is_what_kfp_compiles(corpus, shape):
    assert published(corpus, shape) == reference(corpus, shape)


@pytest.mark.slow
def test_the_corpus_is_planned_and_pushed_in_one_push(corpus):
    assert sorted(p["name"] for p in corpus.plan["pipelines"]) == sorted(SHAPES)
    assert sorted(v["pipeline"] for v in corpus.push["versions"]) == sorted(SHAPES)
    [build] = corpus.push["builds"]
    assert build["image"] == "nested"
    notes = "\n".join(str(n) for n in corpus.plan.get("notes", []))
    assert "no_defaults cannot run: parameters n, text have no default" in notes, corpus.plan
    shown = cli_json("registry", "show", "nested", cwd=corpus.repo,
                     env={"MLOPS_BOT_STATE_DIR": str(corpus.state)})
    assert shown["manifest"]["images"] == {"nested": build["ref"]}
    [nested] = published(corpus, "nested")
    assert nested["pipelineInfo"]["name"] == "nested"  # the outermost of three pipelines
    [_, platform] = published(corpus, "workspace")
    assert platform["platforms"]["kubernetes"]["pipelineConfig"]["workspace"]["size"] == "1Gi"


@pytest.mark.slow
def test_the_same_commit_pushed_again_publishes_the_same_versions(corpus):
    again = cli_json("push", "--all", cwd=corpus.repo,
                     env={"MLOPS_BOT_STATE_DIR": str(corpus.state)})
    versions = {v["pipeline"]: v["version"] for v in corpus.push["versions"]}
    assert {v["pipeline"]: v["version"] for v in again["versions"]} == versions  # notebook too


@pytest.mark.slow
def test_a_param_of_the_wrong_type_is_refused_before_anything_runs(corpus):
    env = {"MLOPS_BOT_STATE_DIR": str(corpus.state)}
    refused = cli("run", "no_defaults", "--param", "n=many", "--param", "text=x", cwd=corpus.repo,
                  env=env)
    assert refused.returncode == 2, refused.stderr
    assert "--param n=many: no_defaults's parameter n is NUMBER_INTEGER (a whole number)" in (
        refused.stderr)
    assert not list((corpus.state / "runs").glob("*/run.json"))
