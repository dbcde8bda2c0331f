"""Discovery by folder convention: seed 000 (definition.py) and seed 003 (component.yaml)."""

from __future__ import annotations

from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.layout import discover_pipelines, discover_shared_images
from tests.support.gitrepo import GitRepoBuilder, pipeline_files


def discover(builder: GitRepoBuilder):  # type: ignore[no-untyped-def]
    git = GitRepo(builder.path)
    return discover_pipelines(git.tree(builder.head(), ["pipelines"]), "pipelines")


def test_seed_003_container_components_with_their_own_images(tmp_path):
    builder = GitRepoBuilder(tmp_path / "repo")
    files = pipeline_files("workshop", components=())
    for name in ("preprocess", "training"):
        root = f"pipelines/workshop/components/{name}"
        files.update({f"{root}/component.yaml": f"name: {name}\n", f"{root}/Dockerfile": "FROM python\n",
                      f"{root}/requirements.txt": "pandas\n", f"{root}/src/main.py": "print(1)\n",
                      f"{root}/build_image.sh": "gcloud builds submit\n"})
    builder.commit(files)
    pipelines, broken = discover(builder)
    assert broken == {}
    components = {c.name: (c.kind, c.image) for c in pipelines["workshop"].components}
    assert components == {"preprocess": ("container", "workshop-preprocess"),
                          "training": ("container", "workshop-training")}
    images = [(i.name, i.kind, i.context) for i in pipelines["workshop"].images]
    assert images == [("workshop", "pipeline", "pipelines/workshop"),
                      ("workshop-preprocess", "component", "pipelines/workshop/components/preprocess"),
                      ("workshop-training", "component", "pipelines/workshop/components/training")]


def test_pipeline_without_image_files_has_no_pipeline_image(tmp_path):
    builder = GitRepoBuilder(tmp_path / "repo")
    files = pipeline_files("light")
    for name in ("Dockerfile", "pyproject.toml"):
        del files[f"pipelines/light/{name}"]
    builder.commit(files)
    pipelines, _ = discover(builder)
    assert pipelines["light"].images == ()


def test_component_folder_without_definition_is_a_warning_not_a_failure(tmp_path):
    builder = GitRepoBuilder(tmp_path / "repo")
    builder.commit({**pipeline_files("alpha"), "pipelines/alpha/components/notes/todo.txt": "x\n"})
    pipelines, broken = discover(builder)
    assert broken == {} and [c.name for c in pipelines["alpha"].components] == ["prepare", "train"]
    assert [str(w) for w in pipelines["alpha"].warnings] == [
        "pipelines/alpha/components/notes: not a component: it has neither definition.py nor component.yaml"]


def test_hidden_and_private_folders_are_ignored(tmp_path):
    builder = GitRepoBuilder(tmp_path / "repo")
    builder.commit({**pipeline_files("alpha"), "pipelines/_template/notes.txt": "x\n",
                    "pipelines/.cache/x.txt": "x\n", "pipelines/README.md": "docs\n"})
    pipelines, broken = discover(builder)
    assert list(pipelines) == ["alpha"] and broken == {}


def test_image_content_hash_ignores_definition_run_and_docs(tmp_path):
    first = GitRepoBuilder(tmp_path / "one")
    second = GitRepoBuilder(tmp_path / "two")
    first.commit(pipeline_files("alpha"))
    files = pipeline_files("alpha")
    files["pipelines/alpha/run.py"] = "PARAMETERS = {'size': 9}\n"
    files["pipelines/alpha/README.md"] = "notes\n"
    files["pipelines/alpha/definition.py"] += "\n# edited\n"
    second.commit(files)
    hash_one = discover(first)[0]["alpha"].images[0].content_hash
    assert discover(second)[0]["alpha"].images[0].content_hash == hash_one


def test_shared_images_are_first_level_folders_with_a_dockerfile(tmp_path):
    builder = GitRepoBuilder(tmp_path / "repo")
    builder.commit({"components/tfdv/Dockerfile": "FROM x\n", "components/tfdv/component.yaml": "a\n",
                    "components/plain/definition.py": "x = 1\n",
                    "components/deep/inner/Dockerfile": "FROM y\n"})
    git = GitRepo(builder.path)
    images = discover_shared_images(git.tree(builder.head(), ["components"]), ["components"])
    assert [(i.name, i.context) for i in images] == [("shared-tfdv", "components/tfdv")]
