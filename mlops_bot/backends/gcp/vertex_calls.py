"""What the Vertex AI model registry and endpoints adapters share: error sentences, reads that
retry, writes whose outcome may be unknown, long-running operations waited on with a deadline.

A write that fails with a 5xx, a 429 or a timeout may or may not have been applied by the
service (a 503 can come from a front end after the backend accepted the request): `write` raises
`Unsure` for those, and the caller looks at the resource before trying again, so a retry never
registers a model twice or deploys it twice. Reads are retried on the same failures.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from google.api_core import exceptions as gexc

from mlops_bot.backends.gcp.api_errors import TRANSIENT, denied_sentence, label_value, message_of
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.config import GcpConfig

__all__ = ["OperationFailed", "OperationTimedOut", "Unsure", "VertexCalls", "label_value",
           "message_of"]

_T = TypeVar("_T")


class Unsure(Exception):
    """A write failed in a way that leaves unknown whether the service applied it."""

    def __init__(self, doing: str, error: Exception) -> None:
        super().__init__(f"could not {doing}: {_short(error)}")
        self.error = error


class OperationFailed(UserError):
    """A long-running operation finished with an error (the service did not apply it)."""


class OperationTimedOut(UserError):
    """A long-running operation was not done by its deadline; the service may still finish it."""

    def __init__(self, message: str, operation: Any) -> None:
        super().__init__(message)
        self.operation = operation


class VertexCalls:
    def __init__(self, config: GcpConfig, *, request_timeout: float, poll_seconds: float,
                 read_tries: int = 4) -> None:
        self.config = config
        self.parent = f"projects/{config.project}/locations/{config.region}"
        self.timeout = request_timeout
        self.poll_seconds = poll_seconds
        self.read_tries = read_tries

    def read(self, doing: str, call: Callable[[], _T]) -> _T:
        """`call()`, retried on transient failures; other errors become UserError sentences.
        NotFound passes through (the caller decides what a missing resource means)."""
        for attempt in range(1, self.read_tries + 1):
            try:
                with self.translated(doing, passthrough=(gexc.NotFound, *TRANSIENT)):
                    return call()
            except gexc.NotFound:
                raise
            except TRANSIENT as error:
                if attempt == self.read_tries:
                    raise UserError(self._transient_sentence(doing, error)) from error
                time.sleep(self.poll_seconds * attempt)
        raise AssertionError("unreachable")

    def write(self, doing: str, call: Callable[[], _T],
              passthrough: tuple[type[Exception], ...] = ()) -> _T:
        """`call()` once: transient failures raise Unsure, `passthrough` errors pass as they
        are, other errors become UserError sentences."""
        try:
            with self.translated(doing, passthrough=(*passthrough, *TRANSIENT)):
                return call()
        except passthrough:
            raise
        except TRANSIENT as error:
            raise Unsure(doing, error) from error

    def wait(self, operation: Any, doing: str, timeout: float) -> Any:
        """The result of a long-running operation, polled until done or `timeout` seconds."""
        from google.api_core import retry as gretry
        from google.api_core.future import polling

        every = polling.DEFAULT_POLLING.with_delay(
            initial=self.poll_seconds, maximum=max(self.poll_seconds * 8, 1.0), multiplier=1.5)
        # A poll that fails transiently is asked again, within the same deadline.
        again = gretry.Retry(predicate=gretry.if_exception_type(*TRANSIENT),
                             initial=self.poll_seconds, maximum=max(self.poll_seconds * 8, 1.0),
                             timeout=timeout)
        try:
            # (TimeoutError is an OSError, which `translated` would take for a transport error.)
            with self.translated(doing, passthrough=(gexc.GoogleAPICallError,
                                                     concurrent.futures.TimeoutError)):
                return operation.result(timeout=timeout, retry=again, polling=every.with_timeout(
                    timeout))
        except concurrent.futures.TimeoutError as error:
            name = getattr(getattr(operation, "operation", None), "name", "") or "the operation"
            raise OperationTimedOut(
                f"could not {doing}: not done after {timeout:g} s; Vertex AI may still finish it "
                f"({name}): look at the Vertex AI console and run the command again",
                operation) from error
        except gexc.GoogleAPICallError as error:
            raw = getattr(operation, "operation", None)
            if raw is not None and raw.done and raw.HasField("error"):
                raise OperationFailed(f"could not {doing}: Vertex AI reports "
                                      f"{raw.error.message or 'an error'} (code "
                                      f"{raw.error.code})") from error
            raise UserError(self.sentence(doing, error)) from error

    @contextlib.contextmanager
    def translated(self, doing: str,
                   passthrough: tuple[type[Exception], ...] = ()) -> Iterator[None]:
        """Google API errors as UserError sentences naming what was done and the fix."""
        try:
            yield
        except passthrough:
            raise
        except (gexc.GoogleAPICallError, *TRANSIENT) as error:
            raise UserError(self.sentence(doing, error)) from error

    def sentence(self, doing: str, error: Exception) -> str:
        if isinstance(error, gexc.Forbidden):
            return denied_sentence(doing, error, self.config, " in Vertex AI")
        if isinstance(error, gexc.Unauthenticated):
            return (f"could not {doing}: not authenticated ({message_of(error)}); on GitHub run "
                    "google-github-actions/auth first, locally run `gcloud auth "
                    "application-default login`")
        if isinstance(error, TRANSIENT):
            return self._transient_sentence(doing, error)
        return f"could not {doing} in Vertex AI ({self.parent}): {message_of(error)}"

    def _transient_sentence(self, doing: str, error: Exception) -> str:
        return (f"could not {doing} in Vertex AI ({self.parent}): {_short(error)}; the service "
                "did not answer in time, run the command again (it picks up where this stopped)")




def _short(error: Exception) -> str:
    if isinstance(error, gexc.GoogleAPICallError):
        return f"{error.code} {message_of(error)}"
    return f"{type(error).__name__}: {error}"
