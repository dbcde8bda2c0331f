"""How the Google API failures read: which leave a request's outcome unknown, the service's own
sentence, and label values the services accept.

After a TRANSIENT failure a read may simply be asked again, but a write must first look whether
it happened (REST maps 504 to GatewayTimeout; requests' timeouts and dropped connections are
OSErrors; RetryError: a call's retries ran out of time).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions

__all__ = ["TRANSIENT", "label_value", "message_of"]

TRANSIENT = (gexc.InternalServerError, gexc.BadGateway, gexc.ServiceUnavailable,
             gexc.GatewayTimeout, gexc.DeadlineExceeded, gexc.TooManyRequests, gexc.RetryError,
             OSError, auth_exceptions.TransportError)


def message_of(error: Exception) -> str:
    """The service's own sentence (REST errors put the method and URL before it)."""
    response: Any = getattr(error, "response", None)
    with contextlib.suppress(Exception):
        return str(response.json()["error"]["message"])
    return str(getattr(error, "message", None) or error)


def label_value(value: str) -> str:
    """A label value (Vertex AI, Cloud Build tags): at most 63 of a-z, 0-9, `_` and `-`."""
    return re.sub(r"[^a-z0-9_-]+", "-", str(value).lower())[:63]
