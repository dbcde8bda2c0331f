"""A synthetic Kubeflow monorepo for benchmarks: N pipelines x M components, with shared components.

The whole history is written by one `git fast-import` (no working-tree files, one pack), so the
1,000 x 5 repository (11k files) takes about a second. Authors, dates and the seeded
choices are fixed, so the same parameters always give the same commit SHAs.

History on `main`, each scenario being one commit (base = its parent, head = it):

1. initial: every pipeline and shared component;
2. a small change to a few pipelines (so the history is not a single commit);
3. `noop`: README.md only, outside pipelines/ and components/;
4. `touch_40`: 5 files in each of 40 pipelines (src/logic.py, Dockerfile, definition.py, two
   component definitions);
5. `shared_300`: components/shared_0/definition.py, imported by the first 300 pipelines.

Usage: python benchmarks/monorepo.py OUT_DIR [--pipelines N] [--components M] [--checkout]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["VERSION", "Monorepo", "cached", "generate"]

# Bump when the generated content changes, so caches keyed by it are rebuilt.
VERSION = 1

_IDENTITY = "Bench Bot <bench@example.com>"
_EPOCH = 1_700_000_000  # 2023-11-14, then one hour per commit
_STEP_NAMES = ("load_data", "preprocess", "train", "evaluate", "export")
Files = dict[str, str]


@dataclass
class Monorepo:
    path: Path
    scenarios: dict[str, tuple[str, str]]  # name -> (base, head)
    expected: dict[str, list[str]]  # name -> the pipelines its plan must list
    pipelines: int = 0
    components: int = 0
    seconds: float = 0.0  # how long generating it took
    reused: bool = False  # True when `cached` found it already generated

    def to_dict(self, full: bool = False) -> dict[str, object]:
        """Its JSON form; `full` lists the expected pipelines instead of counting them."""
        return {
            "path": str(self.path),
            "pipelines": self.pipelines,
            "components": self.components,
            "seconds": round(self.seconds, 3),
            "scenarios": {name: {"base": base, "head": head, "expected": (
                self.expected[name] if full else len(self.expected[name]))}
                for name, (base, head) in self.scenarios.items()},
        }

    @classmethod
    def load(cls, file: Path) -> Monorepo:
        data = json.loads(file.read_text())
        scenarios = data["scenarios"]
        return cls(Path(data["path"]), {n: (s["base"], s["head"]) for n, s in scenarios.items()},
                   {n: s["expected"] for n, s in scenarios.items()}, data["pipelines"],
                   data["components"], data["seconds"], reused=True)


def cached(
    work: Path, pipelines: int = 1000, components: int = 5, seed: int = 0, fresh: bool = False
) -> Monorepo:
    """The repository for these parameters under `work/`, generated on first use only."""
    folder = work / f"monorepo-v{VERSION}-p{pipelines}-c{components}-seed{seed}"
    summary = folder / "monorepo.json"
    if summary.is_file() and not fresh:
        return Monorepo.load(summary)
    shutil.rmtree(folder, ignore_errors=True)
    repo = generate(folder / "repo", pipelines, components, seed=seed)
    summary.write_text(json.dumps(repo.to_dict(full=True), indent=2))  # last: marks it complete
    return repo


def generate(
    path: Path | str,
    pipelines: int = 1000,
    components: int = 5,
    shared: int = 3,
    shared_users: Mapping[int, int] | None = None,
    seed: int = 0,
    checkout: bool = False,
) -> Monorepo:
    """Create the repository at `path` (missing or empty).

    The work tree stays empty unless `checkout` (`git checkout -f main` fills it later): the planner
    reads commits only, and writing 11k files costs 1 s on an idle disk but 10 s on a busy one.

    `shared_users` maps a shared component index to how many pipelines import it: component 0
    goes to the first ones (default 300), the others to a seeded sample (default: 5 for shared_1).
    """
    started = time.perf_counter()
    root = Path(path)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    if pipelines < 40 or components < 1 or shared < 1:
        raise ValueError("need at least 40 pipelines, 1 component and 1 shared component")
    rng = random.Random(seed)
    names = [f"p{i:04d}" for i in range(pipelines)]
    users = _shared_users(names, shared, dict(shared_users or {0: 300, 1: 5}), rng)
    uses: dict[str, list[int]] = {name: [] for name in names}
    for k, who in users.items():
        for name in who:
            uses[name].append(k)

    tree: Files = {"README.md": _readme(0)}
    for k in range(shared):
        tree[f"components/shared_{k}/definition.py"] = _shared_component(k, 0)
    for name in names:
        tree.update(_pipeline_files(name, components, uses[name], rng.randint(1, 9), 0))

    commits: list[tuple[str, Files]] = [(f"Add {pipelines} pipelines", dict(tree))]
    tweak = {f"pipelines/{n}/src/logic.py": _logic(n, 1, 1) for n in rng.sample(names, 3)}
    commits.append(("Tune three pipelines", tweak))
    commits.append(("Reword the README", {"README.md": _readme(1)}))
    touched = sorted(rng.sample(names, 40))
    touch: Files = {}
    for name in touched:
        files = _pipeline_files(name, components, uses[name], 2, 2)
        steps = _steps(components)
        for rel in ("src/logic.py", "Dockerfile", "definition.py",
                    f"components/{steps[0]}/definition.py",
                    f"components/{steps[-1]}/definition.py" if components > 1 else "run.py"):
            touch[f"pipelines/{name}/{rel}"] = files[f"pipelines/{name}/{rel}"]
    commits.append((f"Touch {len(touched)} pipelines", touch))
    commits.append(("Change shared_0", {"components/shared_0/definition.py":
                                        _shared_component(0, 1)}))

    root.mkdir(parents=True, exist_ok=True)
    shas = _fast_import(root, commits, checkout)
    return Monorepo(
        path=root,
        scenarios={"noop": (shas[1], shas[2]), "touch_40": (shas[2], shas[3]),
                   "shared_300": (shas[3], shas[4])},
        expected={"noop": [], "touch_40": touched, "shared_300": sorted(users.get(0, []))},
        pipelines=pipelines,
        components=components,
        seconds=time.perf_counter() - started,
    )


def _shared_users(
    names: list[str], shared: int, counts: dict[int, int], rng: random.Random
) -> dict[int, list[str]]:
    users: dict[int, list[str]] = {k: [] for k in range(shared)}
    for k, count in sorted(counts.items()):
        if k >= shared:
            raise ValueError(f"shared_users names shared_{k}, but there are {shared}")
        count = min(count, len(names))
        users[k] = names[:count] if k == 0 else sorted(rng.sample(names, count))
    return users


def _fast_import(root: Path, commits: list[tuple[str, Files]], checkout: bool) -> list[str]:
    """Write `commits` (each: message, files added or replaced) on main; their SHAs, in order."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    chunks: list[bytes] = []
    for mark, (message, files) in enumerate(commits, start=1):
        when = f"{_EPOCH + 3600 * mark} +0000"
        chunks.append(f"commit refs/heads/main\nmark :{mark}\n"
                      f"author {_IDENTITY} {when}\ncommitter {_IDENTITY} {when}\n".encode())
        chunks.append(_data(message))
        if mark > 1:
            chunks.append(f"from :{mark - 1}\n".encode())
        for rel in sorted(files):
            chunks.append(f"M 100644 inline {rel}\n".encode())
            chunks.append(_data(files[rel]))
        chunks.append(b"\n")
    with tempfile.TemporaryDirectory() as tmp:
        marks = Path(tmp) / "marks"
        subprocess.run(
            ["git", "fast-import", "--quiet", "--date-format=raw", f"--export-marks={marks}"],
            cwd=root, input=b"".join(chunks), check=True,
        )
        by_mark = dict(line.split() for line in marks.read_text().splitlines())
    if checkout:
        subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=root, check=True)
    return [by_mark[f":{mark}"] for mark in range(1, len(commits) + 1)]


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n%s\n" % (len(raw), raw)


