"""Serving benchmark: `mlops-bot serve` beside MLServer and the model's own limit, on loopback.

Set-up (not timed): the example model is trained once in this process the way the pipeline's
train component does it (pipelines/wine_quality/src: the same split, parameters and joblib file,
with its metadata beside it), then the servers start as subprocesses on free 127.0.0.1 ports:

- ours: `python -m mlops_bot serve bench` in a scratch repository whose state file
  (`.mlops/endpoints/bench.json`) deploys that model at 100% (`--server container` runs
  `python -m mlops_bot.serving` with AIP_STORAGE_URI instead, the pipeline image's entry point);
- MLServer 1.7.1 with its scikit-learn runtime serving the same joblib file, adaptive batching
  on (max_batch_size 64, max_batch_time 5 ms), inference in the server process
  (parallel_workers 0), V2 protocol. It runs from its own virtualenv (`--mlserver-venv`, made
  with pip on first use under ~/.cache/mlops-bot-bench/: never the project's environment);
- with `--seed`, seed 000's Flask app as its Dockerfile runs it (`flask run`), which builds
  `ModelPipeline()`, so loads the model, on every request.

The load generator is the same for all: `--clients` threads (1, 8 and 64 by default, one level
after another) in this process, each with one keep-alive http.client connection, POSTing the 3
instances of pipelines/wine_quality/serving/sample_instances.json until `--requests` are done or
`--cap` seconds have passed. It shares the machine's CPUs with the servers: the CPU time each
server and the clients spend per request is recorded. Every answer is checked (HTTP 200, the
right class for each instance). Rounds alternate which server goes first; each level pools its
rounds: requests/s = answered requests / seconds under load, percentiles over every request.

The limit: the model's `predict` called in this process on the batch the level's clients make
together (clients x 3 rows, one DataFrame), timed after each round; requests/s = clients / the
median call. Ours is reported as a fraction of it.

Targets, against MLServer: ahead at 1 client; at 8 and 64 clients >= 1.0x its requests/s with a
p99 no worse than its own. With `--seed`, ours >= 5x the seed's requests/s. Exit status 1 when a
target is missed or an answer is wrong.

    .venv/bin/python benchmarks/bench_serving.py [--clients 1 8 64] [--requests 3000] [--cap 8]
        [--rounds 3] [--server serve|container] [--probabilities] [--seed] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipelines" / "wine_quality"
SAMPLE = PIPELINE / "serving" / "sample_instances.json"
TARGET_RATIO = 5.0  # against the seed's Flask app
MLSERVER = "1.7.1"
MLSERVER_BATCH, MLSERVER_BATCH_TIME = 64, 0.005  # adaptive batching, as measured before
MLSERVER_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
    "mlops-bot-bench" / "mlserver-venv"
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
WARMUP_REQUESTS = 20

# Seed 000's serving app, as its README shows it: app/app.py, app/predict.py (`ModelPipeline`)
# and app/model/ holding model.joblib and its metadata ("Models in .joblib ... Metadata in yaml or
# json format"). Only the prediction formatting differs: the seed's model was binary
# (probability_negative/positive), the wine model has three classes.
SEED_APP = '''\
import os
from flask import Flask, jsonify, request, json
import pandas as pd
from predict import ModelPipeline

app = Flask(__name__)
AIP_HEALTH_ROUTE = os.environ.get("AIP_HEALTH_ROUTE", "/health")
AIP_PREDICT_ROUTE = os.environ.get("AIP_PREDICT_ROUTE", "/predict")


@app.route("/health")
def health():
    return "OK", 200


@app.route("/predict", methods=["POST", "GET"])
def predict():
    predictor = ModelPipeline()
    instances = request.get_json()["instances"]
    results = predictor.predict(data=instances)

    # Format Vertex AI prediction response
    predictions = [
        {f"probability_{label}": value for label, value in zip(predictor.classes, result)}
        for result in results
    ]

    return jsonify({"predictions": predictions})


if __name__ == "__main__":
    app.run()
'''

SEED_PREDICT = '''\
import json
from dataclasses import dataclass

import pandas as pd
from joblib import load


@dataclass
class ModelPipeline:
    model_path: str = "./app/model/model.joblib"
    metadata_path: str = "./app/model/model_metadata.json"

    def __post_init__(self):
        self.model = load(self.model_path)
        with open(self.metadata_path) as file:
            metadata = json.load(file)
        self.feature_names = metadata["feature_names"]
        self.classes = metadata["classes"]

    def predict(self, data):
        frame = pd.DataFrame(data, columns=self.feature_names)
        return self.model.predict_proba(frame).tolist()
'''


@dataclass
class TrainedModel:
    folder: Path  # holds `model` (joblib, as the KFP artifact) and model_metadata.json
    metadata: dict[str, Any]
    instances: list[list[float]]
    expected: list[int]  # the class of each sample instance, from the model in this process


def train(work: Path) -> TrainedModel:
    """The model the pipeline's load_data and train components make with their defaults."""
    sys.path.insert(0, str(PIPELINE))
    try:
        from src.data import TARGET, load_wine_frame, split
        from src.model import save_model, train_model
    finally:
        sys.path.remove(str(PIPELINE))
    import pandas as pd

    train_frame, _ = split(load_wine_frame(), test_size=0.2, random_state=42)
    features = train_frame.drop(columns=[TARGET])
    fitted = train_model(features, train_frame[TARGET], n_estimators=100, max_depth=0,
                         random_state=42)
    folder = work / "model"
    folder.mkdir(parents=True)
    save_model(fitted, str(folder / "model"))
    metadata = {"framework": "scikit-learn", "feature_names": list(features.columns),
                "classes": [int(c) for c in fitted.classes_]}
    (folder / "model_metadata.json").write_text(json.dumps(metadata))
    instances = json.loads(SAMPLE.read_text())["instances"]
    expected = [int(c) for c in fitted.predict(pd.DataFrame(instances, columns=features.columns))]
    return TrainedModel(folder, metadata, instances, expected)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""


