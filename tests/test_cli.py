"""The command line as users and workflows see it: exit codes, stdout, stderr."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from tests.support.cli import cli
from tests.support.gitrepo import GitRepoBuilder, pipeline_files


def test_help_and_version_do_not_import_heavy_libraries():
    probe = ("import sys\nbaseline = set(sys.modules)\nfrom mlops_bot.cli import main\n"
             "for argv in (['--help'], ['--version'], ['plan', '--help'], ['monitor', '--help']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "heavy = sorted(m for m in set(sys.modules) - baseline if m.split('.')[0] in "
             "('kfp', 'google', 'github', 'git', 'pydantic', 'yaml', 'numpy'))\n"
             "print('HEAVY=' + ','.join(heavy))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stdout


def test_a_plan_loads_its_own_command_only_and_runs_git_without_gitpython(tmp_path):
    """A plan in CI is a fresh process: it pays for its own command's module, not the other
    nineteen, and for git processes, not for importing GitPython (more than a warm plan)."""
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit(pipeline_files("alpha"))
    head = repo.commit({"pipelines/alpha/src/logic.py": "V = 2\n"})
    probe = ("import sys\nfrom mlops_bot.cli import main\n"
             f"code = main(['plan', '--json', '--repo', {str(repo.path)!r}, '--base', {base!r}, "
             f"'--head', {head!r}])\n"
             "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'git' "
             "or m.startswith('mlops_bot.cli.'))\n"
             "print('LOADED=' + ','.join(loaded), file=sys.stderr)\nsys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [p["name"] for p in json.loads(result.stdout)["pipelines"]] == ["alpha"]
    assert "LOADED=mlops_bot.cli.options,mlops_bot.cli.plan\n" in result.stderr


def test_a_mistyped_command_still_lists_every_command():
    result = cli("plna")
    assert result.returncode == 2
    assert "invalid choice: 'plna'" in result.stderr
    assert all(f"'{name}'" in result.stderr for name in ("plan", "push", "deploy", "status"))


def test_version_prints_the_package_version():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("mlops-bot 0.")


def test_usage_error_exits_2():
    assert cli("plan", "--base", "abc").returncode == 2
    assert cli("no-such-command").returncode == 2


def test_plan_json_is_one_document_on_stdout(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit(pipeline_files("alpha"))
    head = repo.commit({"pipelines/alpha/src/logic.py": "V = 2\n"})
    result = cli("plan", "--repo", str(repo.path), "--base", base, "--head", head, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # exactly one document: json.loads rejects extra data
    assert document["head"] == head
    assert [p["name"] for p in document["pipelines"]] == ["alpha"]
    image = document["pipelines"][0]["images"][0]
    assert image["name"] == "alpha" and len(image["content_hash"]) == 64 and image["rebuild"]


def test_plan_table_names_pipeline_and_reason(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit(pipeline_files("alpha"))
    head = repo.commit({"pipelines/alpha/src/logic.py": "V = 2\n"})
    result = cli("plan", "--repo", str(repo.path), "--base", base, "--head", head)
    assert result.returncode == 0
    assert "alpha" in result.stdout and "pipelines/alpha/src/logic.py modified" in result.stdout


def test_broken_pipeline_exits_1_and_still_prints_the_plan(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({**pipeline_files("alpha"), **pipeline_files("beta")})
    head = repo.commit({"pipelines/alpha/definition.py": "def (\n", "pipelines/beta/run.py": "X = 1\n"})
    result = cli("plan", "--repo", str(repo.path), "--base", base, "--head", head, "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert [p["name"] for p in document["pipelines"]] == ["beta"]
    assert document["broken"][0]["errors"][0]["file"] == "pipelines/alpha/definition.py"


def test_user_error_exits_1_with_one_sentence_and_no_traceback(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit(pipeline_files("alpha"))
    result = cli("plan", "--repo", str(repo.path), "--base", base, "--head", "nope")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"mlops-bot: --head nope is not a commit in {repo.path}: "
                                     "fetch it first")
    assert result.stdout == ""


def test_not_a_git_repository_is_a_user_error(tmp_path):
    result = cli("plan", "--repo", str(tmp_path), "--base", "a", "--head", "b")
    assert result.returncode == 1
    assert "is not inside a git repository" in result.stderr


def test_invalid_config_is_reported_with_file_and_key(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit(pipeline_files("alpha"))
    head = repo.commit({"mlops.yaml": "backend: local\nenvironments:\n  staging:\n    canary_percent: 300\n"})
    result = cli("plan", "--repo", str(repo.path), "--base", base, "--head", head)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"mlops.yaml at {head[:12]} is invalid" in result.stderr
    assert "environments.staging.canary_percent: must be at most 100" in result.stderr
    assert "environments.staging.endpoint: is required" in result.stderr


def test_pipelines_lists_discovered_pipelines_and_broken_folders(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({**pipeline_files("alpha", image_components=("train",)),
                 "pipelines/empty/notes.txt": "todo\n"})
    result = cli("pipelines", "--repo", str(repo.path), "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert [p["name"] for p in document["pipelines"]] == ["alpha"]
    assert [i["name"] for i in document["pipelines"][0]["images"]] == ["alpha", "alpha-train"]
    assert document["broken"][0]["name"] == "empty"


def test_unexpected_failure_exits_3_with_traceback(monkeypatch, capsys):
    import mlops_bot.cli.plan
    from mlops_bot.cli import main

    def bug(**_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(mlops_bot.cli.plan, "run_plan", bug)
    assert main(["plan", "--base", "a", "--head", "b"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err
    assert "unexpected failure in `plan`" in err


def test_every_command_and_action_prints_its_help(capsys):
    from mlops_bot.cli import build_parser, main

    def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(groups[0].choices) if groups else {}

    paths = []
    for name, parser in commands(build_parser()).items():
        paths.append([name])
        paths += [[name, action] for action in commands(parser)]
    assert len(paths) == 30
    for path in paths:
        with pytest.raises(SystemExit) as stop:
            main([*path, "--help"])
        assert stop.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: mlops-bot {' '.join(path)} ")


def test_python_dash_m_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "mlops_bot", "--version"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("mlops-bot 0.")
