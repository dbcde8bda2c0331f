"""The planning cache (mlops_bot.repo.import_index): plans with it are the plans without it."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest

from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.image_index import image_index_file
from mlops_bot.repo.import_index import ImportIndex, index_file
from mlops_bot.repo.plan import Plan
from mlops_bot.repo.planner import ChangePlanner
from tests.support.gitrepo import GitRepoBuilder, pipeline_files, shared_component

SHARED = ("scaler", "splitter", "encoder", "metrics")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("MLOPS_BOT_STATE_DIR", str(folder))
    return folder


def cache_file(state: Path) -> Path:
    return index_file(state, "pipelines", ["components"])


def both(builder: GitRepoBuilder, base: str, head: str) -> Plan:
    """The plan with the cache, after checking that it equals the plan without it."""
    repo = GitRepo(builder.path)
    expected = ChangePlanner(repo, cache=False).plan(base, head).to_dict()
    cached = ChangePlanner(repo).plan(base, head)
    assert cached.to_dict() == expected, f"cached plan differs for {base[:8]}..{head[:8]}"
    return cached


def uses(rng: random.Random, unit: str) -> str:
    """One of the ways a definition file refers to a shared unit (or only seems to)."""
    return rng.choice([
        f"from components.{unit}.definition import {unit}",
        f"from components import {unit}",
        f"import components.{unit}.definition",
        f"def _lazy():\n    from components.{unit} import definition",
        f"loaded = load_component_from_file('../../components/{unit}/component.yaml')",
        f"# mentions {unit} in a comment only",
        f"NOTE = 'components/{unit}x is another unit'",
    ])


def generated_pipeline(rng: random.Random, name: str) -> dict[str, str | None]:
    lines = tuple(uses(rng, unit) for unit in rng.sample(SHARED, rng.randint(0, 2)))
    files: dict[str, str | None] = dict(pipeline_files(name, imports=lines))
    if rng.random() < 0.3:  # a component of its own that uses shared code too
        files[f"pipelines/{name}/components/prepare/definition.py"] = (
            f"{uses(rng, rng.choice(SHARED))}\n\ndef prepare():\n    pass\n")
    return files


def random_change(rng: random.Random, names: list[str]) -> dict[str, str | None]:
    kind = rng.choice(["shared", "shared", "shared_yaml", "pipeline", "add", "delete", "broken"])
    unit = rng.choice(SHARED)
    if kind == "shared":
        return {f"components/{unit}/definition.py": f"# v{rng.random()}\n"
                f"from components.{rng.choice(SHARED)}.definition import x\n"}
    if kind == "shared_yaml":
        return {f"components/{unit}/component.yaml": f"name: {unit}\n# v{rng.random()}\n"}
    if kind == "add":
        names.append(f"p{len(names)}x")
        return generated_pipeline(rng, names[-1])
    if kind == "delete" and len(names) > 3:
        return {f"pipelines/{names.pop(rng.randrange(len(names)))}": None}
    if kind == "broken":
        return {f"pipelines/{rng.choice(names)}/definition.py": f"{uses(rng, unit)}\ndef (:\n"}
    name = rng.choice(names)
    return {k: v for k, v in generated_pipeline(rng, name).items() if k.endswith(".py")}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plans_with_the_cache_equal_plans_without_it_over_a_generated_history(
        tmp_path: Path, state: Path, seed: int) -> None:
    rng = random.Random(seed)
    builder = GitRepoBuilder(tmp_path / "repo")
    names = [f"p{i}" for i in range(10)]
    files: dict[str, str | None] = {}
    for unit in SHARED:
        files.update(shared_component(unit))
        files[f"components/{unit}/component.yaml"] = f"name: {unit}\n"
    for name in names:
        files.update(generated_pipeline(rng, name))
    commits = [builder.commit(files)]
    planned_by_shared = 0
    for _ in range(10):
        commits.append(builder.commit(random_change(rng, names)))
        plan = both(builder, commits[-2], commits[-1])
        planned_by_shared += sum("uses shared" in " ".join(p.reasons) for p in plan.pipelines)
        # a longer range, and one the cached tree is far from
        both(builder, rng.choice(commits[:-1]), commits[-1])
    assert cache_file(state).is_file()
    assert planned_by_shared > 0, "the generated history never exercised a shared change"


def test_a_changed_definition_file_is_read_again(tmp_path: Path, state: Path) -> None:
    builder = GitRepoBuilder(tmp_path / "repo")
    files: dict[str, str | None] = dict(shared_component("scaler"))
    files.update(pipeline_files("one", imports=("from components.scaler.definition import scaler",)))
    files.update(pipeline_files("two"))
    base = builder.commit(files)
    head = builder.commit({"components/scaler/definition.py": "# v2\n"})
    assert [p.name for p in both(builder, base, head).pipelines] == ["one"]
    assert "definition.py" in cache_file(state).read_text()

    # one still names the unit (so the grep finds it) but no longer imports it; two does now
    builder.commit({"pipelines/one/definition.py": pipeline_files(
                        "one", imports=("# scaler is gone",))["pipelines/one/definition.py"],
                    "pipelines/two/definition.py": pipeline_files(
                        "two", imports=("import components.scaler.definition",))[
                            "pipelines/two/definition.py"]})
    base, head = builder.head(), builder.commit({"components/scaler/definition.py": "# v3\n"})
    assert [p.name for p in both(builder, base, head).pipelines] == ["two"]


@pytest.mark.parametrize("content", [
    '{"format": 1, "tree": ',  # cut short
    "[1, 2, 3]",
    json.dumps({"format": 1, "pipelines_dir": "pipelines", "shared": ["components"],
                "tree": "0" * 40, "tokens": {"scaler": ["one/definition.py"]},
                "files": {}, "checks": {}}),  # names a file it does not describe
    json.dumps({"format": 1, "pipelines_dir": "pipelines", "shared": ["components"],
                "tree": "0" * 40, "tokens": {}, "files": {},
                "checks": {"x:check_definition": [["bad", "line"]]}}),
    "\0\xff not text",
])
def test_a_corrupt_cache_is_rebuilt_with_a_warning_and_the_plan_is_right(
        tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    builder = GitRepoBuilder(tmp_path / "repo")
    files: dict[str, str | None] = dict(shared_component("scaler"))
    files.update(pipeline_files("one", imports=("from components.scaler.definition import scaler",)))
    base = builder.commit(files)
    head = builder.commit({"components/scaler/definition.py": "# v2\n"})
    both(builder, base, head)
    cache_file(state).write_bytes(content.encode("latin-1"))
    capsys.readouterr()

    assert [p.name for p in both(builder, base, head).pipelines] == ["one"]
    warning = capsys.readouterr().err
    assert f"warning: ignored the planning cache {cache_file(state)}" in warning
    assert "rebuilding it" in warning
    assert json.loads(cache_file(state).read_text())["tokens"] == {"scaler": ["one/definition.py"]}


def test_a_cache_of_a_tree_this_clone_lacks_is_started_over(tmp_path: Path, state: Path) -> None:
    builder = GitRepoBuilder(tmp_path / "repo")
    files: dict[str, str | None] = dict(shared_component("scaler"))
    files.update(pipeline_files("one", imports=("from components.scaler.definition import scaler",)))
    base = builder.commit(files)
    head = builder.commit({"components/scaler/definition.py": "# v2\n"})
    both(builder, base, head)
    data = json.loads(cache_file(state).read_text())
    # as if copied from another clone: its tree is unknown here, its entries wrong for this one
    data.update(tree="f" * 40, tokens={"scaler": []}, files={})
    cache_file(state).write_text(json.dumps(data))
    assert [p.name for p in both(builder, base, head).pipelines] == ["one"]


def test_concurrent_writers_never_leave_a_partial_cache(tmp_path: Path) -> None:
    file = tmp_path / "cache" / "imports-x.json"
    errors: list[str] = []

    def write(n: int) -> None:
        for i in range(30):
            index = ImportIndex(file, "pipelines", ["components"])
            index._tree, index._tokens = "a" * 40, {f"t{n}-{i}": []}  # as a plan would leave it
            index._dirty = True
            index.save()

    def read() -> None:
        for _ in range(60):
            text = file.read_text() if file.exists() else "{}"
            try:
                json.loads(text)
            except ValueError as error:
                errors.append(str(error))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=read))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(p.name for p in file.parent.iterdir()) == [".gitignore", "imports-x.json"]


def test_the_cache_in_a_repository_is_ignored_by_git(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_BOT_STATE_DIR", raising=False)
    builder = GitRepoBuilder(tmp_path / "repo")
    files: dict[str, str | None] = dict(pipeline_files("one"))
    base = builder.commit(files)
    head = builder.commit({"pipelines/one/src/logic.py": "X = 1\n"})
    ChangePlanner(GitRepo(builder.path)).plan(base, head)
    assert list((builder.path / ".mlops" / "cache").glob("imports-*.json"))
    assert builder.git("status", "--porcelain", "--untracked-files=all") == ""


def test_a_cache_written_by_plans_without_a_shared_change_is_read_back_without_warning(
        tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    builder = GitRepoBuilder(tmp_path / "repo")
    base = builder.commit({**shared_component("scaler"), **pipeline_files("one")})
    head = builder.commit({"pipelines/one/src/logic.py": "def work(x: int) -> int:\n"
                                                           "    return x + 2\n"})
    both(builder, base, head)  # only checks are cached: no shared change, no tree searched
    assert json.loads(cache_file(state).read_text())["checks"]
    capsys.readouterr()

    assert [p.name for p in both(builder, base, head).pipelines] == ["one"]
    assert "ignored the planning cache" not in capsys.readouterr().err


def images_file(state: Path) -> Path:
    return image_index_file(state, "pipelines", ["components"])


def image_change(rng: random.Random, names: list[str]) -> dict[str, str | None]:
    """A change to who names which pipeline's image, or to an image's inputs."""
    name, other = rng.choice(names), rng.choice(names)
    kind = rng.choice(["rebuild", "rebuild", "names", "yaml", "mention", "binary", "drop"])
    if kind == "rebuild":
        return {f"pipelines/{name}/Dockerfile": f"FROM python:3.11-slim\n# {rng.random()}\n"}
    if kind == "names":
        return {f"pipelines/{name}/components/extra/definition.py": (
            f"from kfp import dsl\n\n\n@dsl.component(base_image='eu.gcr.io/p/{other}:1')\n"
            "def extra() -> None:\n    pass\n")}
    if kind == "yaml":
        return {f"pipelines/{name}/components/load/component.yaml": (
            f"name: load\nimplementation:\n  container:\n    image: {other}\n")}
    if kind == "mention":  # names it, but not as an image
        return {f"pipelines/{name}/components/extra/definition.py": f"# see {other}\n"}
    if kind == "binary":
        return {f"pipelines/{name}/components/extra/definition.py": f"\0base_image='{other}'\n"}
    return {f"pipelines/{name}/components/extra/definition.py": "def extra() -> None:\n    pass\n",
            f"pipelines/{name}/components/load/component.yaml": "name: load\n"}


@pytest.mark.parametrize("seed", [1, 2])
def test_plans_rebuilding_images_with_the_cache_equal_plans_without_it(
        tmp_path: Path, state: Path, seed: int) -> None:
    rng = random.Random(seed)
    builder = GitRepoBuilder(tmp_path / "repo")
    names = [f"p{i}" for i in range(8)]
    files: dict[str, str | None] = {}
    for name in names:
        files.update(pipeline_files(name))
    commits = [builder.commit(files)]
    by_image = 0
    for _ in range(12):
        change = image_change(rng, names)
        change.update(image_change(rng, names))
        commits.append(builder.commit(change))
        plan = both(builder, commits[-2], commits[-1])
        by_image += sum("uses image" in " ".join(p.reasons) for p in plan.pipelines)
        both(builder, rng.choice(commits[:-1]), commits[-1])
    assert images_file(state).is_file()
    assert by_image > 0, "the generated history never planned a pipeline by an image it names"


def image_repo(tmp_path: Path) -> tuple[GitRepoBuilder, str, str]:
    builder = GitRepoBuilder(tmp_path / "repo")
    base = builder.commit({**pipeline_files("alpha"), **pipeline_files("beta"),
                           "pipelines/beta/components/load/component.yaml": (
                               "name: load\nimplementation:\n  container:\n    image: alpha\n")})
    head = builder.commit({"pipelines/alpha/Dockerfile": "FROM python:3.11-slim\n# v2\n"})
    return builder, base, head


def test_a_wrong_cached_image_search_would_change_the_plan(tmp_path: Path, state: Path) -> None:
    """What the equality tests rely on: the cache's answer reaches the plan."""
    builder, base, head = image_repo(tmp_path)
    assert [p.name for p in both(builder, base, head).pipelines] == ["alpha", "beta"]
    data = json.loads(images_file(state).read_text())
    assert data["names"]["alpha"] == sorted(data["names"]["alpha"])
    assert "pipelines/beta/components/load/component.yaml" in data["names"]["alpha"]
    data["names"]["alpha"] = []  # well formed, and wrong
    images_file(state).write_text(json.dumps(data))
    wrong = ChangePlanner(GitRepo(builder.path)).plan(base, head)
    assert [p.name for p in wrong.pipelines] == ["alpha"]


