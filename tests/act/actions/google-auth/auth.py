"""The google-github-actions/auth stand-in (Workload Identity Federation), run by action.yml.

GitHub would hand the job an OIDC token; act issues none, so this builds the claims GitHub puts in
it from the job's context, exchanges them at the fake STS (MLOPS_ACT_GOOGLE_STS) for the requested
service account, and fails the step when the provider's condition or the account's binding refuses
them, as the real action's exchange fails. On success it writes an `external_account` credentials
file, which google-auth in later steps (the mlops-bot action's container) exchanges again.
Standard library only: it runs on the runner image's Python.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def claims(env: dict[str, str], audience: str) -> dict[str, str]:
    """The claims of the job's GitHub OIDC token, as GitHub documents them."""
    repository, ref, event = env["GITHUB_REPOSITORY"], env["GITHUB_REF"], env["GITHUB_EVENT_NAME"]
    # act knows no `environment:` of a job: the harness names it per job, read from the workflow.
    environment = json.loads(env.get("MLOPS_ACT_OIDC_ENVIRONMENTS") or "{}").get(env["GITHUB_JOB"])
    if environment:
        subject = f"repo:{repository}:environment:{environment}"
    elif event in ("pull_request", "pull_request_target"):
        subject = f"repo:{repository}:pull_request"
    else:
        subject = f"repo:{repository}:ref:{ref}"
    workflow_ref = env.get("GITHUB_WORKFLOW_REF", "")
    found = {
        "iss": "https://token.actions.githubusercontent.com", "aud": audience, "sub": subject,
        "repository": repository, "repository_owner": env["GITHUB_REPOSITORY_OWNER"],
        "ref": ref, "ref_type": env.get("GITHUB_REF_TYPE", ""), "sha": env["GITHUB_SHA"],
        "event_name": event, "actor": env["GITHUB_ACTOR"], "workflow": env["GITHUB_WORKFLOW"],
        "workflow_ref": workflow_ref, "job_workflow_ref": workflow_ref,
        "run_id": env["GITHUB_RUN_ID"], "run_attempt": env.get("GITHUB_RUN_ATTEMPT", "1"),
        "runner_environment": "github-hosted",
    }
    if environment:
        found["environment"] = environment
    return found


def unsigned_jwt(payload: dict[str, str]) -> str:
    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def post(url: str, data: bytes, headers: dict[str, str]) -> dict[str, str]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            answer: dict[str, str] = json.load(reply)
            return answer
    except urllib.error.HTTPError as error:
        raise SystemExit(f"::error::google-github-actions/auth failed with: {url} answered "
                         f"{error.code}: {error.read().decode(errors='replace')}") from None


def exchange(sts: str, provider: str, account: str, token: str) -> None:
    """What google-auth does with the file below, done once here so a refusal fails this step."""
    federated = post(f"{sts}/v1/token", urllib.parse.urlencode({
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "audience": f"//iam.googleapis.com/{provider}", "scope": SCOPE,
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "subject_token": token, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    }).encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    post(f"{sts}/v1/projects/-/serviceAccounts/{account}:generateAccessToken",
         json.dumps({"scope": [SCOPE], "lifetime": "3600s"}).encode(),
         {"Content-Type": "application/json",
          "Authorization": f"Bearer {federated['access_token']}"})


def main() -> int:
    env = dict(os.environ)
    sts = env.get("MLOPS_ACT_GOOGLE_STS") or sys.exit(
        "::error::MLOPS_ACT_GOOGLE_STS is not set: run this workflow through tests/support/act.py")
    provider, account = env["AUTH_PROVIDER"], env["AUTH_SERVICE_ACCOUNT"]
    token = unsigned_jwt(claims(env, env.get("AUTH_AUDIENCE")
                                or f"https://iam.googleapis.com/{provider}"))
    exchange(sts, provider, account, token)

    # In the workspace, as the real action writes it: the action's container sees only that.
    workspace, name = Path(env["GITHUB_WORKSPACE"]), f"gha-creds-{secrets.token_hex(8)}"
    (workspace / f"{name}.jwt").write_text(token)
    credentials = workspace / f"{name}.json"
    credentials.write_text(json.dumps({
        "type": "external_account", "audience": f"//iam.googleapis.com/{provider}",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{sts}/v1/token",
        "service_account_impersonation_url":
            f"{sts}/v1/projects/-/serviceAccounts/{account}:generateAccessToken",
        "credential_source": {"file": str(workspace / f"{name}.jwt")},
    }))
    project = env.get("AUTH_PROJECT_ID") or account.split("@", 1)[1].split(".", 1)[0]
    with open(env["GITHUB_ENV"], "a") as exported:
        for variable in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
                         "GOOGLE_GHA_CREDS_PATH"):
            exported.write(f"{variable}={credentials}\n")
        for variable in ("CLOUDSDK_CORE_PROJECT", "CLOUDSDK_PROJECT", "GCLOUD_PROJECT",
                         "GCP_PROJECT", "GOOGLE_CLOUD_PROJECT"):
            exported.write(f"{variable}={project}\n")
    with open(env["GITHUB_OUTPUT"], "a") as outputs:
        outputs.write(f"project_id={project}\ncredentials_file_path={credentials}\n")
    print(f"Authenticated as {account} (Workload Identity Federation, fake STS)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
