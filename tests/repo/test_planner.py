"""Planner scenarios on real git repositories: each rule of the README's change rules."""

from __future__ import annotations

import pytest

from mlops_bot.errors import ConfigError, UserError
from tests.repo.conftest import plan
from tests.support.gitrepo import GitRepoBuilder, pipeline_files, shared_component


def names(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.name for p in result.pipelines]


def rebuilt(result, pipeline: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    entry = next(p for p in result.pipelines if p.name == pipeline)
    return {i.image.name: i.reasons for i in entry.images if i.rebuild}


def five_pipelines(builder: GitRepoBuilder) -> str:
    files: dict[str, str | None] = {"README.md": "demo\n"}
    for name in ("alpha", "beta", "gamma", "delta", "epsilon"):
        files.update(pipeline_files(name))
    return builder.commit(files, "five pipelines")


def test_src_change_rebuilds_the_pipeline_image_and_names_the_file(builder):
    base = five_pipelines(builder)
    head = builder.commit({"pipelines/beta/src/logic.py": "def work(x):\n    return x\n"})
    result = plan(builder, base, head)
    assert names(result) == ["beta"]
    assert rebuilt(result, "beta") == {"beta": ["pipelines/beta/src/logic.py modified"]}
    assert result.pipelines[0].reasons == ["pipelines/beta/src/logic.py modified"]


def test_commit_touching_three_of_five_pipelines_plans_exactly_those(builder):
    base = five_pipelines(builder)
    head = builder.commit({
        "pipelines/alpha/Dockerfile": "FROM python:3.12-slim\n",
        "pipelines/gamma/pyproject.toml": "[project]\nname = 'gamma'\nversion = '0.2.0'\n",
        "pipelines/epsilon/components/train/definition.py": "# retuned\n",
    })
    result = plan(builder, base, head)
    assert names(result) == ["alpha", "epsilon", "gamma"]
    assert rebuilt(result, "alpha") == {"alpha": ["pipelines/alpha/Dockerfile modified"]}
    assert rebuilt(result, "gamma") == {"gamma": ["pipelines/gamma/pyproject.toml modified"]}
    # a lightweight component runs in the pipeline image: recompile, no rebuild
    assert rebuilt(result, "epsilon") == {}
    assert result.deleted == [] and result.ok


def test_component_with_its_own_dockerfile_rebuilds_only_that_image(builder):
    base = builder.commit(pipeline_files("shop", ("prepare", "train"), image_components=("train",)))
    head = builder.commit({"pipelines/shop/components/train/requirements.txt": "xgboost==2.0\n"})
    result = plan(builder, base, head)
    assert rebuilt(result, "shop") == {
        "shop-train": ["pipelines/shop/components/train/requirements.txt added"]}
    kinds = {i.image.name: i.image.kind for i in result.pipelines[0].images}
    assert kinds == {"shop": "pipeline", "shop-train": "component"}


def test_shared_library_change_affects_exactly_its_importers(builder):
    files: dict[str, str | None] = {}
    files.update(shared_component("scaler"))
    files.update(shared_component("splitter"))
    files.update(pipeline_files("one", imports=("from components.scaler.definition import scaler",)))
    files.update(pipeline_files("two", imports=("from components import scaler",)))
    files.update(pipeline_files("three", imports=("from components.splitter.definition import splitter",)))
    base = builder.commit(files)
    head = builder.commit({"components/scaler/definition.py": "from kfp import dsl\n# v2\n"})
    result = plan(builder, base, head)
    assert names(result) == ["one", "two"]
    assert any("components.scaler" in r and "components/scaler/definition.py" in r
               for r in result.pipelines[0].reasons)
    assert rebuilt(result, "one") == {}  # the shared code is compiled into the spec


def test_shared_library_change_reaches_pipelines_transitively(builder):
    files: dict[str, str | None] = {}
    files.update(shared_component("base_ops"))
    files.update(shared_component("features", extra="from components.base_ops.definition import base_ops"))
    files.update(pipeline_files("uses_features", imports=("from components.features.definition import features",)))
    files.update(pipeline_files("unrelated"))
    base = builder.commit(files)
    head = builder.commit({"components/base_ops/definition.py": "# changed\n"})
    assert names(plan(builder, base, head)) == ["uses_features"]


def test_shared_component_yaml_loaded_by_path_is_found(builder):
    files: dict[str, str | None] = {"components/validate/component.yaml": "name: validate\n"}
    loader = "from kfp import components as kc\nvalidate = kc.load_component_from_file('../../components/validate/component.yaml')"
    files.update(pipeline_files("yamluser", imports=(loader,)))
    files.update(pipeline_files("other"))
    base = builder.commit(files)
    head = builder.commit({"components/validate/component.yaml": "name: validate\n# v2\n"})
    assert names(plan(builder, base, head)) == ["yamluser"]


def test_changes_outside_pipelines_and_shared_paths_affect_nothing(builder):
    base = five_pipelines(builder)
    head = builder.commit({"README.md": "new docs\n", "docs/guide.md": "guide\n"})
    result = plan(builder, base, head)
    assert result.pipelines == [] and result.ok
    assert result.notes == ["2 changed file(s) outside pipelines/ and the shared paths affect no pipeline"]


def test_deleted_pipeline_is_reported_not_built(builder):
    base = five_pipelines(builder)
    head = builder.commit({"pipelines/delta": None})
    result = plan(builder, base, head)
    assert result.deleted == ["delta"] and result.pipelines == []


def test_renamed_pipeline_is_added_under_its_new_name_and_old_one_deleted(builder):
    base = five_pipelines(builder)
    head = builder.move("pipelines/gamma", "pipelines/gamma_v2")
    result = plan(builder, base, head)
    assert result.deleted == ["gamma"]
    assert names(result) == ["gamma_v2"]
    entry = result.pipelines[0]
    assert entry.status == "added"
    assert "pipelines/gamma_v2/definition.py renamed from pipelines/gamma/definition.py" in entry.reasons
    assert rebuilt(result, "gamma_v2") == {"gamma_v2": ["new pipeline"]}


def test_new_branch_compares_with_merge_base_of_the_default_branch(builder):
    base = five_pipelines(builder)
    builder.git("checkout", "-q", "-b", "feature")
    head = builder.commit({"pipelines/alpha/src/logic.py": "X = 1\n"})
    result = plan(builder, "0" * 40, head)
    assert result.compared_with == base
    assert names(result) == ["alpha"]
    assert result.notes[0].startswith("new branch: compared with its merge base with main")


def test_new_branch_without_a_default_branch_plans_everything(builder):
    five_pipelines(builder)
    builder.git("branch", "-m", "main", "feature")
    result = plan(builder, "0" * 40, builder.head())
    assert result.compared_with is None
    assert "new branch" in (result.everything_reason or "")
    assert len(result.pipelines) == 5
    assert all(i.rebuild for p in result.pipelines for i in p.images)


def test_missing_base_after_force_push_plans_everything_and_says_why(builder):
    five_pipelines(builder)
    head = builder.commit({"pipelines/alpha/run.py": "PARAMETERS = {}\n"})
    result = plan(builder, "1234567890abcdef1234567890abcdef12345678", head)
    assert result.compared_with is None
    assert result.everything_reason is not None
    assert "1234567890ab is not in this clone" in result.everything_reason
    assert len(result.pipelines) == 5


def test_unknown_head_is_a_user_error(builder):
    base = five_pipelines(builder)
    with pytest.raises(UserError, match="--head nope is not a commit"):
        plan(builder, base, "nope")


def test_syntax_error_is_reported_with_file_and_line_and_others_go_on(builder):
    base = five_pipelines(builder)
    head = builder.commit({
        "pipelines/alpha/definition.py": "from kfp import dsl\n\ndef broken(:\n",
        "pipelines/beta/src/logic.py": "X = 2\n",
    })
    result = plan(builder, base, head)
    assert names(result) == ["beta"]
    assert not result.ok
    [problem] = result.broken["alpha"]
    assert (problem.file, problem.line) == ("pipelines/alpha/definition.py", 3)
    assert "syntax error" in problem.message


def test_syntax_error_in_a_changed_component_breaks_its_pipeline(builder):
    base = five_pipelines(builder)
    head = builder.commit({"pipelines/beta/components/train/definition.py": "def x(\n"})
    result = plan(builder, base, head)
    assert str(result.broken["beta"][0]).startswith("pipelines/beta/components/train/definition.py:1")


@pytest.mark.parametrize(("source", "message"), [
    ("from kfp import dsl\n\ndef f():\n    pass\n", "defines no pipeline"),
    ("from kfp import dsl\n\n@dsl.pipeline\ndef a():\n    pass\n\n@dsl.pipeline(name='b')\ndef b():\n    pass\n",
     "defines 2 pipelines that no other pipeline calls (a (line 4), b (line 8))"),
])
def test_definition_must_define_exactly_one_pipeline(builder, source, message):
    base = five_pipelines(builder)
    head = builder.commit({"pipelines/gamma/definition.py": source})
    result = plan(builder, base, head)
    assert message in result.broken["gamma"][0].message


def test_folder_without_definition_is_reported_and_others_discovered(builder):
    base = five_pipelines(builder)
    head = builder.commit({
        "pipelines/notes/ideas.txt": "later\n", "pipelines/alpha/src/logic.py": "Y = 1\n"})
    result = plan(builder, base, head)
    assert names(result) == ["alpha"]
    assert "no definition.py" in result.broken["notes"][0].message


def test_config_change_to_one_pipeline_affects_that_pipeline_only(builder):
    base = builder.commit({**pipeline_files("alpha"), **pipeline_files("beta"),
                           "mlops.yaml": "pipelines:\n  alpha:\n    parameters: {size: 1}\n"})
    head = builder.commit({"mlops.yaml": "pipelines:\n  alpha:\n    parameters: {size: 2}\n"})
    result = plan(builder, base, head)
    assert names(result) == ["alpha"]
    assert result.pipelines[0].reasons == ["mlops.yaml: pipelines.alpha changed"]
    assert rebuilt(result, "alpha") == {}
    assert result.config_changes == ["pipelines"]


def test_config_change_to_environments_affects_no_pipeline(builder):
    base = builder.commit({**pipeline_files("alpha"), "mlops.yaml": "backend: local\n"})
    head = builder.commit({"mlops.yaml": "backend: local\nenvironments:\n  staging:\n    endpoint: alpha-staging\n"})
    result = plan(builder, base, head)
    assert result.pipelines == [] and result.config_changes == ["environments"]


def test_config_change_to_shared_paths_plans_everything(builder):
    base = builder.commit({**pipeline_files("alpha"), **pipeline_files("beta")})
    head = builder.commit({"mlops.yaml": "shared: [components, lib]\n"})
    result = plan(builder, base, head)
    assert result.everything_reason == "mlops.yaml: shared changed: planning every pipeline"
    assert names(result) == ["alpha", "beta"]


def test_invalid_config_at_head_is_a_config_error(builder):
    base = builder.commit(pipeline_files("alpha"))
    head = builder.commit({"mlops.yaml": "backend: kubernetes\n"})
    with pytest.raises(ConfigError, match="backend"):
        plan(builder, base, head)


def test_content_hash_depends_on_image_inputs_only_not_history(tmp_path):
    first = GitRepoBuilder(tmp_path / "first")
    second = GitRepoBuilder(tmp_path / "second")
    first.commit({"other.txt": "history differs\n"})
    base1 = first.commit(pipeline_files("alpha"))
    base2 = second.commit(pipeline_files("alpha"))
    head1 = first.commit({"pipelines/alpha/src/logic.py": "Z = 3\n"})
    head2 = second.commit({"pipelines/alpha/src/logic.py": "Z = 3\n"})
    hash1 = plan(first, base1, head1).pipelines[0].images[0].image.content_hash
    hash2 = plan(second, base2, head2).pipelines[0].images[0].image.content_hash
    assert hash1 == hash2
    # a component change leaves the image hash alone; a src change moves it
    head3 = first.commit({"pipelines/alpha/components/train/definition.py": "# tuned\n"})
    assert plan(first, head1, head3).pipelines[0].images[0].image.content_hash == hash1
    head4 = first.commit({"pipelines/alpha/src/logic.py": "Z = 4\n"})
    assert plan(first, head3, head4).pipelines[0].images[0].image.content_hash != hash1


def test_shared_component_with_its_own_image_is_rebuilt_once(builder):
    files: dict[str, str | None] = {"components/tfdv/Dockerfile": "FROM python:3.11\n",
                                    "components/tfdv/component.yaml": "name: tfdv\n"}
    loader = "stats = load_component_from_file('components/tfdv/component.yaml')"
    files.update(pipeline_files("a", imports=(loader,)))
    files.update(pipeline_files("b", imports=(loader,)))
    base = builder.commit(files)
    head = builder.commit({"components/tfdv/Dockerfile": "FROM python:3.12\n"})
    result = plan(builder, base, head)
    assert names(result) == ["a", "b"]
    assert [(i.image.name, i.rebuild) for i in result.shared_images] == [("shared-tfdv", True)]


def test_first_commit_plans_every_pipeline_as_added(builder):
    from mlops_bot.repo.git import EMPTY_TREE

    head = builder.commit({**pipeline_files("alpha"), **pipeline_files("beta")})
    result = plan(builder, EMPTY_TREE, head)
    assert names(result) == ["alpha", "beta"]
    assert {p.status for p in result.pipelines} == {"added"}
    assert result.everything_reason is None


def test_default_layout_matches_the_config_defaults():
    from mlops_bot.config import Config
    from mlops_bot.repo.config_diff import DefaultLayout

    defaults, light = Config(), DefaultLayout()
    assert (light.pipelines_dir, light.shared, light.default_branch) == (
        defaults.pipelines_dir, defaults.shared, defaults.default_branch)
