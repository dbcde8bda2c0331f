"""Push with the local Docker builder: a no-op push, and a push whose images are all cached.

1. `mlops-bot push` of the README-only commit of the 1,000-pipeline monorepo with
   `MLOPS_BOT_LOCAL_BUILDER=docker` (the engine is asked for its version; nothing is built).
   Target: under 2 s.
2. A push of a commit that changes the definition.py of 5 pipelines, each with its own image
   (Dockerfile, pyproject.toml, src/), whose images were built before: the Docker builder finds
   each by its content-hash tag, the venv builder by its environment folder; both then compile and
   publish (unchanged versions; runs are off: `run_branches: []`). Same repository, same range,
   each builder with its own state folder; runs interleaved. Target: Docker within 1.5x of venv.

    .venv/bin/python benchmarks/bench_docker_push.py [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from monorepo import cached

WORK = Path(__file__).resolve().parent / ".work"
NOOP_LIMIT = 2.0
CACHED_RATIO = 1.5
PIPELINES = 5
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def push(repo: Path, builder: str, state: Path, *range_: str) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, **GIT_ENV, "MLOPS_BOT_LOCAL_BUILDER": builder,
           "MLOPS_BOT_STATE_DIR": str(state)}
    env = {k: v for k, v in env.items() if not k.startswith("GITHUB_")}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "mlops_bot", "push", "--json", *range_],
                            cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"push with the {builder} builder failed:\n{result.stdout[-3000:]}\n"
                         f"{result.stderr[-3000:]}")
    document: dict[str, Any] = json.loads(result.stdout)
    return seconds, document


def bench_noop(repeat: int) -> dict[str, object]:
    repo = cached(WORK)
    base, head = repo.scenarios["noop"]
    state = WORK / "docker-noop-state"
    samples = []
    for _ in range(repeat):
        seconds, document = push(repo.path, "docker", state, "--base", base, "--head", head)
        if document["plan"]["pipelines"] or document["builds"] or document["runs"]:
            raise SystemExit("the no-op push did something: the benchmark measures a wrong run")
        samples.append(seconds)
    median = sorted(samples)[len(samples) // 2]
    return {"median_s": round(median, 3), "target": f"< {NOOP_LIMIT} s",
            "ok": median < NOOP_LIMIT}


def image_repo() -> tuple[Path, str, str]:
    """A repository of PIPELINES pipelines with images; (path, base, head) of the range."""
    repo = WORK / "docker-push-repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    files = {".gitignore": ".mlops/\n", "mlops.yaml": "run_branches: []\n"}
    for i in range(PIPELINES):
        root = f"pipelines/b{i}"
        files.update({
            f"{root}/definition.py": (
                "from kfp import dsl\nfrom components.step.definition import step\n\n\n"
                f"@dsl.pipeline(name='b{i}')\ndef b{i}(size: int = 1):\n    step(size=size)\n"),
            f"{root}/components/step/definition.py": (
                f"from kfp import dsl\n\n\n@dsl.component(base_image='b{i}')\n"
                "def step(size: int) -> int:\n    from src.logic import work\n"
                "    return work(size)\n"),
            f"{root}/Dockerfile": ("FROM python:3.11-slim\nWORKDIR /app\nCOPY src ./src\n"
                                   "USER 10001\n"),
            f"{root}/pyproject.toml": (f"[project]\nname = 'b{i}'\nversion = '0.1.0'\n\n"
                                       "[tool.setuptools]\npackages = ['src']\n"),
            f"{root}/src/__init__.py": "",
            f"{root}/src/logic.py": f"def work(x: int) -> int:\n    return x + {i}\n",
        })
    base = _commit(repo, files, init=True)
    touched = {f"pipelines/b{i}/definition.py": files[f"pipelines/b{i}/definition.py"]
               + "# touched\n" for i in range(PIPELINES)}
    return repo, base, _commit(repo, touched)


def _commit(repo: Path, files: dict[str, str], init: bool = False) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV},
                              check=True, capture_output=True, text=True).stdout.strip()

    if init:
        git("init", "-q", "-b", "main")
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git("add", "-A")
    git("commit", "-q", "-m", "bench")
    return git("rev-parse", "HEAD")


def bench_cached(repeat: int) -> dict[str, object]:
    repo, base, head = image_repo()
    states = {b: WORK / f"docker-push-state-{b}" for b in ("docker", "venv")}
    for builder, state in states.items():  # untimed: build every image, publish the versions
        shutil.rmtree(state, ignore_errors=True)
        push(repo, builder, state, "--head", base)
        push(repo, builder, state, "--base", base, "--head", head)
    samples: dict[str, list[float]] = {b: [] for b in states}
    for _ in range(repeat):
        for builder, state in states.items():
            seconds, document = push(repo, builder, state, "--base", base, "--head", head)
            statuses = {b["status"] for b in document["builds"]}
            if len(document["builds"]) != PIPELINES or statuses != {"reused"}:
                raise SystemExit(f"{builder}: expected {PIPELINES} reused images, got "
                                 f"{document['builds']}")
            samples[builder].append(seconds)
    medians = {b: sorted(s)[len(s) // 2] for b, s in samples.items()}
    ratio = medians["docker"] / medians["venv"]
    return {"images": PIPELINES, "docker_s": round(medians["docker"], 3),
            "venv_s": round(medians["venv"], 3), "ratio": round(ratio, 2),
            "target": f"<= {CACHED_RATIO}x", "ok": ratio <= CACHED_RATIO}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {"noop_push": bench_noop(args.repeat), "cached_push": bench_cached(args.repeat)}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        n, c = results["noop_push"], results["cached_push"]
        print(f"no-op push, Docker builder, 1,000-pipeline monorepo: {n['median_s']} s median of "
              f"{args.repeat} ({n['target']}) {'ok' if n['ok'] else 'MISSED'}")
        print(f"push with {c['images']} cached images: docker {c['docker_s']} s, venv "
              f"{c['venv_s']} s: {c['ratio']}x ({c['target']}) {'ok' if c['ok'] else 'MISSED'}")
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
