"""`mlops-bot init` as text: the files written and the next steps to a working set-up."""

from __future__ import annotations

from mlops_bot import __version__

__all__ = ["init_text"]


def init_text(written: list[str], action_ref: str | None, placeholder: str) -> str:
    """What init wrote, then the next steps (pinning the action first, when it is unpinned)."""
    lines = ["Wrote:", *(f"  {path}" for path in written), "", "Next steps:"]
    if action_ref is None:
        lines.append("  - Pin the action: the workflows use the placeholder "
                     f"{placeholder}, which fails at the first run. Run again with "
                     "--force --action-ref OWNER/REPO@SHA (the full commit SHA of the mlops-bot "
                     f"v{__version__} release, whose action these workflows are written for), "
                     "or edit their `uses:` lines.")
    lines += [
        "  - Try it here: `mlops-bot config check`, then commit and `mlops-bot push` "
        "(local backend, no cloud account).",
        "  - Google Cloud: fill in the gcp: section of mlops.yaml, set backend: gcp, then run "
        "`mlops-bot bootstrap --github-repository OWNER/REPO`: it creates the registry bucket "
        "and image repositories and prints the two identities (build for push and retrain, "
        "deploy for the approved deploy jobs only), their roles and the Workload Identity "
        "Federation set-up.",
        "  - Create a GitHub environment for each environment of mlops.yaml (staging) with "
        "required reviewers (Settings > Environments): the deploy job waits for their approval.",
        "  - Set the variables bootstrap printed (Settings > Secrets and variables > Actions > "
        "Variables): GCP_WORKLOAD_IDENTITY_PROVIDER and GCP_BUILD_SERVICE_ACCOUNT for the "
        "repository, GCP_DEPLOY_SERVICE_ACCOUNT in each environment only; the workflows "
        "authenticate with them, without any key.",
        "  - Commit mlops.yaml and .github/workflows/, and push.",
    ]
    return "\n".join(lines)
