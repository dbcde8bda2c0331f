"""Online prediction for deployed models: `mlops-bot serve <env>` and the serving container.

Two ways in, one app (`mlops_bot.serving.app`):
- `mlops-bot serve <env>` serves what `<state_dir>/endpoints/<env>.json` deploys, with its
  traffic split, and swaps to each new revision the promotion flow writes (`mlops_bot.cli.serve`).
- `python3 -m mlops_bot.serving` is what a pipeline's serving image runs as its Vertex AI
  serving container (the pipeline image with this server added, which the push builds on
  backend gcp: mlops_bot/serving_image.py; the pipeline image alone does not contain it):
  ONE model, 100% of the traffic, from `AIP_STORAGE_URI` (a model file or a folder holding
  model.joblib, model.pkl or model), with metadata from `model_metadata.json` beside it. It honours
  AIP_HTTP_PORT, AIP_HEALTH_ROUTE, AIP_PREDICT_ROUTE and AIP_DEPLOYED_MODEL_ID. In a container,
  pass `--host 0.0.0.0`: the default, 127.0.0.1, is unreachable from outside the container.
  A gs:// AIP_STORAGE_URI (what Vertex passes) is copied to a local folder before the server
  listens (`mlops_bot.serving.download`).

The submodules import starlette, numpy and joblib; this one imports nothing heavy, so the CLI can
import it cheaply. In the serving image only this package, mlops_bot/__init__.py and
mlops_bot/errors.py are present: the server must import nothing else of mlops_bot.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The serving container's entry point (`python -m mlops_bot.serving`)."""
    parser = argparse.ArgumentParser(
        prog="python -m mlops_bot.serving",
        description="Serve the one model at AIP_STORAGE_URI (Vertex AI custom-container "
        "contract).")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, help="port (default: AIP_HTTP_PORT, else 8080)")
    args = parser.parse_args(argv)
    from mlops_bot.errors import EXIT_FAILED, UserError

    try:
        return _serve_model(args.host, args.port)
    except UserError as error:
        print(f"mlops_bot.serving: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 0


def _serve_model(host: str, port: int | None) -> int:
    from mlops_bot.errors import EXIT_FAILED, UserError
    from mlops_bot.serving.app import (
        Endpoint,
        Routes,
        bind_socket,
        create_app,
        resolve_port,
        run_server,
        url_of,
    )
    from mlops_bot.serving.state import FixedState, single_model_state

    uri = os.environ.get("AIP_STORAGE_URI", "")
    if not uri:
        raise UserError("set AIP_STORAGE_URI to the model file, or the folder holding it")
    if uri.startswith("gs://"):
        import tempfile
        from pathlib import Path

        from mlops_bot.serving.download import download_model

        uri = str(download_model(uri, Path(tempfile.mkdtemp(prefix="mlops-bot-model-"))))
    state = single_model_state(uri, os.environ.get("AIP_DEPLOYED_MODEL_ID") or "model")
    endpoint = Endpoint(FixedState(state))
    # Loaded before listening: a model that cannot load fails the container at once, which
    # Vertex reports, rather than a server that never becomes healthy.
    endpoint.refresh()
    if endpoint.last_error:
        print(f"mlops_bot.serving: {endpoint.last_error}", file=sys.stderr)
        return EXIT_FAILED
    routes = Routes.from_env(os.environ)
    sock = bind_socket(host, resolve_port(port))
    print(f"serving {state.deployed[0].deployed_model_id} at {url_of(sock)}{routes.predict}",
          file=sys.stderr, flush=True)
    run_server(create_app(endpoint, routes=routes), sock)
    return 0
