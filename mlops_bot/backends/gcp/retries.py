"""Which Google API failures leave unknown whether a request was applied.

After one of these a read may simply be asked again, but a write must first look whether it
happened (REST maps 504 to GatewayTimeout; requests' timeouts and dropped connections are
OSErrors; RetryError: a call's retries ran out of time).
"""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions

__all__ = ["TRANSIENT"]

TRANSIENT = (gexc.InternalServerError, gexc.BadGateway, gexc.ServiceUnavailable,
             gexc.GatewayTimeout, gexc.DeadlineExceeded, gexc.TooManyRequests, gexc.RetryError,
             OSError, auth_exceptions.TransportError)
