"""`mlops-bot serve <env>`: serve an environment's deployed models on this machine.

It serves what `<state_dir>/endpoints/<env>.json` deploys (the promotion flow writes that file),
with the same traffic split, and follows the file: each new revision is loaded and swapped in
without dropping a request. Before anything is deployed it still starts, answering 503, so
`serve` can be left running while you deploy.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.cli.options import repo_option
from mlops_bot.console import progress, say
from mlops_bot.errors import UsageError, UserError

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands
    from mlops_bot.config import Config
    from mlops_bot.serving.app import Endpoint
    from mlops_bot.serving.request_log import RequestLog

__all__ = ["register", "run_serve"]

_SAMPLE = Path("serving") / "sample_instances.json"


def register(commands: Subcommands) -> None:
    serve = commands.add_parser(
        "serve", help="serve an environment's deployed models locally (Vertex AI's HTTP contract)",
        description="Serve the models deployed to ENV (from <state_dir>/endpoints/ENV.json) "
        "with their traffic split: GET /health, POST /predict {\"instances\": [...]}. A new "
        "revision of the state file is swapped in without dropping requests. Ctrl-C or "
        "SIGTERM stops it (exit 0).",
    )
    serve.add_argument("environment", metavar="ENV", help="an environment of mlops.yaml")
    serve.add_argument("--port", type=int, metavar="N",
                       help="port (default: AIP_HTTP_PORT, else 8080; 0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve.add_argument("--poll-interval", type=float, default=0.5, metavar="SECONDS",
                       help="how often to check the state file for a new revision (default 0.5)")
    repo_option(serve)
    serve.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    return run_serve(repo=args.repo, environment=args.environment, host=args.host,
                     port=args.port, poll_interval=args.poll_interval)


def run_serve(repo: Path, environment: str, host: str, port: int | None,
              poll_interval: float) -> int:
    from mlops_bot.backends.factory import state_dir
    from mlops_bot.backends.local.endpoints import url_file
    from mlops_bot.config import load_config
    from mlops_bot.interrupts import stoppable
    from mlops_bot.report.serve_report import ready_text
    from mlops_bot.serving.app import (
        Endpoint,
        Routes,
        bind_socket,
        create_app,
        resolve_port,
        run_server,
        url_of,
    )
    from mlops_bot.serving.state import StateWatcher, endpoint_state_path

    config = load_config(repo)
    if environment not in config.environments:
        raise UserError(_unknown_environment(environment, list(config.environments)))
    if poll_interval <= 0:
        raise UsageError(f"--poll-interval must be more than 0 seconds, not {poll_interval}")
    path = endpoint_state_path(state_dir(config, repo), environment)
    url_path = url_file(state_dir(config, repo), environment)
    routes = Routes.from_env(os.environ)
    sock = bind_socket(host, resolve_port(port))
    url = url_of(sock)
    progress(f"mlops-bot serve: loading {environment} from {path}")

    def ready(endpoint: Endpoint) -> None:
        _record_url(url_path, url)
        say(ready_text(endpoint, url, routes, path, _sample(repo, config, endpoint)))
        sys.stdout.flush()  # a pipe (a test, a supervisor) sees the URL now, not at exit

    request_log = _request_log(config, repo, environment)
    app = create_app(Endpoint(StateWatcher(path, environment)), poll_interval=poll_interval,
                     routes=routes, on_ready=ready,
                     on_predict=request_log.offer if request_log else None)
    try:
        # uvicorn re-raises SIGTERM after its graceful shutdown: with no handler of ours that
        # ends the process before the URL is forgotten and the request log is written out.
        with stoppable():
            run_server(app, sock)
    except KeyboardInterrupt:
        pass  # uvicorn has already shut down gracefully; it re-raises Ctrl-C (SIGTERM) for us
    finally:
        _forget_url(url_path, url)
        sock.close()
        if request_log is not None:
            request_log.close()
    progress("mlops-bot serve: stopped")
    return 0


def _request_log(config: Config, repo: Path, environment: str) -> RequestLog | None:
    """Sampled requests for `mlops-bot monitor`, when the environment has monitoring:."""
    from mlops_bot.backends.factory import state_dir
    from mlops_bot.serving.request_log import RequestLog, requests_folder

    monitoring = config.environments[environment].monitoring
    if monitoring is None:
        return None
    folder = requests_folder(state_dir(config, repo), environment)
    progress(f"mlops-bot serve: logging {monitoring.sampling_rate:.0%} of requests to {folder}")
    return RequestLog(folder, monitoring.sampling_rate)


def _record_url(path: Path, url: str) -> None:
    """Tell deploys and `endpoints show` where this environment answers (while we run)."""
    from mlops_bot.backends.local.files import write_atomic

    write_atomic(path, (url + "\n").encode())


def _forget_url(path: Path, url: str) -> None:
    # Only our own URL: a second `serve` of the same environment may have replaced it.
    try:
        if path.read_text().strip() == url:
            path.unlink()
    except OSError:
        pass


def _unknown_environment(name: str, known: list[str]) -> str:
    if not known:
        return (f"unknown environment {name!r}: mlops.yaml defines no environments; add one "
                "under environments: (for example `staging: {endpoint: wine-staging}`)")
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    listed = ", ".join(sorted(known))
    return f"unknown environment {name!r}: {hint}environments in mlops.yaml: {listed}"


def _sample(repo: Path, config: Config, endpoint: Endpoint) -> Any:
    """The first instance of a sample file: the environment's smoke_instances, else the serving
    pipeline's serving/sample_instances.json, else any pipeline's. None when there is none."""
    pipelines = repo / config.pipelines_dir
    candidates: list[Path] = []
    smoke = config.environments[endpoint.environment].smoke_instances
    if smoke:
        candidates.append(repo / smoke)
    for model in endpoint.table.models:
        name = model.deployed.lineage.get("pipeline") or model.deployed.model
        if name:
            candidates.append(pipelines / str(name) / _SAMPLE)
    candidates.extend(sorted(pipelines.glob(f"*/{_SAMPLE.as_posix()}")))
    for candidate in candidates:
        try:
            instances = json.loads(candidate.read_text(encoding="utf-8"))["instances"]
            return instances[0]
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            continue  # only an example for the printed curl: try the next file
    return None
