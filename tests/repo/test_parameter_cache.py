"""The parameter check's cache: the same notes and refusals as parsing every file again."""

from __future__ import annotations

import pytest

from mlops_bot.errors import UsageError
from mlops_bot.repo.config_diff import layout_at
from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.parameter_needs import parameter_notes
from tests.repo.conftest import plan
from tests.support.gitrepo import pipeline_files

DEFINITION = ("from kfp import dsl\n\n\n@dsl.pipeline(name='alpha')\n"
              "def alpha(size: int, rate: float = 0.1):\n    pass\n")


def notes(builder, base, head, cli=None, cache=True):
    repo = GitRepo(builder.path)
    result = plan(builder, base, head)
    return parameter_notes(repo, result, layout_at(repo, result.head), cli or {}, cache=cache)


def test_cached_parameters_give_the_notes_and_refusals_of_a_fresh_parse(
        builder, tmp_path, monkeypatch, capsys):
    state = tmp_path / "state"
    monkeypatch.setenv("MLOPS_BOT_STATE_DIR", str(state))
    base = builder.commit(pipeline_files("beta"))
    head = builder.commit({**pipeline_files("alpha"), "pipelines/alpha/definition.py": DEFINITION,
                           "pipelines/alpha/run.py": "PARAMETERS = {'size': None}\n"})
    fresh = notes(builder, base, head, cache=False)
    assert len(fresh) == 1 and "alpha" in fresh[0] and "size" in fresh[0]
    assert not (state / "cache" / "parameters.json").exists()
    assert notes(builder, base, head) == fresh  # parses, then writes the cache
    assert (state / "cache" / "parameters.json").exists()
    assert notes(builder, base, head) == fresh  # from the cache
    assert notes(builder, base, head, {"size": 3}) == []
    with pytest.raises(UsageError, match="size"):
        notes(builder, base, head, {"size": "big"})  # the type comes from the cache

    given = builder.commit({"pipelines/alpha/run.py": "PARAMETERS = {'size': 2}\n"})
    assert notes(builder, base, given) == notes(builder, base, given, cache=False) == []

    (state / "cache" / "parameters.json").write_text('{"format": 1, "entries": {"run:x": 3}}')
    assert notes(builder, base, head) == fresh
    assert "ignored the planning cache" in capsys.readouterr().err
