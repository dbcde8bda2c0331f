"""Run `mlops-bot` and SIGKILL its whole process group at an exact point: a kill -9 that lands
in a given step every time, not by timing.

    python tests/support/kill_at.py EVENT NEEDLE -- mlops-bot arguments...

An audit hook (PEP 578) watches the process: at the first audit `EVENT` whose arguments
mention `NEEDLE` (say `os.rename` of a `.incoming-` folder: the registry's publish), it kills
the process group it leads, before the audited operation runs. Nothing of mlops-bot is
replaced: what the kill leaves behind is what a real kill there leaves.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def _install(event: str, needle: str) -> None:
    def hook(name: str, arguments: tuple[Any, ...]) -> None:
        if name == event and needle in repr(arguments):
            os.killpg(os.getpgid(0), signal.SIGKILL)

    sys.addaudithook(hook)


if __name__ == "__main__":
    event, needle, separator, *rest = sys.argv[1:]
    assert separator == "--", "usage: kill_at.py EVENT NEEDLE -- ARGS..."
    _install(event, needle)
    from mlops_bot.cli import main

    raise SystemExit(main(rest))