def _steps(components: int) -> list[str]:
    return [_STEP_NAMES[i] if i < len(_STEP_NAMES) else f"step_{i}" for i in range(components)]


def _pipeline_files(name: str, components: int, shared: list[int], scale: int, rev: int) -> Files:
    base = f"pipelines/{name}"
    steps = _steps(components)
    files = {
        f"{base}/definition.py": _definition(name, steps, shared, rev),
        f"{base}/Dockerfile": _dockerfile(name, rev),
        f"{base}/pyproject.toml": _pyproject(name),
        f"{base}/run.py": _run(steps, rev),
        f"{base}/src/__init__.py": "",
        f"{base}/src/logic.py": _logic(name, scale, rev),
    }
    for index, step in enumerate(steps):
        files[f"{base}/components/{step}/definition.py"] = _component(name, step, index, rev)
    return files


def _definition(name: str, steps: list[str], shared: list[int], rev: int) -> str:
    imports = [f"from components.{s}.definition import {s}" for s in steps]
    imports += [f"from components.shared_{k}.definition import shared_{k}" for k in shared]
    calls = [f"    data = {steps[0]}(rows=rows).outputs[\"out\"]"]
    calls += [f"    data = {s}(data=data, factor=factor).outputs[\"out\"]" for s in steps[1:]]
    calls += [f"    shared_{k}(data=data)" for k in shared]
    return "\n".join([
        f'"""The {name} pipeline: {" -> ".join(steps)}."""',
        "",
        "from kfp import dsl",
        "",
        *sorted(imports),
        "",
        "",
        "@dsl.pipeline(",
        f'    name="{name.replace("_", "-")}",',
        f'    description="Synthetic benchmark pipeline {name} (revision {rev}).",',
        ")",
        f"def {name}(rows: int = 1000, factor: float = 1.5) -> None:",
        *calls,
        "",
    ])


