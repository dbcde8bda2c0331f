"""Push-flow benchmarks: in-process compilation against the seed 000 approach, and a no-op push.

1. Compile 50 generated pipelines x 3 components with `mlops-bot compile` (each pipeline in its
   own environment, one worker process per environment: the generated pipelines declare no
   dependencies, so all 50 share one) and the way seed 000's LazyPipelines `magic()` does it: one
   `python definition.py` process per component and per pipeline (200 processes), each importing
   kfp and compiling its one file. Target: mlops-bot at least 10x faster. Also with the pipelines
   spread over `--envs` distinct environments (a requirements.txt per group, made before timing;
   the first compile, which makes them, is reported as `cold`).
2. `mlops-bot push` of a range that touches no pipeline (a README change) on the 1,000-pipeline
   monorepo. Target: under 2 s.
3. A push of N = 1, 5, 20 affected pipelines whose Vertex AI runs take T seconds (push_runs.py),
   beside the same push with run.max_parallel: 1. Target (issue 15): <= 1.2 x (slowest build +
   T) + 2 s, "slowest build" being the slowest single build of the push (a pipeline image or a
   serving image); the target with two build phases instead (slowest pipeline image + slowest
   serving image, what a pipeline waited for when pushes built in phases) is shown beside it.

    .venv/bin/python benchmarks/bench_push.py [--json] [--runs-only] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from monorepo import cached, generate

WORK = Path(__file__).resolve().parent / ".work"
MIN_SPEEDUP = 10.0
NOOP_LIMIT = 2.0

# What one `python definition.py` of seed 000 does: import kfp, load the file, compile what it
# defines (named after its folder). Run as its own process per file, as `magic()` does with
# `os.system("python .../definition.py")`.
SEED_STYLE = """
import importlib.util, sys
from pathlib import Path
from kfp import compiler
path = Path(sys.argv[1])
sys.path.insert(0, str(path.parents[2] if path.parent.parent.name == "components" else path.parent))
spec = importlib.util.spec_from_file_location("definition", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
# as in the seeds, the component or pipeline is named after its folder
compiler.Compiler().compile(getattr(module, path.parent.name), str(path.with_suffix(".yaml")))
"""


def compile_repo(pipelines: int, components: int) -> Path:
    folder = WORK / f"compile-p{pipelines}-c{components}"
    if not (folder / "repo" / ".git").is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder / "repo", pipelines, components, shared_users={0: 0, 1: 0},
                 checkout=True)
    return folder / "repo"


def with_environments(repo: Path, environments: int) -> Path:
    """A clone of `repo` whose pipelines declare one of `environments` requirement sets (each
    already satisfied by mlops-bot's packages, so making the environments needs no download)."""
    clone = repo.parent / f"repo-envs{environments}"
    if (clone / ".git").is_dir():
        return clone
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    for index, folder in enumerate(sorted((clone / "pipelines").iterdir())):
        (folder / "requirements.txt").write_text(f"pyyaml>=5.{index % environments}\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "add", "-A"], cwd=clone, check=True)
    subprocess.run([*git, "commit", "-qm", "requirements"], cwd=clone, check=True)
    return clone


def mlops_bot_compile(repo: Path, pipelines: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mlops_bot", "compile", "--out", out], cwd=repo,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        compiled = len(list(Path(out).glob("*.yaml")))
    if compiled != pipelines:
        raise SystemExit(f"mlops-bot compiled {compiled} of {pipelines} pipelines in {repo}")
    return seconds


def bench_compile(pipelines: int, components: int, environments: int) -> dict[str, object]:
    repo = compile_repo(pipelines, components)
    ours = mlops_bot_compile(repo, pipelines)
    spread: dict[str, object] = {}
    if environments > 1:
        clone = with_environments(repo, environments)
        shutil.rmtree(clone / ".mlops" / "envs", ignore_errors=True)
        cold = mlops_bot_compile(clone, pipelines)
        warm = mlops_bot_compile(clone, pipelines)
        spread = {"environments": environments, "cold_s": round(cold, 3),
                  "warm_s": round(warm, 3)}
    files = sorted(repo.glob("pipelines/*/components/*/definition.py"))
    files += sorted(repo.glob("pipelines/*/definition.py"))
    started = time.perf_counter()
    for file in files:
        subprocess.run([sys.executable, "-c", SEED_STYLE, str(file)], cwd=repo, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seed = time.perf_counter() - started
    if spread:
        spread["speedup"] = round(seed / float(spread["warm_s"]), 1)  # type: ignore[arg-type]
    return {"pipelines": pipelines, "components": components, "processes": len(files),
            "mlops_bot_s": round(ours, 3), "seed_000_s": round(seed, 3),
            "speedup": round(seed / ours, 1), "target": f">= {MIN_SPEEDUP}x",
            "ok": seed / ours >= MIN_SPEEDUP, "spread": spread}


def bench_noop_push(repeat: int) -> dict[str, object]:
    repo = cached(WORK)
    base, head = repo.scenarios["noop"]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "mlops_bot", "push", "--json", "--base",
                                 base, "--head", head], cwd=repo.path, capture_output=True,
                                text=True, check=True)
        samples.append(time.perf_counter() - started)
        document = json.loads(result.stdout)
        if document["plan"]["pipelines"] or document["builds"] or document["runs"]:
            raise SystemExit("the no-op push did something: the benchmark measures a wrong run")
    median = sorted(samples)[len(samples) // 2]
    return {"median_s": round(median, 3), "target": f"< {NOOP_LIMIT} s",
            "ok": median < NOOP_LIMIT}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipelines", type=int, default=50)
    parser.add_argument("--components", type=int, default=3)
    parser.add_argument("--envs", type=int, default=5,
                        help="also compile with the pipelines spread over this many environments")
    parser.add_argument("--compile-only", action="store_true", help="only the compile benchmark")
    parser.add_argument("--repeat", type=int, default=5, help="no-op push runs")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs-only", action="store_true", help="only the push-runs benchmark")
    parser.add_argument("--seconds", type=float, default=5.0, help="T: each run's duration")
    parser.add_argument("--sizes", default="1,5,20", help="N: pipelines per push")
    args = parser.parse_args()
    from push_runs import bench_push_runs, render

    if args.compile_only:
        result = bench_compile(args.pipelines, args.components, args.envs)
        print(json.dumps(result, indent=2))
        return 0 if result["ok"] else 1
    runs = bench_push_runs([int(n) for n in args.sizes.split(",")], args.seconds)
    if args.runs_only:
        print(json.dumps(runs, indent=2) if args.json else render(runs))
        return 0 if all(r["ok"] for r in runs) else 1
    results = {"compile": bench_compile(args.pipelines, args.components, args.envs),
               "noop_push": bench_noop_push(args.repeat)}
    if args.json:
        print(json.dumps({**results, "push_runs": runs}, indent=2))
    else:
        print(render(runs))
        c, n = results["compile"], results["noop_push"]
        print(f"compile {c['pipelines']} pipelines x {c['components']} components: "
              f"mlops-bot {c['mlops_bot_s']} s, seed 000 ({c['processes']} processes) "
              f"{c['seed_000_s']} s: {c['speedup']}x ({c['target']}) "
              f"{'ok' if c['ok'] else 'MISSED'}")
        if c["spread"]:
            e = c["spread"]
            print(f"  over {e['environments']} environments: {e['warm_s']} s ({e['speedup']}x; "
                  f"{e['cold_s']} s the first time, making them)")
        print(f"no-op push on the 1,000-pipeline monorepo: {n['median_s']} s median of "
              f"{args.repeat} ({n['target']}) {'ok' if n['ok'] else 'MISSED'}")
    return 0 if all(r["ok"] for r in [*results.values(), *runs]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
