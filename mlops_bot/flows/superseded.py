"""Older deploy requests that can never run: their Deployment ends and their comment says so.

Deploy jobs share one `concurrency` group per environment with `cancel-in-progress: false`, but
GitHub keeps one pending job per group: when a third deploy queues, the pending one is cancelled
and its Deployment would stay `queued`, its comment saying "waiting for approval", forever. The
deploy job promotes only the newest request of an environment (mlops_bot.flows.deployment_checks),
so once a newer one exists the older waiting ones are dead: `supersede_older` sets each to
`error` ("superseded by deployment N") and updates its sticky comment, unless a newer request
of the same pull request (or tracking issue) owns that comment now. The comment and retrain jobs
call it (`supersede_before`) right after they create a request, the deploy job again when it
starts (a request made while an older one's job was running).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_bot.console import progress
from mlops_bot.flows.deployment_checks import WAITING, is_ours, thread_of
from mlops_bot.github.outcome import ReasonCode
from mlops_bot.report import comments
from mlops_bot.report.tables import code

if TYPE_CHECKING:
    from mlops_bot.github.forge import Deployment, Forge

__all__ = ["end_abandoned", "supersede_before", "supersede_older", "superseded_comment"]


def supersede_older(forge: Forge, newest: Deployment, bot: str) -> list[int]:
    """End the waiting deployments of mlops-bot to `newest.environment` older than `newest`;
    returns their ids. Deployments listed newest first: the scan stops at the first of ours
    that is no longer waiting (every older one was settled when that one ran)."""
    environment, ended = newest.environment, []
    told = {thread_of(newest)}  # a thread's comment belongs to its newest request
    for known in forge.recent_deployments(environment):
        if not is_ours(known, bot):
            continue
        if known.id >= newest.id:
            told.add(thread_of(known))
            continue
        states = forge.deployment_states(known.id, limit=1)
        # No status at all: a comment job GitHub failed between creating it and queuing it.
        if states and states[0] not in WAITING:
            break
        forge.set_deployment_status(known.id, "error",
                                    f"superseded by deployment {newest.id} to {environment}")
        ended.append(known.id)
        thread = thread_of(known)
        if thread is not None and thread not in told:
            forge.upsert_comment(thread, environment, superseded_comment(known, newest))
        told.add(thread)
    return ended


def supersede_before(forge: Forge, deployment_id: int) -> list[int]:
    """`supersede_older` for a request just made (the comment and retrain jobs): GitHub cancels
    the pending deploy job as soon as the new one queues, so the older request ends now, not
    when the new one is approved. Cosmetic there: a failure only warns."""
    from mlops_bot.errors import UserError
    from mlops_bot.github.pygithub_client import ForgeError

    try:
        return supersede_older(forge, forge.deployment(deployment_id), forge.bot_login())
    except (UserError, ForgeError) as error:
        progress(f"warning: could not end the requests deployment {deployment_id} supersedes: "
                 f"{error}")
        return []


def end_abandoned(forge: Forge, current: Deployment, bot: str) -> list[int]:
    """With the environment's lock held by `current`'s deploy job: end the older deployments of
    mlops-bot to that environment still `in_progress`. Their jobs were killed (a job that ends
    ends its own, and a live one would still hold the lock), so nothing else ever would.
    Cosmetic: a failure only warns."""
    from mlops_bot.errors import UserError
    from mlops_bot.github.pygithub_client import ForgeError

    ended = []
    try:
        for known in forge.recent_deployments(current.environment):
            if known.id >= current.id or not is_ours(known, bot):
                continue
            if forge.deployment_states(known.id, limit=1) == ["in_progress"]:
                forge.set_deployment_status(known.id, "error", (
                    f"its deploy job stopped without finishing (killed); deployment {current.id} "
                    f"took over {current.environment}")[:140])
                ended.append(known.id)
    except (UserError, ForgeError) as error:
        progress(f"warning: could not end the deployments killed jobs left in progress: {error}")
    return ended


def superseded_comment(old: Deployment, newest: Deployment) -> str:
    action = str(old.payload.get("action") or "deploy")
    return comments.refused(
        f"/{action} {old.environment}", ReasonCode.SUPERSEDED,
        f"Deployment {old.id} to {code(old.environment)} was superseded by deployment "
        f"{newest.id}, requested after it: only the newest request to an environment is "
        f"deployed, so nothing of this one was. Comment {code(f'/{action} {old.environment}')} "
        "again to deploy this pull request.")
