"""The two kinds of failure mlops-bot reports.

A `UserError` is something the user can act on (bad config, unknown pipeline, a commit that is not
in the clone): it is printed as one sentence, without a traceback, and the process exits 1.
Anything else is a bug or a backend failure and exits 3 with its traceback.
"""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_UNEXPECTED", "EXIT_USAGE", "ConfigError", "UserError"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3


class UserError(Exception):
    """A failure the user can fix; its message says what happened and how to fix it."""


class ConfigError(UserError):
    """`mlops.yaml` is invalid; the message names the file, the key path and what is allowed."""
