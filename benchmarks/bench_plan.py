"""Benchmark `mlops-bot plan` on synthetic monorepos of 1,000 and 10,000 pipelines, against a floor.

The floor is the least any planner written with GitPython can cost: one Python process that imports
GitPython and asks git for the changed files (`git diff --name-only BASE HEAD`, touch_40's range).
The planner itself runs git without GitPython, so a second floor, the same question asked with
`subprocess` alone, is shown beside it (not judged): the stricter comparison.
Every command runs as a subprocess, once to warm up and then `--repeat` times, interleaved (floor,
plan A, plan B, help, floor, ...) so machine noise hits all of them alike; the table shows medians.

Plans keep a cache in the state folder (`mlops_bot.repo.import_index`): each repository size gets
its own state folder, emptied first, so the warm-up run is a first plan; the timed runs reuse what
it cached, as consecutive plans in one checkout do. The `(cold cache)` rows time the same plan
with the cache emptied before each run: what a first plan in a fresh checkout pays.

Targets: touch_40 <= 1.5x the floor on 1,000 pipelines; shared_300 <= 2.0x the floor on 1,000
and <= 3.0x on 10,000, and on 10,000 within 2.0x of itself on 1,000; `--help` <= 0.3 s. The
warm-up run of each plan must list exactly the pipelines its scenario affects: a fast wrong
answer is not a result. Exit status: 0 when every target is met, 1 when one is missed or a
command fails.

    .venv/bin/python benchmarks/bench_plan.py [--repeat 7] [--json] [--pipelines 1000 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from monorepo import Monorepo, cached

PROJECT = Path(__file__).resolve().parent.parent
WORK = PROJECT / "benchmarks" / ".work"
FLOOR = ("import git, sys; "
         "print(git.Repo(sys.argv[1]).git.diff('--name-only', sys.argv[2], sys.argv[3]))")
# Shown, not judged: the planner runs git itself (no GitPython import), so the least a Python
# process pays for the same answer without GitPython is the stricter comparison.
BARE_FLOOR = ("import subprocess, sys; print(subprocess.run(['git', 'diff', '--name-only', "
              "sys.argv[2], sys.argv[3]], cwd=sys.argv[1], capture_output=True, text=True, "
              "check=True).stdout)")


@dataclass
class Case:
    name: str
    argv: list[str]
    max_ratio: float | None = None  # target, as a multiple of the floor's median
    max_seconds: float | None = None  # target, absolute
    expected: list[str] | None = None  # plans: exactly the pipelines the plan must list
    expected_lines: int | None = None  # the floor: how many paths the diff must print
    state: Path | None = None  # the plan's state folder (MLOPS_BOT_STATE_DIR)
    cold: bool = False  # empty the state folder before each run
    times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def target(self) -> str:
        if self.max_ratio is not None:
            return f"<= {self.max_ratio:.1f}x floor"
        return f"<= {self.max_seconds:.2f} s" if self.max_seconds is not None else ""

    def met(self, floor: float | None) -> bool:
        median = self.median
        if self.error or median is None:
            return False
        if self.max_ratio is not None:
            return floor is not None and median <= self.max_ratio * floor
        return self.max_seconds is None or median <= self.max_seconds


def build_cases(repo: Monorepo) -> list[Case]:
    bot = [sys.executable, "-m", "mlops_bot"]
    state = WORK / f"state-p{repo.pipelines}"
    shutil.rmtree(state, ignore_errors=True)
    large = repo.pipelines >= 10_000

    def plan(scenario: str, max_ratio: float | None, cold: bool = False) -> Case:
        base, head = repo.scenarios[scenario]
        suffix = " (cold cache)" if cold else ""
        return Case(f"plan {scenario}{suffix}", [*bot, "plan", "--json", "--repo", str(repo.path),
                                                 "--base", base, "--head", head],
                    max_ratio=max_ratio, expected=repo.expected[scenario],
                    state=state.with_name(state.name + "-cold") if cold else state, cold=cold)

    base, head = repo.scenarios["touch_40"]
    return [
        Case("floor (GitPython + git diff)", [sys.executable, "-c", FLOOR, str(repo.path), base,
                                              head], expected_lines=200),
        Case("floor without GitPython", [sys.executable, "-c", BARE_FLOOR, str(repo.path), base,
                                         head], expected_lines=200),
        plan("touch_40", None if large else 1.5),
        plan("shared_300", 3.0 if large else 2.0),
        plan("touch_40", None, cold=True),
        plan("shared_300", None, cold=True),
        Case("mlops-bot --help", [*bot, "--help"], max_seconds=0.3),
    ]


def run_once(case: Case, warm_up: bool) -> None:
    """Time one run of `case`; the warm-up run is not timed but its output is checked."""
    env = dict(os.environ)
    if case.state is not None:
        env["MLOPS_BOT_STATE_DIR"] = str(case.state)
        if case.cold:
            shutil.rmtree(case.state, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(case.argv, cwd=PROJECT, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
        case.error = f"exited {done.returncode}: {output[-1]}"
    elif warm_up:
        case.error = wrong_output(case, done.stdout)
    else:
        case.times.append(elapsed)


def wrong_output(case: Case, stdout: str) -> str | None:
    """What is wrong with what `case` printed, if anything."""
    if case.expected_lines is not None and len(stdout.split()) != case.expected_lines:
        return f"printed {len(stdout.split())} paths, expected {case.expected_lines}"
    if case.expected is None:
        return None
    try:
        plan = json.loads(stdout)
        listed = sorted(p["name"] for p in plan["pipelines"])
    except (ValueError, KeyError, TypeError) as error:
        return f"did not print a plan as JSON ({error!r})"
    if plan.get("broken"):
        return f"reported broken pipelines: {[b['name'] for b in plan['broken']][:5]}"
    if listed != sorted(case.expected):
        extra = sorted(set(listed) - set(case.expected))[:5]
        missing = sorted(set(case.expected) - set(listed))[:5]
        return (f"WRONG ANSWER: listed {len(listed)} pipelines, expected {len(case.expected)} "
                f"(extra {extra}, missing {missing})")
    return None


def measure(cases: list[Case], repeat: int) -> None:
    for case in cases:
        run_once(case, warm_up=True)
    for _ in range(repeat):
        for case in cases:
            if case.error is None:
                run_once(case, warm_up=False)


def results(cases: list[Case]) -> list[dict[str, object]]:
    floor = cases[0].median
    return [{
        "name": case.name,
        "command": ["python" if arg == sys.executable else arg for arg in case.argv],
        "median_seconds": None if case.median is None else round(case.median, 4),
        "ratio_to_floor": None if case.median is None or not floor else round(
            case.median / floor, 2),
        "runs": [round(t, 4) for t in case.times],
        "target": case.target,
        "ok": case.met(floor),
        "error": case.error,
    } for case in cases]


def render(rows: list[dict[str, object]], repo: Monorepo, repeat: int) -> str:
    how = "reused" if repo.reused else f"generated in {repo.seconds:.2f} s"
    lines = [f"{repo.path}: {repo.pipelines} pipelines x {repo.components} components ({how}), "
             f"median of {repeat} interleaved runs", "",
             f"{'command':<36} {'median s':>9} {'x floor':>8}  {'target':<16} result"]
    for row in rows:
        median, ratio = row["median_seconds"], row["ratio_to_floor"]
        verdict = "FAILED" if row["error"] else "ok" if row["ok"] else "MISSED"
        lines.append(f"{row['name']:<36} {'-' if median is None else f'{median:.3f}':>9} "
                     f"{'-' if ratio is None else f'{ratio:.2f}':>8}  {row['target']:<16} "
                     f"{verdict}")
        if row["error"]:
            lines.append(f"    {row['name']} {row['error']}")
    return "\n".join(lines)


def scaling(sizes: list[tuple[Monorepo, list[dict[str, object]]]]) -> dict[str, object] | None:
    """shared_300 on the largest repository against the smallest: the target is <= 2.0x."""
    if len(sizes) < 2:
        return None

    def median(rows: list[dict[str, object]]) -> float | None:
        row = next(r for r in rows if r["name"] == "plan shared_300")
        value = row["median_seconds"]
        return value if isinstance(value, float) else None

    (small, small_rows), (large, large_rows) = sizes[0], sizes[-1]
    low, high = median(small_rows), median(large_rows)
    ratio = None if low is None or high is None else round(high / low, 2)
    return {"name": f"shared_300 on {large.pipelines} / on {small.pipelines} pipelines",
            "ratio": ratio, "target": "<= 2.0x", "ok": ratio is not None and ratio <= 2.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per command (7)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--pipelines", type=int, nargs="+", default=[1000, 10000],
                        help="repository sizes, smallest first (1000 10000)")
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="regenerate the cached repository")
    args = parser.parse_args(argv)

    sizes = []
    for pipelines in sorted(args.pipelines):
        repo = cached(WORK, pipelines, args.components, args.seed, args.fresh)
        cases = build_cases(repo)
        measure(cases, args.repeat)
        sizes.append((repo, results(cases)))
    scaled = scaling(sizes)
    ok = all(row["ok"] for _, rows in sizes for row in rows) and (scaled is None or scaled["ok"])
    if args.json:
        print(json.dumps({"repeat": args.repeat, "sizes": [
            {"repo": str(repo.path), "pipelines": repo.pipelines, "reused": repo.reused,
             "generation_seconds": round(repo.seconds, 3), "results": rows}
            for repo, rows in sizes], "scaling": scaled, "ok": ok}, indent=2))
    else:
        print("\n\n".join(render(rows, repo, args.repeat) for repo, rows in sizes))
        if scaled:
            verdict = "ok" if scaled["ok"] else "MISSED"
            print(f"\n{scaled['name']}: {scaled['ratio']}x (target {scaled['target']}) {verdict}")
        print("\nall targets met" if ok else "\nTARGET MISSED or command failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
