"""Running the real `mlops-bot` command, as a user or a workflow step would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "mlops_bot", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True)


def cli_json(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             expect: int = 0) -> dict[str, Any]:
    result = cli(*args, "--json", cwd=cwd, env=env)
    assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    document: dict[str, Any] = json.loads(result.stdout)
    return document
