"""GitRepo runs git itself: a process per question, and one `cat-file --batch` kept open for
object reads. What callers rely on: the same answers from any folder of a clone, a worktree or a
bare repository, None (not an exception) for what a commit lacks, and reads that stay right when
threads share the reader or git goes away under it."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlops_bot.errors import UserError
from mlops_bot.repo.git import GitError, GitRepo
from tests.support.gitrepo import GitRepoBuilder


@pytest.fixture
def repo(tmp_path: Path) -> tuple[GitRepoBuilder, str]:
    builder = GitRepoBuilder(tmp_path / "repo")
    head = builder.commit({"pipelines/a b/definition.py": "NAME = 'spaced'\n",
                           "pipelines/alpha/definition.py": "NAME = 'alpha'\n",
                           "pipelines/alpha/data.bin": "x" * 100_000})
    return builder, head


def test_any_folder_of_the_work_tree_opens_the_repository(repo: tuple[GitRepoBuilder, str]) -> None:
    builder, head = repo
    assert GitRepo(builder.path / "pipelines" / "alpha").root == builder.path
    assert GitRepo(builder.path / "pipelines" / "alpha").resolve("HEAD") == head


@pytest.mark.parametrize("where", ["a folder outside any clone", "a path that does not exist"])
def test_outside_a_repository_is_one_sentence_with_the_fix(tmp_path: Path, where: str) -> None:
    path = tmp_path / "plain" if where.startswith("a folder") else tmp_path / "missing" / "x"
    if where.startswith("a folder"):
        path.mkdir()
    with pytest.raises(UserError, match=r"is not inside a git repository: .* --repo PATH"):
        GitRepo(path)


def test_a_linked_worktree_and_a_bare_clone_answer_like_the_clone(
        repo: tuple[GitRepoBuilder, str], tmp_path: Path) -> None:
    builder, head = repo
    builder.git("worktree", "add", "--detach", "-q", str(tmp_path / "tree"), head)
    builder.git("clone", "-q", "--bare", str(builder.path), str(tmp_path / "bare.git"))
    for path in (tmp_path / "tree", tmp_path / "bare.git"):
        opened = GitRepo(path)
        assert opened.root == path
        assert opened.resolve("HEAD") == head
        assert opened.show(head, "pipelines/alpha/definition.py") == "NAME = 'alpha'\n"


def test_objects_are_read_by_name_including_paths_with_spaces(
        repo: tuple[GitRepoBuilder, str]) -> None:
    builder, head = repo
    git = GitRepo(builder.path)
    assert git.show(head, "pipelines/a b/definition.py") == "NAME = 'spaced'\n"
    assert git.show(head, "pipelines/alpha/data.bin") == "x" * 100_000  # longer than a pipe
    assert git.show(head, "pipelines/none/definition.py") is None
    assert git.show(head, "pipelines/alpha") is None  # a tree, not a file
    assert git.entry(head, "pipelines/alpha")[1] == "tree"  # type: ignore[index]
    assert git.resolve("0" * 40) is None and git.resolve("no-such-branch") is None
    assert git.resolve(head[:12]) == head
    with pytest.raises(GitError):
        git.read("1" * 40)


def test_threads_sharing_one_reader_each_get_their_own_answer(
        repo: tuple[GitRepoBuilder, str]) -> None:
    builder, head = repo
    git = GitRepo(builder.path)
    paths = ["pipelines/a b/definition.py", "pipelines/alpha/definition.py",
             "pipelines/alpha/data.bin"] * 40
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda path: git.show(head, path), paths))
    expected = {"pipelines/a b/definition.py": "NAME = 'spaced'\n",
                "pipelines/alpha/definition.py": "NAME = 'alpha'\n",
                "pipelines/alpha/data.bin": "x" * 100_000}
    assert answers == [expected[path] for path in paths]


def test_a_reader_whose_git_died_falls_back_to_a_process_per_question(
        repo: tuple[GitRepoBuilder, str]) -> None:
    builder, head = repo
    git = GitRepo(builder.path)
    assert git.show(head, "pipelines/alpha/definition.py") == "NAME = 'alpha'\n"
    reader = git._objects._process  # the batch process, killed as an OOM killer would
    assert reader is not None
    reader.kill()
    reader.wait()
    assert git.show(head, "pipelines/alpha/definition.py") == "NAME = 'alpha'\n"
    assert git.resolve("HEAD") == head


def test_the_reader_ends_with_the_repository_object(repo: tuple[GitRepoBuilder, str]) -> None:
    builder, head = repo
    script = ("import gc, sys\nfrom mlops_bot.repo.git import GitRepo\n"
              "git = GitRepo(sys.argv[1]); git.resolve(sys.argv[2])\n"
              "process = git._objects._process\ndel git; gc.collect()\n"
              "print(process.poll())\n")
    done = subprocess.run([sys.executable, "-c", script, str(builder.path), head],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0", done.stderr  # exited, not left running

