"""Registry tags from branch names: injective, never a reserved tag, and `latest` and the
default branch's tag move only on pushes to the default branch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_bot.backends.versions import check_tag, tag_for_branch, tags_for_push
from tests.support.cli import cli_json
from tests.support.gitrepo import GitRepoBuilder, pipeline_files


@pytest.mark.parametrize("branches", [
    ["main", "main-", "main--", "main/-", "-main"],
    ["feature/x", "feature-x", "feature_x", "Feature/X", "feature//x"],
    ["a" * 200 + "1", "a" * 200 + "2"],  # the same slug once cut to length
])
def test_branches_that_slug_alike_get_different_tags(branches):
    tags = [tag_for_branch(branch) for branch in branches]
    assert len(set(tags)) == len(branches)
    for tag in tags:
        assert check_tag(tag) == tag  # a valid tag: one path segment, at most 128 characters


@pytest.mark.parametrize("branch", ["latest", "main", "staging", "production", "v-0123456789abcdef",
                                    "@{upstream}", "..", "日本"])
def test_no_branch_takes_a_reserved_tag_by_its_name(branch):
    tag = tag_for_branch(branch)
    assert tag.startswith("branch-") and tag not in {"latest", "main", "staging", "production"}
    assert check_tag(tag) == tag


def test_only_the_default_branch_moves_latest_and_its_own_tag():
    assert tags_for_push("main", "main") == ["latest", "main"]
    assert tags_for_push("trunk", "trunk") == ["latest", "trunk"]
    assert tags_for_push("latest", "latest") == ["latest"]  # not tagged twice
    assert tags_for_push("main-", "main") == [tag_for_branch("main-")]
    assert tags_for_push(None, "main") == []  # a tag push or a detached commit


def test_a_feature_push_leaves_what_schedules_follow_alone(tmp_path: Path):
    builder = GitRepoBuilder(tmp_path / "repo")
    first = builder.commit({".gitignore": ".mlops/\n", **pipeline_files("alpha")})
    main_version = cli_json("push", "--head", first, cwd=builder.path)["versions"][0]["version"]
    builder.git("checkout", "-q", "-b", "main-")
    second = builder.commit({"pipelines/alpha/src/logic.py": "def work(x):\n    return 2\n"})
    event = tmp_path / "event.json"
    # GitHub names the repository's default branch in the event; `main-` is not it.
    event.write_text(json.dumps({"before": first, "after": second, "ref": "refs/heads/main-",
                                 "repository": {"default_branch": "main"}}))
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(event)}
    [version] = cli_json("push", cwd=builder.path, env=env)["versions"]

    assert version["tags"] == [tag_for_branch("main-")]
    listing = cli_json("registry", "list", "alpha", cwd=builder.path)
    tagged = {tag: entry["version"] for entry in listing["versions"] for tag in entry["tags"]}
    assert tagged["latest"] == tagged["main"] == main_version
    assert tagged[tag_for_branch("main-")] == version["version"] != main_version
