"""What must hold before a pull request's commit is deployed, in one place for both jobs.

`pinned` (the comment job): the PR head is the commit the commenter saw. An `issue_comment` event
carries no SHA, so without a SHA in the comment the head must have been pushed before the
comment was written; the push time is GitHub's own record of the ref update (the repository's
activity log), never a commit date, which the pusher writes. `/deploy <env> <sha>` names the
commit, and it must be the head: the whole SHA needs no push time, a prefix still does.

`unmet` (the comment job, and the deploy job again after approval, since reviews, checks and the
base can change while approval is pending): the environment's `require` in mlops.yaml, `base`
(the PR targets the default branch), `approved` (a review approving the head commit by someone
with write permission who is not the PR's author, and no reviewer's changes request outstanding)
and `checks` (the `required_checks`, or every check run and commit status on the head, green).

Each failure is one `Unmet`: a reason code and a Markdown sentence of the bot's own making.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mlops_bot.github.outcome import ReasonCode
from mlops_bot.report.tables import code

if TYPE_CHECKING:
    from mlops_bot.config import Config, Environment
    from mlops_bot.github.forge import Forge, PullRequest, Review

__all__ = ["PERMISSION_RANK", "Unmet", "pinned", "recheck", "unmet"]

PERMISSION_RANK = {"none": 0, "read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}
_GREEN_RUN = frozenset({"success", "neutral", "skipped"})  # what branch protection accepts
_LISTED = 10  # failing checks named in a refusal


@dataclass(frozen=True)
class Unmet:
    code: ReasonCode
    message: str  # Markdown: values in it are validated or shown as code


def pinned(forge: Forge, pull: PullRequest, sha: str | None, commented_at: datetime | None,
           again: str) -> Unmet | None:
    """Why the PR head may not be what the commenter reviewed, or None. `again` is the command
    to comment to deploy the head as it is now (without a SHA)."""
    head = pull.head_sha
    retry = f"review it, then comment {code(f'{again} {head[:12]}')}"
    if sha is not None:
        if sha == head:
            return None
        if not head.startswith(sha):
            return Unmet(ReasonCode.SHA_NOT_HEAD,
                         f"Commit {code(sha)} is not the head of #{pull.number}: the head is "
                         f"{code(head[:12])}. To deploy the head, {retry}.")
        # A prefix alone does not pin: the PR's author can make two commits that share 12 hex
        # digits in seconds (a birthday search) and push the other after the comment. So a
        # prefix counts together with the push time, and only the whole SHA without it.
    pushed = forge.head_pushed_at(pull)
    if pushed is None or commented_at is None:
        whole = f"review it, then comment {code(f'{again} {head}')} (the whole SHA)"
        return Unmet(ReasonCode.HEAD_UNVERIFIED,
                     f"GitHub's activity log has no push of the head {code(head[:12])} to this "
                     f"repository's branch as its newest update (a fork's branch, a push older "
                     f"than the log reaches, or one not logged yet), so it cannot tell that the "
                     f"head was pushed before this comment. To deploy it, {whole}.")
    if pushed >= commented_at:  # the same second is not "before"
        return Unmet(ReasonCode.HEAD_PUSHED_AFTER_COMMENT,
                     f"The head of #{pull.number}, {code(head[:12])}, was pushed at "
                     f"{_when(pushed)}, after this comment ({_when(commented_at)}): the comment "
                     f"was written for an earlier commit, so nothing was deployed. To deploy the "
                     f"new head, {retry}.")
    return None


def unmet(forge: Forge, name: str, environment: Environment, pull: PullRequest) -> Unmet | None:
    """The first of the environment's requirements the pull request does not meet, or None."""
    checks = {"base": _base, "approved": _approved, "checks": _checks}
    for requirement in ("base", "approved", "checks"):  # cheapest first
        if requirement in environment.require:
            found = checks[requirement](forge, environment, pull)
            if found is not None:
                return Unmet(found.code, f"{found.message} (`{name}` has `require: "
                                         f"[{', '.join(environment.require)}]` in mlops.yaml)")
    return None


def recheck(forge: Forge, config: Config, name: str, number: int) -> Unmet | None:
    """The deploy job's second look, after approval: the environment's requirements on pull
    request `number` as it is now (an approval can be dismissed, a check re-run red, the base
    changed while the deploy waited)."""
    environment = config.environments.get(name)
    if environment is None or not environment.require:
        return None
    return unmet(forge, name, environment, forge.pull_request(number))


def _base(forge: Forge, environment: Environment, pull: PullRequest) -> Unmet | None:
    default = forge.default_branch()
    if pull.base_ref == default:
        return None
    return Unmet(ReasonCode.BASE_NOT_DEFAULT,
                 f"#{pull.number} targets {code(pull.base_ref)}, not the default branch "
                 f"{code(default)}: change its base to {code(default)} to deploy it")


def _approved(forge: Forge, environment: Environment, pull: PullRequest) -> Unmet | None:
    # Each reviewer's latest review that approves, requests changes or dismisses (a comment
    # review changes nothing, as on GitHub).
    latest: dict[str, Review] = {}
    for review in forge.reviews(pull.number):
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[review.login.casefold()] = review
    blocking = sorted(r.login for r in latest.values() if r.state == "CHANGES_REQUESTED")
    if blocking:
        return Unmet(ReasonCode.NOT_APPROVED,
                     f"{_names(blocking)} requested changes to #{pull.number}; the request must "
                     "be resolved (a new approving review, or dismissed) before deploying")
    approvers = [r.login for r in latest.values() if r.state == "APPROVED"
                 and r.commit_id == pull.head_sha and r.login.casefold() != pull.author.casefold()]
    if any(_can_write(forge, login) for login in approvers):
        return None
    return Unmet(ReasonCode.NOT_APPROVED,
                 f"No one with write permission (other than its author) has approved the head "
                 f"{code(pull.head_sha[:12])} of #{pull.number}; an approval of an earlier "
                 "commit does not count")


def _can_write(forge: Forge, login: str) -> bool:
    try:
        return PERMISSION_RANK[forge.permission(login)] >= PERMISSION_RANK["write"]
    except Exception:  # an approval that cannot be checked does not count
        return False


def _checks(forge: Forge, environment: Environment, pull: PullRequest) -> Unmet | None:
    states: dict[str, list[str]] = {}  # check run name or status context -> its states
    for run in forge.check_runs(pull.head_sha):
        state = (run.conclusion or "") if run.status == "completed" else run.status
        states.setdefault(run.name, []).append(
            "success" if state in _GREEN_RUN else state or "unknown")
    for status in forge.commit_statuses(pull.head_sha):
        states.setdefault(status.context, []).append(status.state)
    wanted = environment.required_checks or sorted(states)
    failing = [(name, next((s for s in states.get(name, ["missing"]) if s != "success"), ""))
               for name in wanted]
    failing = [(name, state) for name, state in failing if state]
    if not failing:
        return None
    shown = ", ".join(f"{code(name)} ({state})" for name, state in failing[:_LISTED])
    more = f" and {len(failing) - _LISTED} more" if len(failing) > _LISTED else ""
    return Unmet(ReasonCode.CHECKS_NOT_GREEN,
                 f"Checks on the head {code(pull.head_sha[:12])} are not green: {shown}{more}; "
                 "wait for them to pass (or fix them), then comment again")


def _names(logins: list[str]) -> str:
    return ", ".join(code(login) for login in logins)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