@pytest.mark.parametrize("content", [
    '{"format": 1, "tree": ',
    "[1, 2, 3]",
    json.dumps({"format": 1, "tree": "not a tree", "specs": [], "names": {}}),
    json.dumps({"format": 1, "tree": "0" * 40, "specs": [], "names": {"alpha": ["b", "a"]}}),
    "\0\xff not text",
])
def test_a_corrupt_image_cache_is_rebuilt_with_a_warning_and_the_plan_is_right(
        tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    builder, base, head = image_repo(tmp_path)
    both(builder, base, head)
    images_file(state).write_bytes(content.encode("latin-1"))
    capsys.readouterr()

    assert [p.name for p in both(builder, base, head).pipelines] == ["alpha", "beta"]
    warning = capsys.readouterr().err
    assert f"warning: ignored the planning cache {images_file(state)}" in warning
    assert "pipelines/beta/components/load/component.yaml" in images_file(state).read_text()


def test_an_image_cache_of_a_tree_this_clone_lacks_is_started_over(
        tmp_path: Path, state: Path) -> None:
    builder, base, head = image_repo(tmp_path)
    both(builder, base, head)
    data = json.loads(images_file(state).read_text())
    data.update(tree="f" * 40, names={"alpha": []})  # as if copied from another clone
    images_file(state).write_text(json.dumps(data))
    assert [p.name for p in both(builder, base, head).pipelines] == ["alpha", "beta"]


def test_files_git_quotes_or_takes_for_binary_are_searched_as_git_does(
        tmp_path: Path, state: Path) -> None:
    builder, base, head = image_repo(tmp_path)
    both(builder, base, head)
    quoted = "pipelines/beta/components/caf\u00e9/component.yaml"
    builder.commit({quoted: "name: cafe\nimplementation:\n  container:\n    image: alpha\n",
                    "pipelines/beta/components/load/component.yaml": "name: load\n"})
    base = builder.head()
    head = builder.commit({"pipelines/alpha/Dockerfile": "FROM python:3.11-slim\n# v3\n"})
    both(builder, base, head)
    builder.commit({".gitattributes": "*.yaml binary\n",
                    "pipelines/beta/components/load/component.yaml": "image: alpha\n"})
    base = builder.head()
    head = builder.commit({"pipelines/alpha/Dockerfile": "FROM python:3.11-slim\n# v4\n"})
    both(builder, base, head)