@contextmanager
def started(name: str, command: list[str], cwd: Path, env: dict[str, str], port: int,
            log: Path, health: str = "/health") -> Iterator[Server]:
    """A server subprocess, up once GET `health` answers 200; always killed on the way out."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=output, stderr=subprocess.STDOUT)
    server = Server(name, port, process, log)
    try:
        _wait_healthy(server, health)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_healthy(server: Server, health: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited with {server.process.returncode} before "
                             f"answering /health:\n{server.log_tail()}")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        try:
            connection.request("GET", health)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    raise SystemExit(f"{server.name} did not answer /health within {START_TIMEOUT_S:.0f} s:\n"
                     f"{server.log_tail()}")


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIP_", "MLOPS_BOT_", "FLASK_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def ours(work: Path, model: TrainedModel, kind: str) -> Iterator[Server]:
    port, env = free_port(), _environment()
    if kind == "container":
        env.update(AIP_STORAGE_URI=str(model.folder), AIP_DEPLOYED_MODEL_ID="wine_quality-1")
        command = [sys.executable, "-m", "mlops_bot.serving", "--port", str(port)]
        with started("ours", command, work, env, port, work / "ours.log") as server:
            yield server
        return
    repo = work / "repo"
    (repo / ".mlops" / "endpoints").mkdir(parents=True)
    (repo / "mlops.yaml").write_text("environments:\n  bench:\n    endpoint: wine-bench\n")
    deployed = {**model.metadata, "deployed_model_id": "wine_quality-1", "model": "wine_quality",
                "model_version": 1, "artifact_uri": str(model.folder / "model"), "traffic": 100,
                "lineage": {"pipeline": "wine_quality"}}
    state = {"environment": "bench", "endpoint": "wine-bench", "revision": 1,
             "deployed": [deployed]}
    (repo / ".mlops" / "endpoints" / "bench.json").write_text(json.dumps(state))
    command = [sys.executable, "-m", "mlops_bot", "serve", "bench", "--port", str(port),
               "--repo", str(repo)]
    with started("ours", command, repo, env, port, work / "ours.log") as server:
        yield server


@contextmanager
def seed(work: Path, model: TrainedModel) -> Iterator[Server]:
    folder = work / "seed000"
    (folder / "app" / "model").mkdir(parents=True)
    (folder / "app" / "app.py").write_text(SEED_APP)
    (folder / "app" / "predict.py").write_text(SEED_PREDICT)
    shutil.copy(model.folder / "model", folder / "app" / "model" / "model.joblib")
    shutil.copy(model.folder / "model_metadata.json", folder / "app" / "model")
    port, env = free_port(), _environment()
    env["FLASK_APP"] = "./app/app.py"
    # The seed's Dockerfile: ENTRYPOINT ["flask", "run", "--host=0.0.0.0", "--port=8080"];
    # loopback here, and `python -m flask` so the venv's Flask runs whatever PATH says.
    command = [sys.executable, "-m", "flask", "run", "--host=127.0.0.1", f"--port={port}"]
    with started("seed 000", command, folder, env, port, work / "seed.log") as server:
        yield server


def mlserver_python(venv: Path) -> Path:
    """MLServer's interpreter in its own virtualenv, made on first use (never the project's)."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # uvloop 0.22+ stops MLServer 1.7's inference worker from starting (known upstream)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"mlserver=={MLSERVER}",
                        f"mlserver-sklearn=={MLSERVER}", "uvloop<0.22"], check=True)
    return python


