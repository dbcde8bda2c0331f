"""A fake of Google's token exchange for Workload Identity Federation: STS and IAM Credentials.

    with FakeSts(Federation("octo/models", "main", ["staging"]), project="acme-ml") as sts:
        ...  # the google-auth stand-in (tests/act/actions/google-auth) exchanges the job's claims

Routes, as google-auth's `external_account` credentials call them:
    POST /v1/token   (form) a GitHub OIDC token for a federated token, if the provider admits it
    POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken   (Bearer federated token)
         the service account's access token, `fake-token:<email>`, if its binding trusts the
         federated principal
The provider and the bindings are the product's (`mlops_bot.backends.gcp.identities`, what
`mlops-bot bootstrap` sets up): the provider admits only the repository's tokens and maps each to
`attribute.mlops_job`; each service account trusts one value of it. Refusals answer as Google
does (400 `unauthorized_client` from STS, 403 PERMISSION_DENIED from IAM). The OIDC token is the
stand-in's unsigned JWT: act issues no signed ones, so only the claims are checked.
`exchanges` records (claims, service account asked for, granted) for the tests.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from mlops_bot.backends.gcp.identities import Federation, identity_for_claims
from tests.support.fake_iam import token_for
from tests.support.loopback import LoopbackServer

__all__ = ["PROVIDER", "Exchange", "FakeSts"]

# The provider resource the workflows' GCP_WORKLOAD_IDENTITY_PROVIDER names in the tests.
PROVIDER = "projects/123456789012/locations/global/workloadIdentityPools/github/providers/github"
_GENERATE = re.compile(r"/v1/projects/-/serviceAccounts/(?P<email>[^/:]+):generateAccessToken")


@dataclass
class Exchange:
    claims: dict[str, Any]
    service_account: str | None  # None: refused at the token exchange already
    granted: bool


@dataclass
class FakeSts(LoopbackServer):
    federation: Federation
    project: str
    provider: str = PROVIDER
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._federated: dict[str, dict[str, Any]] = {}  # federated token -> the claims
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    @property
    def endpoint(self) -> str:
        return self.base_url

    def granted(self) -> list[str]:
        with self._lock:
            return [e.service_account or "" for e in self.exchanges if e.granted]

    # -- the two calls ---------------------------------------------------------------------
    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
            return 400, _oauth_error("unsupported_grant_type", "Invalid grant_type.")
        if form.get("audience") != f"//iam.googleapis.com/{self.provider}":
            return 400, _oauth_error("invalid_target", "The target service indicated by the "
                                     "\"audience\" parameters is invalid.")
        claims = _claims_of(form.get("subject_token", ""))
        if claims is None:
            return 400, _oauth_error("invalid_grant", "Invalid value for \"subject_token\".")
        if self.federation.job_of(claims) is None:
            with self._lock:
                self.exchanges.append(Exchange(claims, None, False))
            return 400, _oauth_error("unauthorized_client", "The given credential is rejected "
                                     "by the attribute condition.")
        federated = "federated-" + secrets.token_hex(12)
        with self._lock:
            self._federated[federated] = claims
        return 200, {"access_token": federated, "token_type": "Bearer", "expires_in": 3600,
                     "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}

    def generate(self, email: str, authorization: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            claims = self._federated.get(authorization.removeprefix("Bearer "))
        if claims is None:
            return 401, _google_error(401, "UNAUTHENTICATED", "Request had invalid "
                                      "authentication credentials.")
        identity = identity_for_claims(self.federation, claims)
        granted = identity is not None and identity.email(self.project) == email
        with self._lock:
            self.exchanges.append(Exchange(claims, email, granted))
        if not granted:
            return 403, _google_error(403, "PERMISSION_DENIED", "Permission "
                                      "'iam.serviceAccounts.getAccessToken' denied on resource "
                                      "(or it may not exist).")
        return 200, {"accessToken": token_for(email), "expireTime": "2099-01-01T00:00:00Z"}


def _claims_of(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _oauth_error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description}


def _google_error(status: int, name: str, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": name}}


def _handler_for(fake: FakeSts) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            found = _GENERATE.fullmatch(self.path)
            if self.path == "/v1/token":
                form = (json.loads(raw) if raw.startswith("{") else dict(parse_qsl(raw)))
                status, body = fake.token(form)
            elif found:
                status, body = fake.generate(found["email"],
                                             self.headers.get("Authorization") or "")
            else:
                status, body = 404, _google_error(404, "NOT_FOUND", f"no route {self.path}")
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
