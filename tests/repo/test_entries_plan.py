"""Planning with `entries:` and images as dependencies, on real git repositories."""

from __future__ import annotations

import pytest

from mlops_bot.errors import UserError
from mlops_bot.repo.config_diff import DefaultLayout, config_at
from mlops_bot.repo.entries import require_pipelines
from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.planner import ChangePlanner
from tests.repo.conftest import plan
from tests.support.gitrepo import GitRepoBuilder, pipeline_files


def definition(name: str, base_image: str | None = None, imports: str = "") -> str:
    image = f"base_image={base_image!r}" if base_image else ""
    return (f"from kfp import dsl\n{imports}\n\n@dsl.component({image})\ndef step() -> int:\n"
            f"    return 1\n\n\n@dsl.pipeline(name={name!r})\ndef {name}():\n    step()\n")


SEED_003 = {
    "mlops.yaml": "entries: ['pipelines/*.py']\n",
    "pipelines/churn.py": definition("churn"),
    "pipelines/fraud.py": definition("fraud"),
    "pipelines/README.md": "one file per pipeline\n",
    "pipelines/__init__.py": "",
}

SEED_001 = {
    "mlops.yaml": ("entries: ['kfx/pipelines/*/pipeline.py']\n"
                   "images:\n- {name: kfx, inputs: [kfx/components, setup.py, Dockerfile]}\n"),
    "Dockerfile": "FROM python:3.11-slim\nCOPY . /src\nRUN pip install /src\n",
    "setup.py": "from setuptools import setup\nsetup(name='kfx', packages=['kfx'])\n",
    "kfx/__init__.py": "",
    "kfx/components/__init__.py": "",
    "kfx/components/stats.py": ("from kfp import dsl\n\n\n@dsl.component(base_image='kfx')\n"
                                "def stats() -> int:\n    return 1\n"),
    "kfx/pipelines/__init__.py": "",
    **{f"kfx/pipelines/{p}/pipeline.py": (
        f"from kfp import dsl\nfrom kfx.components.stats import stats\n\n\n"
        f"@dsl.pipeline(name={p!r})\ndef {p}():\n    stats()\n") for p in ("daily", "weekly")},
    "kfx/pipelines/weekly/config.json": "{}\n",
}


def test_one_file_per_pipeline_is_found_and_only_a_changed_file_is_planned(
        builder: GitRepoBuilder) -> None:
    first = builder.commit(SEED_003)
    everything = ChangePlanner(GitRepo(builder.path)).plan_all(first)
    assert sorted(p.name for p in everything.pipelines) == ["churn", "fraud"]
    assert {p.name: p.pipeline.definition for p in everything.pipelines}["churn"] == (
        "pipelines/churn.py")

    head = builder.commit({"pipelines/fraud.py": definition("fraud") + "# tuned\n"})
    changed = plan(builder, first, head)
    assert [(p.name, p.reasons) for p in changed.pipelines] == [
        ("fraud", ["pipelines/fraud.py modified"])]
    removed = builder.commit({"pipelines/churn.py": None})
    assert plan(builder, head, removed).deleted == ["churn"]


def test_library_layout_plans_the_library_image_once_and_its_change_affects_its_users(
        builder: GitRepoBuilder) -> None:
    first = builder.commit(SEED_001)
    everything = ChangePlanner(GitRepo(builder.path)).plan_all(first)
    assert sorted(p.name for p in everything.pipelines) == ["daily", "weekly"]
    assert [(i.image.name, i.image.kind) for i in everything.shared_images] == [
        ("kfx", "repository")]

    own = builder.commit({"kfx/pipelines/weekly/config.json": '{"days": 7}\n'})
    assert [p.name for p in plan(builder, first, own).pipelines] == ["weekly"]

    head = builder.commit({"setup.py": SEED_001["setup.py"] + "# 1.1\n"})
    changed = plan(builder, own, head)
    [image] = changed.shared_images
    assert (image.image.name, image.rebuild, image.reasons) == ("kfx", True,
                                                                ["setup.py changed"])
    assert sorted(p.name for p in changed.pipelines) == ["daily", "weekly"]
    reasons = {p.name: p.reasons for p in changed.pipelines}
    assert reasons["daily"] == [
        "kfx/pipelines/daily/pipeline.py (through kfx/components/stats.py) uses image kfx, whose "
        "inputs changed (setup.py changed)"]
    assert changed.notes == []  # setup.py is the library image's: not "affects no pipeline"