@contextmanager
def mlserver(work: Path, model: TrainedModel, venv: Path) -> Iterator[Server]:
    """MLServer with its scikit-learn runtime and adaptive batching, serving the same file."""
    folder = work / "mlserver"
    folder.mkdir()
    shutil.copy(model.folder / "model", folder / "model.joblib")
    port = free_port()
    # parallel_workers 0 keeps inference in the server process: the fastest setting here
    (folder / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
        "metrics_port": free_port(), "parallel_workers": 0, "debug": False}))
    (folder / "model-settings.json").write_text(json.dumps({
        "name": "wine", "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
        "max_batch_size": MLSERVER_BATCH, "max_batch_time": MLSERVER_BATCH_TIME}))
    mlserver_bin = mlserver_python(venv).with_name("mlserver")
    with started("MLServer", [str(mlserver_bin), "start", str(folder)], folder, _environment(),
                 port, work / "mlserver.log", health="/v2/health/ready") as server:
        yield server


def v2_body(instances: list[list[float]]) -> bytes:
    """The same instances as an Open Inference Protocol (V2) request."""
    return json.dumps({"inputs": [{
        "name": "predict", "shape": [len(instances), len(instances[0])], "datatype": "FP64",
        "data": [value for row in instances for value in row]}]}).encode()


def _v2_classes(document: dict[str, Any]) -> list[int]:
    return [int(c) for c in document["outputs"][0]["data"]]


