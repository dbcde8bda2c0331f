"""How an action run ends: a decision and a reason code from one closed list.

Every early exit of every handler returns an `Outcome`; its fields become the action's outputs,
so a workflow can branch on `decision` and `reason_code`, and a reader can list every way a run
can end by reading `ReasonCode`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = ["Decision", "Outcome", "ReasonCode"]

Decision = Literal["proceed", "stop"]


class ReasonCode(StrEnum):
    OK = "ok"  # the command did what it was asked
    FAILED = "failed"  # something it tried failed (a build, compile, run or deploy)
    NO_TRIGGER = "no_trigger"  # an event or action the bot does not handle
    NOTHING_CHANGED = "nothing_changed"  # no pipeline affected
    IGNORED = "ignored"  # not a command, an edit, the bot's own comment, not a PR
    REPLIED = "replied"  # help, usage or "did you mean" was posted
    PERMISSION_DENIED = "permission_denied"
    FORK_REFUSED = "fork_refused"
    UNKNOWN_ENVIRONMENT = "unknown_environment"
    ENV_LOCKED = "env_locked"
    REF_CHANGED = "ref_changed"  # the PR head moved between the command and the deploy
    RUN_MISSING = "run_missing"  # no successful pipeline run for the commit to deploy
    RECORD_MISMATCH = "record_mismatch"  # the deploy job: the cloud disagrees with the run claimed
    NO_SHARED_STATE = "no_shared_state"  # backend local in Actions: runs do not outlive the job
    PR_CLOSED = "pr_closed"
    CONFIG_INVALID = "config_invalid"
    # The deploy job: the Deployment it was handed is not one to promote (flows/deployment_checks)
    FOREIGN_DEPLOYMENT = "foreign_deployment"  # created by another identity than the bot's
    FOREIGN_TASK = "foreign_task"  # its task is not mlops-bot's (deploy:mlops-bot)
    PAYLOAD_INVALID = "payload_invalid"  # not the payload schema and version mlops-bot writes
    INPUTS_MISMATCH = "inputs_mismatch"  # the job's inputs name another commit or environment
    COMMIT_MISMATCH = "commit_mismatch"  # the payload or its run is of another commit
    REPLAYED = "replayed"  # its latest status is no longer queued: it ran (or ended) before
    SUPERSEDED = "superseded"  # a newer deploy to the environment was requested after it
    ENV_UNPROTECTED = "env_unprotected"  # the GitHub environment has no required reviewers
    # /deploy: the commit pinned is the one the commenter saw (mlops_bot.flows.deploy_requirements)
    HEAD_PUSHED_AFTER_COMMENT = "head_pushed_after_comment"  # the head moved after the comment
    HEAD_UNVERIFIED = "head_unverified"  # no push time of the head (a fork): name its SHA
    SHA_NOT_HEAD = "sha_not_head"  # `/deploy <env> <sha>` named a commit that is not the head
    # The environment's `require` in mlops.yaml, at comment time and again in the deploy job
    NOT_APPROVED = "not_approved"  # no approval of the head, or changes requested
    CHECKS_NOT_GREEN = "checks_not_green"  # a required check run or status is not green
    BASE_NOT_DEFAULT = "base_not_default"  # the PR targets another branch than the default
    # The deploy job: a model or metrics artifact of the run lies outside the run's own artifacts
    ARTIFACT_OUTSIDE_RUN = "artifact_outside_run"


@dataclass
class Outcome:
    decision: Decision
    reason_code: ReasonCode
    message: str
    sha: str = ""
    environment: str = ""
    deployment_id: int | None = None
    comment_id: int | None = None
    pipelines: list[str] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def result(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "decision": self.decision,
            "reason_code": str(self.reason_code),
            "message": self.message,
            "sha": self.sha,
            "environment": self.environment,
            "deployment_id": self.deployment_id,
            "comment_id": self.comment_id,
            "pipelines": self.pipelines,
            "versions": self.versions,
            "details": self.details,
        }

    def outputs(self) -> dict[str, str]:
        """Every output declared in action.yml, as strings."""
        return {
            "decision": self.decision,
            "reason_code": str(self.reason_code),
            "pipelines": json.dumps({"include": [{"pipeline": p} for p in self.pipelines]}),
            "sha": self.sha,
            "environment": self.environment,
            "deployment_id": "" if self.deployment_id is None else str(self.deployment_id),
            "comment_id": "" if self.comment_id is None else str(self.comment_id),
            "versions": json.dumps(self.versions),
            "result": json.dumps(self.result()),
        }
