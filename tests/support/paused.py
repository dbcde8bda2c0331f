"""`mlops-bot` (or the action's entry point) stopping at one step of a promotion, for fault tests.

    python -m tests.support.paused STEP [--action | mlops-bot arguments...]

STEP is `canary` (the candidate deployed with its canary share), `smoke` (while the smoke test
runs), `full` (the candidate has all the traffic, the previous model still deployed) or
`undeploy` (the previous model undeployed, the aliases not moved yet). There the process prints
`PAUSED <step>` on stderr and sleeps, so a test can SIGTERM or SIGKILL it at exactly that point.

Nothing of this is in mlops_bot: the pause is wrapped around the product's own functions in this
test process only (the flow itself runs unchanged, signal handling included).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

# The action of the traffic step (mlops_bot.flows.traffic) after which each pause comes.
AFTER_STEP = {"canary": "deploy", "full": "traffic", "undeploy": "undeploy"}
STEPS = ("canary", "smoke", "full", "undeploy")


def pause(step: str) -> None:
    print(f"PAUSED {step}", file=sys.stderr, flush=True)
    time.sleep(300)  # a signal ends it
    raise AssertionError(f"nobody stopped the process paused at {step}")


def install(step: str) -> None:
    from mlops_bot.flows import promote, traffic

    if step == "smoke":
        smoke = promote._smoke

        def paused_smoke(*args: Any, **kwargs: Any) -> Any:
            pause(step)
            return smoke(*args, **kwargs)

        promote._smoke = paused_smoke
        return
    record_step = traffic.EndpointChanges._step

    def paused_step(self: traffic.EndpointChanges, action: str, detail: str = "") -> None:
        record_step(self, action, detail)
        if action == AFTER_STEP[step]:
            pause(step)

    traffic.EndpointChanges._step = paused_step  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    step, *rest = argv
    if step not in STEPS:
        raise SystemExit(f"STEP must be one of {', '.join(STEPS)}, not {step!r}")
    install(step)
    if rest == ["--action"]:
        from mlops_bot.github.action import run_action

        return run_action(os.environ)
    from mlops_bot.cli import main as cli

    return cli(rest)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