@dataclass
class Load:
    """What one run of the load generator saw."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0
    server_cpu: float = 0.0  # CPU seconds the server process used meanwhile
    client_cpu: float = 0.0  # and this process, whose threads are the clients


def drive(port: int, body: bytes, check: Callable[[int, bytes], str | None], clients: int,
          requests: int, cap: float, path: str = "/predict") -> Load:
    """`clients` keep-alive connections POSTing `body` until `requests` are sent or `cap` s."""
    tickets = itertools.count()  # next() is atomic under the GIL: each request is taken once
    load, lock = Load(), threading.Lock()
    headers = {"Content-Type": "application/json"}
    started_at = time.perf_counter()
    deadline = started_at + cap

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        latencies, errors, reconnects = [], [], 0
        try:
            while next(tickets) < requests and time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    connection.request("POST", path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    connection.close()  # http.client reconnects on the next request
                    reconnects += 1
                    continue
                latencies.append(time.perf_counter() - sent)
                problem = check(response.status, data)
                if problem:
                    errors.append(problem)
                if response.will_close:
                    connection.close()
                    reconnects += 1
        finally:
            connection.close()
            with lock:
                load.latencies += latencies
                load.errors += errors
                load.reconnects += reconnects

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Each thread stops taking requests at the cap; one in flight ends within its timeout.
        thread.join(cap + REQUEST_TIMEOUT_S + 5)
    load.elapsed = time.perf_counter() - started_at
    if any(thread.is_alive() for thread in threads):
        load.errors.append("a client thread did not finish")
    return load


def checker(expected: list[int], answer_classes: Callable[[Any], list[int]],
            key: str | None = "predictions") -> Callable[[int, bytes], str | None]:
    def check(status: int, data: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {data[:200]!r}"
        try:
            document = json.loads(data)
            classes = answer_classes(document[key] if key else document)
        except (ValueError, KeyError, TypeError, IndexError) as error:
            return f"unexpected answer ({type(error).__name__}): {data[:200]!r}"
        return None if classes == expected else f"wrong classes {classes}, expected {expected}"
    return check


def _our_classes(predictions: list[Any]) -> list[int]:
    return [p["class"] if isinstance(p, dict) else p for p in predictions]


def _seed_classes(predictions: list[dict[str, float]]) -> list[int]:
    # {"probability_<class>": p, ...} per instance: the class is the most probable one.
    return [int(max(p, key=lambda k: p[k]).removeprefix("probability_")) for p in predictions]


def summarize(loads: list[Load]) -> dict[str, Any]:
    latencies = sorted(x for load in loads for x in load.latencies)
    elapsed = sum(load.elapsed for load in loads)
    errors = [e for load in loads for e in load.errors]
    answered = len(latencies)

    def percentile(q: float) -> float:
        return latencies[min(answered - 1, int(q * answered))] * 1000 if answered else 0.0

    return {"requests": answered, "seconds": round(elapsed, 2),
            "rps": round(answered / elapsed, 1) if elapsed else 0.0,
            "p50_ms": round(percentile(0.50), 2), "p99_ms": round(percentile(0.99), 2),
            "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0.0,
            "rounds_rps": [round(len(x.latencies) / x.elapsed, 1) for x in loads if x.elapsed],
            "reconnects": sum(load.reconnects for load in loads), "errors": len(errors),
            "server_cpu_ms": round(sum(x.server_cpu for x in loads) * 1000 / answered, 3)
            if answered else 0.0,
            "client_cpu_ms": round(sum(x.client_cpu for x in loads) * 1000 / answered, 3)
            if answered else 0.0,
            "first_error": errors[0] if errors else None}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(server: Server, body: bytes, check: Callable[[int, bytes], str | None],
             clients: int, args: argparse.Namespace, path: str) -> Load:
    """One load run, with the CPU the server and this process (the clients) spent on it."""
    server_cpu, client_cpu = cpu_seconds(server.process.pid), time.process_time()
    load = drive(server.port, body, check, clients, args.requests, args.cap, path)
    load.server_cpu = cpu_seconds(server.process.pid) - server_cpu
    load.client_cpu = time.process_time() - client_cpu
    return load


def predict_times(model: TrainedModel, clients: int, seconds: float = 0.5) -> list[float]:
    """The model's own bound: `predict` called in this process on the batch `clients` requests
    make together (their rows stacked into one DataFrame, as the server builds it), timed for
    `seconds` right after the servers' runs of a round, so it meets the same machine load."""
    import joblib
    import pandas as pd

    estimator = joblib.load(model.folder / "model")
    batch = pd.DataFrame(model.instances * clients, columns=model.metadata["feature_names"])
    for _ in range(3):  # the first calls start joblib's machinery
        estimator.predict(batch)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 5 or time.perf_counter() < deadline:
        started_at = time.perf_counter()
        estimator.predict(batch)
        times.append(time.perf_counter() - started_at)
    return times


