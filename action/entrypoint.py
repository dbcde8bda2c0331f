"""Container entry point of the mlops-bot GitHub Action: everything happens in mlops_bot."""

from __future__ import annotations

import os
import sys
import traceback


def main() -> int:
    from mlops_bot.github.action import run_action

    try:
        return run_action(os.environ)
    except Exception:
        traceback.print_exc()
        print("mlops-bot: unexpected failure (a bug, or a backend failed): the traceback above "
              "says where.", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