def test_a_pipeline_naming_another_pipelines_image_is_affected_by_its_change(
        builder: GitRepoBuilder) -> None:
    copy = {"pipelines/copy/definition.py": definition("copy", base_image="alpha")}
    first = builder.commit({**pipeline_files("alpha"), **pipeline_files("beta"), **copy})
    head = builder.commit({"pipelines/alpha/Dockerfile": "FROM python:3.11-slim\n# v2\n"})
    changed = plan(builder, first, head)
    assert sorted(p.name for p in changed.pipelines) == ["alpha", "copy"]
    [copy_plan] = [p for p in changed.pipelines if p.name == "copy"]
    assert copy_plan.reasons == ["pipelines/copy/definition.py uses image alpha, whose inputs "
                                 "changed (pipelines/alpha/Dockerfile modified)"]


def test_pipelines_rebuilding_their_own_images_still_see_the_others_they_name(
        builder: GitRepoBuilder) -> None:
    """A pipeline's files naming its own image are not read for it (nothing new to say), but a
    file naming another image rebuilt in the same push is, in the same folders."""
    own_and_other = {
        "pipelines/beta/components/train/definition.py": definition("train", base_image="beta"),
        "pipelines/beta/components/load/component.yaml": (
            "name: load\nimplementation:\n  container:\n    image: eu.gcr.io/p/alpha:1\n"),
        "pipelines/alpha/components/train/definition.py": definition("train", base_image="alpha"),
    }
    builder.commit({**pipeline_files("alpha"), **pipeline_files("beta"), **own_and_other})
    for _ in range(2):  # the first plan fills the planning cache, the second reads it
        base = builder.head()
        head = builder.commit({"pipelines/alpha/Dockerfile": f"FROM python:3.11-slim\n# {base}\n",
                               "pipelines/beta/Dockerfile": f"FROM python:3.11-slim\n# {base}\n"})
        changed = plan(builder, base, head)
        reasons = {p.name: p.reasons for p in changed.pipelines}
        assert sorted(reasons) == ["alpha", "beta"]
        assert [r for r in reasons["beta"] if "uses image" in r] == [
            "pipelines/beta/components/load/component.yaml uses image alpha, whose inputs "
            "changed (pipelines/alpha/Dockerfile modified)"]
        assert not [r for r in reasons["alpha"] if "uses image" in r]


def test_nothing_found_names_where_it_looked(builder: GitRepoBuilder) -> None:
    head = builder.commit({"notebooks/train.py": "print('hi')\n"})
    with pytest.raises(UserError, match=r"looked for pipelines/\*/definition.py; .*entries:"):
        require_pipelines(GitRepo(builder.path), head, DefaultLayout())
    head = builder.commit({"mlops.yaml": "entries: ['flows/*.py', 'kfx/*/pipeline.json']\n"})
    with pytest.raises(UserError, match=r"looked for flows/\*.py, kfx/\*/pipeline.json$"):
        require_pipelines(GitRepo(builder.path), head, config_at(GitRepo(builder.path), head))


def test_the_files_naming_an_image_are_searched_again_where_they_changed(
        builder: GitRepoBuilder) -> None:
    """The planning cache of image names (`image_index.py`) follows edits between plans."""
    copy = {"pipelines/copy/definition.py": definition("copy", base_image="alpha")}
    first = builder.commit({**pipeline_files("alpha"), **pipeline_files("beta"), **copy})
    head = builder.commit({"pipelines/alpha/Dockerfile": "FROM python:3.11-slim\n# v2\n"})
    assert sorted(p.name for p in plan(builder, first, head).pipelines) == ["alpha", "copy"]

    # copy stops naming alpha (the name stays in the file); beta's component.yaml starts to
    builder.commit({"pipelines/copy/definition.py": definition("copy") + "# was alpha\n",
                    "pipelines/beta/components/load/component.yaml": (
                        "name: load\nimplementation:\n  container:\n"
                        "    image: eu.gcr.io/p/alpha:2\n")})
    base = builder.head()
    head = builder.commit({"pipelines/alpha/Dockerfile": "FROM python:3.11-slim\n# v3\n"})
    changed = plan(builder, base, head)
    assert sorted(p.name for p in changed.pipelines) == ["alpha", "beta"]
    assert [p.reasons for p in changed.pipelines if p.name == "beta"] == [[
        "pipelines/beta/components/load/component.yaml uses image alpha, whose inputs changed "
        "(pipelines/alpha/Dockerfile modified)"]]