def in_process_limit(model: TrainedModel, clients: int, times: list[float]) -> dict[str, Any]:
    call = statistics.median(times)
    return {"rows_per_call": len(model.instances) * clients, "call_ms": round(call * 1000, 2),
            "rps": round(clients / call, 1)}


@dataclass
class Side:
    """One server under test: how to start it, what to send and how to check the answer."""

    label: str
    start: Callable[[], Any]
    body: bytes
    check: Callable[[int, bytes], str | None]
    path: str = "/predict"


def sides_for(args: argparse.Namespace, work: Path, model: TrainedModel) -> dict[str, Side]:
    document: dict[str, Any] = {"instances": model.instances}
    if args.probabilities:
        document["parameters"] = {"probabilities": True}  # the seed ignores parameters
    ours_label = {"serve": "mlops-bot serve", "container": "python -m mlops_bot.serving"}
    sides = {"ours": Side(ours_label[args.server], lambda: ours(work, model, args.server),
                          json.dumps(document).encode(), checker(model.expected, _our_classes))}
    if not args.no_mlserver:
        sides["mlserver"] = Side(f"MLServer {MLSERVER} (sklearn, adaptive batching)",
                                 lambda: mlserver(work, model, args.mlserver_venv),
                                 v2_body(model.instances),
                                 checker(model.expected, _v2_classes, key=None),
                                 "/v2/models/wine/infer")
    if args.seed:
        sides["seed_000"] = Side("seed 000 (Flask, flask run)", lambda: seed(work, model),
                                 json.dumps(document).encode(),
                                 checker(model.expected, _seed_classes))
    return sides


def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch, ExitStack() as stack:
        work = Path(scratch)
        model = train(work)
        sides = sides_for(args, work, model)
        servers = {name: stack.enter_context(side.start()) for name, side in sides.items()}
        for name, side in sides.items():  # first requests import pandas & co.: not timed
            warm = drive(servers[name].port, side.body, side.check, 1, WARMUP_REQUESTS,
                         args.cap, side.path)
            if warm.errors:
                raise SystemExit(f"{name} answered wrongly while warming up: {warm.errors[0]}")
        levels = []
        for clients in args.clients:
            loads: dict[str, list[Load]] = {name: [] for name in sides}
            times: list[float] = []
            for round_ in range(args.rounds):  # alternate which server goes first
                order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
                for name in order:
                    loads[name].append(measured(servers[name], sides[name].body,
                                                sides[name].check, clients, args,
                                                sides[name].path))
                times += predict_times(model, clients)
            level = {"clients": clients, "limit": in_process_limit(model, clients, times),
                     **{name: summarize(runs) for name, runs in loads.items()}}
            level["ok"], level["verdicts"] = verdicts(level)
            levels.append(level)
    return {"server": args.server, "clients": args.clients, "requests": args.requests,
            "cap_s": args.cap, "rounds": args.rounds, "probabilities": args.probabilities,
            "instances_per_request": len(model.instances), "cpus": os.cpu_count(),
            "labels": {name: side.label for name, side in sides.items()}, "levels": levels,
            "ok": all(level["ok"] for level in levels)}


