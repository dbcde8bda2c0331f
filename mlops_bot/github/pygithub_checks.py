"""Check runs on a commit: the bot's own results, and reading every app's latest ones."""

from __future__ import annotations

from mlops_bot.github.forge import CheckConclusion, CheckRun
from mlops_bot.github.pygithub_client import FULL_SHA, GithubClient, cut

__all__ = ["CHECK_OUTPUT_LIMIT", "check_runs", "complete_check_run", "create_check_run"]

CHECK_OUTPUT_LIMIT = 65535  # GitHub refuses a longer check run summary or text (422)
_CHECK_RUNS_READ = 1000  # check runs read of one commit: ten pages


def create_check_run(client: GithubClient, sha: str, name: str,
                     conclusion: CheckConclusion | None, title: str, summary: str, text: str,
                     details_url: str | None = None) -> int:
    if not FULL_SHA.fullmatch(sha):
        raise ValueError(f"a check run names a full commit SHA, not {sha!r}")
    from github.GithubObject import NotSet

    with client.calling(f"create the check run {name!r} on {sha[:12]}", "checks: write"):
        run = client.repo().create_check_run(
            name=name, head_sha=sha, status="completed" if conclusion else "in_progress",
            conclusion=conclusion or NotSet, output=_output(title, summary, text),
            details_url=details_url or NotSet)
        return int(run.id)


def complete_check_run(client: GithubClient, check_id: int, conclusion: CheckConclusion,
                       title: str, summary: str, text: str) -> None:
    with client.calling(f"complete the check run {check_id}", "checks: write"):
        client.repo().get_check_run(check_id).edit(
            status="completed", conclusion=conclusion, output=_output(title, summary, text))


def _output(title: str, summary: str, text: str) -> dict[str, str | list[dict[str, str | int]]]:
    return {"title": cut(title, 1000), "summary": cut(summary, CHECK_OUTPUT_LIMIT),
            "text": cut(text, CHECK_OUTPUT_LIMIT)}


def check_runs(client: GithubClient, sha: str) -> list[CheckRun]:
    if not FULL_SHA.fullmatch(sha):
        raise ValueError(f"check runs are read of a full commit SHA, not {sha!r}")
    found: list[CheckRun] = []
    with client.calling(f"list the check runs of {sha[:12]}", "checks: read"):
        for run in client.repo().get_commit(sha).get_check_runs(filter="latest"):
            output = run.output
            found.append(CheckRun(
                id=int(run.id), name=str(run.name), head_sha=str(run.head_sha),
                status=str(run.status), conclusion=run.conclusion,
                title=str(output.title or "") if output else "",
                summary=str(output.summary or "") if output else "",
                text=str(output.text or "") if output else "",
                details_url=run.details_url, html_url=run.html_url,
                app=str(run.app.slug) if run.app is not None else ""))
            if len(found) >= _CHECK_RUNS_READ:
                break
    return found
