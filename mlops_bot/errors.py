"""The kinds of failure mlops-bot reports.

A `UserError` is something the user can act on (bad config, unknown pipeline, a commit that is not
in the clone): it is printed as one sentence, without a traceback, and the process exits 1
(`UsageError`, a command line that cannot work as given: 2). Anything else is a bug or a backend
failure and exits 3 with its traceback; Ctrl-C exits 130. With `--json`, each of these is one
document on stdout, `{"error": {"code": <the class's code>, "message": <the sentence>}}`.
"""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_UNEXPECTED", "EXIT_USAGE",
           "ConfigError", "UsageError", "UserError"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


class UserError(Exception):
    """A failure the user can fix; its message says what happened and how to fix it."""

    code = "failed"  # the `error.code` of --json output; subclasses name their kind
    exit_code = EXIT_FAILED


class ConfigError(UserError):
    """`mlops.yaml` is invalid; the message names the file, the key path and what is allowed."""

    code = "invalid_config"


class UsageError(UserError):
    """The command line cannot work as given (a malformed option value); exits 2."""

    code = "usage"
    exit_code = EXIT_USAGE
