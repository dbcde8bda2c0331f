"""The payload of mlops-bot's GitHub Deployments: one versioned schema, written and read here.

The comment job (`/deploy`, `/rollback`) and scheduled retraining write a Deployment's payload
through `stamped`, which checks it and adds `schema` and `schema_version`; the approved deploy job
reads it back through `parse_payload`, which refuses anything this version did not write (an
unknown key, a wrong type, a missing field, another schema or version). A Deployment's `task` is
`DEPLOY_TASK`, so the deployments GitHub Actions creates by itself for a job with `environment:`
(task `deploy`, empty payload) and other tools' are never taken for mlops-bot's.

Version 1 fields: `action` (deploy or rollback), `trigger` (comment or retrain), `sha` (the commit
deployed, the Deployment's own), `requested_by`; for a deploy `pipeline`, `version` (registry
version), `run_id`, optionally `parameters`, `produced_by` (the commit whose push ran it),
`backend`, `traffic`; a comment's deployment always names its `pull_request`; a retraining's its
`schedule` and optionally its `tracking_issue`; `comment_id` (the sticky comment) is optional.
Adding a field means adding it here (and to the README's description of the payload).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

__all__ = ["DEPLOY_TASK", "SCHEMA", "SCHEMA_VERSION", "DeploymentPayload", "PayloadInvalid",
           "parse_payload", "stamped"]

SCHEMA = "mlops-bot/deployment"
SCHEMA_VERSION = 1
DEPLOY_TASK = "deploy:mlops-bot"  # GitHub's `task`: "deploy" or "deploy:<something>"

_SHA = r"^([0-9a-f]{40}|[0-9a-f]{64})$"
_NAME = r"^[A-Za-z0-9_.-]{1,100}$"  # pipeline folder names, as the comment grammar takes them
_ID = r"^[A-Za-z0-9_.:@/-]{1,200}$"  # registry versions and run ids (KFP, Vertex, local)
_LOGIN = r"^[A-Za-z0-9_.\[\]-]{1,100}$"  # GitHub logins, bots' `name[bot]` included


class PayloadInvalid(Exception):
    """The payload is not one this version of mlops-bot writes; the message says what is wrong."""


class DeploymentPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    schema_id: Literal["mlops-bot/deployment"] = Field(alias="schema")
    schema_version: Literal[1]
    action: Literal["deploy", "rollback"]
    trigger: Literal["comment", "retrain"] = "comment"
    sha: Annotated[str, Field(pattern=_SHA)]
    requested_by: Annotated[str, Field(pattern=_LOGIN)]
    pipeline: Annotated[str, Field(pattern=_NAME)] | None = None
    version: Annotated[str, Field(pattern=_ID)] | None = None
    run_id: Annotated[str, Field(pattern=_ID)] | None = None
    parameters: dict[str, JsonValue] | None = None
    produced_by: Annotated[str, Field(pattern=_SHA)] | None = None
    backend: Literal["local", "gcp"] | None = None
    traffic: Annotated[int, Field(ge=1, le=100)] | None = None
    pull_request: Annotated[int, Field(ge=1)] | None = None
    schedule: Annotated[str, Field(pattern=_NAME)] | None = None
    tracking_issue: Annotated[int, Field(ge=1)] | None = None
    comment_id: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _complete(self) -> DeploymentPayload:
        if self.action == "deploy" and not (self.pipeline and self.version and self.run_id):
            raise ValueError("a deploy names its pipeline, version and run_id")
        if self.trigger == "comment" and self.pull_request is None:
            # Without it the deploy job could not re-check the PR (open, head unchanged).
            raise ValueError("a deployment made by a comment names its pull_request")
        if self.trigger == "retrain" and (self.pull_request is not None or not self.schedule):
            raise ValueError("a retraining's deployment names its schedule and no pull_request")
        return self

    def to_json(self) -> dict[str, Any]:
        """The payload as GitHub stores it: unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def stamped(payload: Mapping[str, Any]) -> dict[str, object]:
    """`payload` with the schema and its version, checked as the deploy job will read it; a
    payload this module would refuse is a bug of the writer (ValueError)."""
    try:
        return DeploymentPayload.model_validate(
            {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
             **{k: v for k, v in payload.items() if v is not None}}).to_json()
    except ValidationError as error:
        raise ValueError(f"a deployment payload mlops-bot would refuse: {_problems(error)}") \
            from None


def parse_payload(payload: Mapping[str, Any]) -> DeploymentPayload:
    """The payload of a Deployment, or `PayloadInvalid` naming what this version does not accept."""
    if payload.get("schema") != SCHEMA or payload.get("schema_version") != SCHEMA_VERSION:
        raise PayloadInvalid(f"the payload is not of schema {SCHEMA} version {SCHEMA_VERSION}")
    try:
        return DeploymentPayload.model_validate(dict(payload))
    except ValidationError as error:
        raise PayloadInvalid(_problems(error)) from None


def _problems(error: ValidationError) -> str:
    # Locations and messages only: the values came from a Deployment anyone may have written.
    found = [f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}"
             for e in error.errors(include_url=False, include_input=False)]
    return "; ".join(found[:5]) + ("; ..." if len(found) > 5 else "")