def verdicts(level: dict[str, Any]) -> tuple[bool, list[str]]:
    """The targets at one concurrency: against MLServer (ahead at 1 client; at more, as many
    requests/s or more with a p99 no worse) and, when run, >= 5x the seed's requests/s."""
    ours, found = level["ours"], []
    ok = ours["errors"] == 0 and ours["requests"] > 0
    ours["limit_fraction"] = round(ours["rps"] / level["limit"]["rps"], 3)
    if "mlserver" in level:
        peer = level["mlserver"]
        ratio = ours["rps"] / peer["rps"] if peer["rps"] else 0.0
        if level["clients"] == 1:
            met = ratio > 1.0
            found.append(f"{ratio:.2f}x MLServer's req/s (target > 1.0x): "
                         f"{'ok' if met else 'MISSED'}")
        else:
            met = ratio >= 1.0 and ours["p99_ms"] <= peer["p99_ms"]
            found.append(f"{ratio:.2f}x MLServer's req/s (target >= 1.0x), p99 "
                         f"{ours['p99_ms']:.1f} vs {peer['p99_ms']:.1f} ms (target no worse): "
                         f"{'ok' if met else 'MISSED'}")
        ok = ok and met and peer["errors"] == 0
    if "seed_000" in level:
        seed_rps = level["seed_000"]["rps"]
        ratio = ours["rps"] / seed_rps if seed_rps else 0.0
        found.append(f"{ratio:.2f}x the seed's req/s (target >= {TARGET_RATIO}x): "
                     f"{'ok' if ratio >= TARGET_RATIO else 'MISSED'}")
        ok = ok and ratio >= TARGET_RATIO
    return ok, found


def print_table(result: dict[str, Any]) -> None:
    print(f"serving the wine_quality model: {result['instances_per_request']} instances per "
          f"request, {result['rounds']} alternating rounds of up to {result['requests']} "
          f"requests or {result['cap_s']:g} s per server and concurrency"
          f"{', probabilities asked of ours' if result['probabilities'] else ''}; the load "
          f"client runs in this process, on the same {result['cpus']} CPUs")
    print("| clients | server | requests | req/s | p50 ms | p99 ms | server CPU ms/req | "
          "client CPU ms/req | of the limit | errors |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for level in result["levels"]:
        for key, label in result["labels"].items():
            r = level[key]
            fraction = f"{r['limit_fraction']:.1%}" if "limit_fraction" in r else ""
            print(f"| {level['clients']} | {label} | {r['requests']} | {r['rps']:.1f} | "
                  f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['server_cpu_ms']:.2f} | "
                  f"{r['client_cpu_ms']:.2f} | {fraction} | {r['errors']} |")
        limit = level["limit"]
        print(f"| {level['clients']} | in-process predict, {limit['rows_per_call']} rows a call "
              f"| | {limit['rps']:.1f} | {limit['call_ms']:.1f} | | | | 100% | |")
    for level in result["levels"]:
        for line in level["verdicts"]:
            print(f"{level['clients']} client(s): ours {line}")
        for key in result["labels"]:
            if level[key]["first_error"]:
                print(f"{level['clients']} client(s), {key}: {level[key]['errors']} errors, "
                      f"first: {level[key]['first_error']}")
    print("all targets met" if result["ok"] else "TARGET MISSED")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64],
                        help="concurrent keep-alive connections, one level after another "
                        "(1 8 64)")
    parser.add_argument("--requests", type=int, default=3000,
                        help="requests per server, concurrency and round (3000)")
    parser.add_argument("--cap", type=float, default=8.0,
                        help="seconds per server, concurrency and round at most (8)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (3)")
    parser.add_argument("--server", choices=("serve", "container"), default="serve",
                        help="ours as `mlops-bot serve` (default) or the serving container")
    parser.add_argument("--probabilities", action="store_true",
                        help="ask ours for class probabilities too, as the seed always answers")
    parser.add_argument("--no-mlserver", action="store_true", help="leave MLServer out")
    parser.add_argument("--mlserver-venv", type=Path, default=MLSERVER_VENV,
                        help=f"MLServer's own virtualenv, made if missing ({MLSERVER_VENV})")
    parser.add_argument("--seed", action="store_true",
                        help="also run seed 000's Flask app (needs flask in this venv)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if min(*args.clients, args.requests, args.rounds) < 1 or args.cap <= 0:
        parser.error("--clients, --requests, --rounds and --cap must be positive")
    if args.seed:
        try:
            import flask  # noqa: F401  (the seed's app needs it; checked before training)
        except ImportError:
            raise SystemExit("Flask is not installed: .venv/bin/pip install flask") from None
    result = bench(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
