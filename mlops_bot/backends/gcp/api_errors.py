"""How the Google API failures read: which leave a request's outcome unknown, the service's own
sentence, what a 403 means for mlops-bot's identities, and label values the services accept.

After a TRANSIENT failure a read may simply be asked again, but a write must first look whether
it happened (REST maps 504 to GatewayTimeout; requests' timeouts and dropped connections are
OSErrors; RetryError: a call's retries ran out of time).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions

if TYPE_CHECKING:
    from mlops_bot.backends.gcp.identities import Grant, Identity
    from mlops_bot.config import GcpConfig

__all__ = ["TRANSIENT", "Refusal", "caller_of", "denied_sentence", "holders", "label_value",
           "message_of", "permission_of"]

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


# -- permission denied: which permission, which mlops-bot identity holds it, and the fix --------

_PERMISSION = re.compile(r"Permission '(?P<p>[a-z][a-zA-Z0-9]*(?:\.[a-zA-Z0-9]+)+)' denied")
# Cloud Storage names the caller and the permission: "<email> does not have <p> access to ..."
_STORAGE = re.compile(r"(?:^|\s)(?P<who>\S+@\S+) does not have "
                      r"(?P<p>storage\.[a-zA-Z]+\.[a-zA-Z]+) access")
_IMPERSONATED = re.compile(r"/serviceAccounts/(?P<who>[^/:]+@[^/:]+):generateAccessToken")


def permission_of(error: Exception) -> str | None:
    """The permission a 403 names: the ErrorInfo's metadata, else the service's sentence."""
    metadata = getattr(error, "metadata", None)
    if isinstance(metadata, dict) and metadata.get("permission"):
        return str(metadata["permission"])
    message = message_of(error)
    found = _PERMISSION.search(message) or _STORAGE.search(message)
    return found["p"] if found else None


def caller_of(error: Exception) -> str | None:
    """Who was refused: Cloud Storage says so; otherwise the service account the credentials
    file impersonates (google-github-actions/auth writes one per job, Workload Identity
    Federation) or holds the key of. None when neither says (user credentials, a metadata
    server, credentials given in code)."""
    found = _STORAGE.search(message_of(error))
    if found:
        return found["who"]
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    try:
        info = json.loads(Path(path).read_text()) if path else None
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    impersonated = _IMPERSONATED.search(str(info.get("service_account_impersonation_url") or ""))
    return impersonated["who"] if impersonated else (info.get("client_email") or None)


def holders(permission: str, buckets: tuple[str, ...] = (),
            object_name: str | None = None) -> list[tuple[Identity, Grant]]:
    """Which identity holds `permission` by which grant (identities.py, as bootstrap sets them
    up); for a bucket (what it is: `registry_bucket`, `staging_bucket` or both) and an object,
    only grants that cover them."""
    from mlops_bot.backends.gcp.identities import IDENTITIES

    found: list[tuple[Identity, Grant]] = []
    for identity in IDENTITIES:
        for grant in identity.grants:
            if permission not in grant.permissions:
                continue
            if buckets and grant.on.endswith("_bucket") and grant.on not in buckets:
                continue
            if (grant.condition is not None and object_name is not None
                    and not grant.condition.allows(object_name)):
                continue
            found.append((identity, grant))
            break
    return found


@dataclass(frozen=True)
class Refusal:
    """Where a 403 happened, for `denied_sentence`: `needs` is the permission the call needs
    when the service's answer does not name it (Cloud Build: "The caller does not have
    permission"); `buckets` and `object_name` pick the grants that cover an object (see
    `holders`); `resource` names what a grant is on when the configuration does not (the KFP
    repository); `note` ends the sentence (what else to know there)."""

    needs: str | None = None
    buckets: tuple[str, ...] = ()
    object_name: str | None = None
    resource: str | None = None
    note: str = ""


def denied_sentence(doing: str, error: Exception, config: GcpConfig | None,
                    where: str = "", refusal: Refusal = Refusal()) -> str:
    """The one sentence for a 403 of any Google service: what was refused, the permission,
    which mlops-bot identity holds it and by which role, and the fix: `mlops-bot bootstrap`
    prints the roles; but a job that runs as the build identity is not meant to deploy, so for
    a deploy permission it says where deploys run instead."""
    head = f"permission denied to {doing}{where} ({message_of(error)}): "
    note = f"; {refusal.note}" if refusal.note else ""
    permission = permission_of(error) or refusal.needs
    email = caller_of(error)
    caller = _identity_named(email)
    if permission is None:
        who = (f"the {caller.name} identity ({email})" if caller else
               "the identity this job runs as")
        return f"{head}grant {who} the roles `mlops-bot bootstrap` prints{note}"
    held = holders(permission, refusal.buckets, refusal.object_name)
    if not held:
        return head + (refusal.note or (
            f"no mlops-bot identity holds {permission} there, by design (`mlops-bot bootstrap` "
            "prints what each holds): do this with the credentials of someone who may"))
    whose = f"{permission} is held by {_holding(held, config, refusal)}"
    names = {i.name for i, _ in held}
    if caller is not None and caller.name in names:
        return (f"{head}{whose}, which this job runs as: its roles are missing or out of date; "
                f"`mlops-bot bootstrap` prints them{note}")
    stranger = (f"; {email} is not one of mlops-bot's identities: give it {permission} or run "
                "this there" if email and caller is None else "")
    if names == {"deploy"} and (caller is None or caller.name == "build"):
        job = ("this job runs as the build identity, which is not meant to deploy" if caller
               else "push and retrain jobs run as the build identity, which is not meant to "
               "deploy")
        return (f"{head}{whose}: {job}: deploys run in the approved deploy job "
                f"({_deploy_jobs()})" + ("" if caller else "; if this is that job, its roles "
                                         "are missing: `mlops-bot bootstrap` prints them")
                + stranger + note)
    jobs = " or ".join(i.jobs for i, _ in held)
    if caller is not None:
        return (f"{head}{whose}, not by the {caller.name} identity this job runs as: run this "
                f"in {jobs}{note}")
    return (f"{head}{whose}: run this in {jobs}; refused there, its roles are missing: "
            f"`mlops-bot bootstrap` prints them{stranger}{note}")


def _deploy_jobs() -> str:
    from mlops_bot.backends.gcp.identities import Federation

    *others, last = Federation.DEPLOY_WORKFLOWS
    return (f"the deploy jobs of {', '.join(others)} and {last} on the default "
            "branch, after the GitHub Environment's reviewers approve")


def _identity_named(email: str | None) -> Identity | None:
    from mlops_bot.backends.gcp.identities import IDENTITIES

    account = (email or "").partition("@")[0]
    return next((i for i in IDENTITIES if i.account_id == account), None)


def _holding(held: list[tuple[Identity, Grant]], config: GcpConfig | None,
             refusal: Refusal) -> str:
    """`the build identity (<email>, <role> on <resource>)`, or both when both hold it."""
    grants = {_grant(g, config, refusal) for _, g in held}
    if len(held) > 1 and len(grants) == 1:
        return f"the {' and '.join(i.name for i, _ in held)} identities ({grants.pop()})"
    return " and ".join(f"the {i.name} identity ("
                        + (f"{i.email(config.project)}, " if config else "")
                        + f"{_grant(g, config, refusal)})" for i, g in held)


def _grant(grant: Grant, config: GcpConfig | None, refusal: Refusal) -> str:
    role = grant.role.id if grant.role.predefined else f"custom role {grant.role.id}"
    on = refusal.resource or _resource(grant.on, config)
    condition = f", objects under {grant.condition.prefix}" if grant.condition else ""
    if grant.condition is not None and grant.condition.tags_only:
        condition = ", tag objects pipelines/<pipeline>/tags/* only"
    return f"{role} on {on}{condition}"


def _resource(on: str, config: GcpConfig | None) -> str:
    if config is None:
        return {"project": "the project", "registry_bucket": "the registry bucket",
                "staging_bucket": "the staging bucket",
                "artifact_repository": "the Artifact Registry repository",
                "kfp_repository": "the Artifact Registry KFP repository"}.get(
            on, "the runtime account (gcp.service_account)")
    if on == "project":
        return f"project {config.project}"
    if on == "registry_bucket":
        return f"the registry bucket gs://{config.registry_bucket}"
    if on == "staging_bucket":
        return f"the staging bucket gs://{config.staging_bucket or config.registry_bucket}"
    if on == "artifact_repository":
        return f"the Artifact Registry repository {config.artifact_repository}"
    if on == "kfp_repository":
        return f"the Artifact Registry KFP repository {config.kfp_repository}"
    return f"the runtime account {config.service_account or '(gcp.service_account)'}"
