"""Real git repositories in temporary folders, built from small file trees."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_ENV = {
    "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author", "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}


class GitRepoBuilder:
    """A git repository whose commits are described as {path: content or None to delete}."""

    def __init__(self, path: Path, branch: str = "main") -> None:
        self.path = path
        if (path / ".git").is_dir():
            return  # an existing repository (a copy): keep its history
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", branch)
        # As any Python project's .gitignore does: bytecode that an import wrote (Python writes it
        # unless PYTHONDONTWRITEBYTECODE is set, as on GitHub's runners) or that a copied folder
        # brought along is never committed by `commit`'s `add -A`. That mlops-bot itself writes
        # none into a repository is tested in tests/test_compile_writes_no_bytecode.py.
        (path / ".git" / "info").mkdir(exist_ok=True)
        with open(path / ".git" / "info" / "exclude", "a") as exclude:
            exclude.write("__pycache__/\n*.py[cod]\n")

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=self.path, env={**os.environ, **_ENV},
            capture_output=True, text=True, check=True,
        )
        return result.stdout.strip()

    def write(self, files: dict[str, str | None]) -> None:
        for rel, content in files.items():
            target = self.path / rel
            if content is None:
                self.git("rm", "-rq", "--", rel)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)

    def commit(self, files: dict[str, str | None] | None = None, message: str = "change") -> str:
        self.write(files or {})
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def move(self, old: str, new: str, message: str = "move") -> str:
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)
        return self.commit(message=message)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


def pipeline_files(
    name: str,
    components: tuple[str, ...] = ("prepare", "train"),
    imports: tuple[str, ...] = (),
    image_components: tuple[str, ...] = (),
) -> dict[str, str]:
    """A pipeline folder in the seed 000 layout; `imports` are extra lines for definition.py."""
    root = f"pipelines/{name}"
    local = "\n".join(f"from components.{c}.definition import {c}" for c in components)
    files = {
        f"{root}/definition.py": (
            f"from kfp import dsl\n{local}\n" + "\n".join(imports) + "\n\n\n"
            f"@dsl.pipeline(name='{name}')\ndef {name}(size: int = 1):\n"
            + "".join(f"    {c}()\n" for c in components)
        ),
        f"{root}/Dockerfile": "FROM python:3.11-slim\nCOPY . /app\nRUN pip install /app\n",
        f"{root}/pyproject.toml": (
            f"[project]\nname = '{name}'\nversion = '0.1.0'\n\n"
            "[tool.setuptools]\npackages = ['src']\n"
        ),
        f"{root}/run.py": "PARAMETERS = {'size': 1}\n",
        f"{root}/src/__init__.py": "",
        f"{root}/src/logic.py": "def work(x: int) -> int:\n    return x + 1\n",
    }
    for component in components:
        files[f"{root}/components/{component}/definition.py"] = (
            f"from kfp import dsl\n\n\n@dsl.component(base_image='{name}')\n"
            f"def {component}() -> None:\n    from src.logic import work\n    work(1)\n"
        )
    for component in image_components:
        files[f"{root}/components/{component}/Dockerfile"] = "FROM python:3.11-slim\n"
    return files


def shared_component(name: str, extra: str = "") -> dict[str, str]:
    return {
        f"components/{name}/definition.py": (
            f"from kfp import dsl\n{extra}\n\n@dsl.component(base_image='python:3.11')\n"
            f"def {name}() -> None:\n    print('{name}')\n"
        )
    }
