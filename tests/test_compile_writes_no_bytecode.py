"""Compiling leaves the user's checkout as it was, wherever Python would write bytecode.

Our machines set PYTHONDONTWRITEBYTECODE=1 and GitHub's runners do not: the command runs here
without it, so importing the definitions would write `__pycache__` into the repository unless
mlops-bot prevents it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.gitrepo import GitRepoBuilder, pipeline_files


def test_compiling_writes_no_bytecode_into_the_repository(tmp_path: Path) -> None:
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit(pipeline_files("alpha"))
    environment = {k: v for k, v in os.environ.items()
                   if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("GITHUB_")}
    writes = subprocess.run([sys.executable, "-c", "import sys; print(sys.dont_write_bytecode)"],
                            env=environment, capture_output=True, text=True, check=True)
    assert writes.stdout.strip() == "False"  # so this test can fail

    result = subprocess.run(
        [sys.executable, "-m", "mlops_bot", "compile", "--out", str(tmp_path / "out"), "--json"],
        cwd=repo.path, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "alpha.yaml").is_file()
    assert not [p for p in repo.path.rglob("__pycache__") if ".git" not in p.parts]
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""