def _component(pipeline: str, step: str, index: int, rev: int) -> str:
    if index == 0:
        types, helper, call = "Dataset, Output", "generate", "rows"
        params = "out: Output[Dataset], rows: int = 100"
    else:
        types, helper = "Dataset, Input, Output", "transform"
        params = f"data: Input[Dataset], out: Output[Dataset], factor: float = {1 + rev}.0"
        call = "json.loads(Path(data.path).read_text()), factor"
    return f'''from kfp import dsl
from kfp.dsl import {types}


@dsl.component(base_image="{pipeline}")
def {step}({params}) -> None:
    """Step {index} of {pipeline}: {step.replace("_", " ")} (revision {rev})."""
    import json
    from pathlib import Path

    from src.logic import {helper}

    rows = {helper}({call})
    Path(out.path).write_text(json.dumps(rows))
    out.metadata["rows"] = len(rows)
'''


def _shared_component(k: int, rev: int) -> str:
    return f'''from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Output


@dsl.component(base_image="python:3.11-slim")
def shared_{k}(data: Input[Dataset], report: Output[Markdown], top: int = {5 + rev}) -> None:
    """Shared component {k}: a Markdown summary of any data set (revision {rev})."""
    import json
    from pathlib import Path

    rows = json.loads(Path(data.path).read_text())
    lines = [f"| {{i}} | {{row}} |" for i, row in enumerate(rows[:top])]
    Path(report.path).write_text("\\n".join(["| # | row |", "|---|---|", *lines]))
'''


def _logic(name: str, scale: int, rev: int) -> str:
    return f'''"""Business logic of {name} (revision {rev})."""

SCALE = {scale + rev}.0


def generate(rows: int) -> list[dict[str, float]]:
    return [{{"x": float(i), "y": float(i % 7) * SCALE}} for i in range(rows)]


def transform(rows: list[dict[str, float]], factor: float) -> list[dict[str, float]]:
    return [{{key: value * factor for key, value in row.items()}} for row in rows]
'''


def _dockerfile(name: str, rev: int) -> str:
    return f"""# The {name} image: its components run here, with src/ installed.
FROM python:3.11-slim
LABEL org.example.revision="{rev}"
WORKDIR /opt/{name}
COPY pyproject.toml ./
COPY src ./src
RUN pip install --no-cache-dir "kfp>=2.14,<3" .
"""


def _pyproject(name: str) -> str:
    return f"""[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.11"

[tool.setuptools]
packages = ["src"]
"""


def _run(steps: list[str], rev: int) -> str:
    return f'"""Parameter defaults ({len(steps)} steps)."""\n\n' \
           f'PARAMETERS = {{"rows": {1000 + rev}, "factor": 1.5}}\n'


def _readme(rev: int) -> str:
    return f"# Synthetic monorepo\n\nGenerated by benchmarks/monorepo.py (revision {rev}).\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="where to create the repository (new or empty)")
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--shared", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkout", action="store_true",
                        help="also write the files of main into the work tree (slower)")
    args = parser.parse_args(argv)
    repo = generate(args.out_dir, args.pipelines, args.components, args.shared, seed=args.seed,
                    checkout=args.checkout)
    print(json.dumps(repo.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
