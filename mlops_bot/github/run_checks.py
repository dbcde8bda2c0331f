"""The push job's record of each pipeline on a commit, as a GitHub check run.

The push job (which holds the build identity) writes one check run `mlops-bot: <pipeline>` per
pipeline on the commit it pushed: a readable summary for reviewers on the pull request, and in
its text a machine-readable record (`RunCheck`) of the registry version the commit compiles to
and the successful run of that version, whichever commit produced it. The comment job, which
holds no cloud credentials, answers `/deploy` from these records alone.

Any workflow with `checks: write` can write a check run, so a record is untrusted: `parse_record`
checks every field's type, pattern and size (anything else is refused), and the deploy job
re-verifies the run against the cloud before it promotes anything.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_bot.report.markdown import link
from mlops_bot.report.tables import code, markdown_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlops_bot.github.forge import CheckConclusion, CheckRun

__all__ = ["CHECK_PREFIX", "SCHEMA_VERSION", "InvalidRecord", "RunCheck", "check_name",
           "conclusion_of", "parse_record", "read_run_checks", "render_check", "sanitized_metrics",
           "short_error", "web_url", "workflow_run_url"]

CHECK_PREFIX = "mlops-bot: "
SCHEMA_VERSION = 1
# running: started by a push that did not wait (`wait: false`); `mlops-bot status` completes it.
RUN_STATUSES = ("succeeded", "failed", "running", "not_run", "not_published", "unknown")
_MARK = "<!-- mlops-bot:run-record -->"
_BLOCK = re.compile(re.escape(_MARK) + r"\n```json\n(.*?)\n```", re.DOTALL)
_RECORD_LIMIT = 32_768  # characters of a record's JSON
_PIPELINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # as the comment grammar allows
_VERSION = re.compile(r"v-[0-9a-f]{16}")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SHA = re.compile(r"[0-9a-f]{40}")
_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/?#&=%+:@-]*)?")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,99}")  # a metric or parameter name
_MAX_ENTRIES = 100  # metrics or parameters of one record
_ERROR_LIMIT = 500


class InvalidRecord(Exception):
    """A check run whose record cannot be trusted as written; the message says why."""


@dataclass(frozen=True)
class RunCheck:
    pipeline: str
    recorded_on: str  # the commit the check run is on
    run_status: str  # one of RUN_STATUSES
    backend: str  # local or gcp
    version: str | None = None  # the registry version the commit compiles the pipeline to
    run_id: str | None = None  # a successful (or the failed) run of that version
    run_url: str | None = None
    produced_by: str | None = None  # the commit whose push ran it
    carried_from: str | None = None  # the earlier commit this record was copied from
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}


def check_name(pipeline: str) -> str:
    return f"{CHECK_PREFIX}{pipeline}"


def conclusion_of(record: RunCheck) -> CheckConclusion | None:
    """None: the run has not ended, the check run stays in_progress."""
    if record.run_status == "running":
        return None
    if record.run_status == "succeeded":
        return "success"
    return "failure" if record.run_status in ("failed", "not_published") else "neutral"


def workflow_run_url(environ: Mapping[str, str]) -> str | None:
    """The link to this workflow run, from the runner's variables."""
    server, repo, run = (environ.get(k) for k in
                         ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


# -- writing --------------------------------------------------------------------------------------
def render_check(record: RunCheck) -> tuple[str, str, str]:
    """The check run's title, summary (for people) and text (the record, for the comment job)."""
    text = (f"Read by mlops-bot's comment job for `/deploy`:\n\n{_MARK}\n```json\n"
            f"{json.dumps(record.to_dict(), sort_keys=True, indent=1)}\n```")
    return _title(record), _summary(record), text


def _title(record: RunCheck) -> str:
    at = f"{record.pipeline}@{record.version}" if record.version else record.pipeline
    if record.run_status == "succeeded":
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(record.metrics.items())[:3])
        return f"{at}: run succeeded" + (f" ({metrics})" if metrics else "")
    return {"failed": f"{at}: run failed", "running": f"{at}: running",
            "not_run": f"{at}: published, not run",
            "not_published": f"{record.pipeline}: not published",
            "unknown": f"{record.pipeline}: no record of a version"}.get(record.run_status, at)


def _summary(record: RunCheck) -> str:
    run = code(record.run_id) if record.run_id else "-"
    details = link("details", record.run_url) if record.run_id else ""
    if details:
        run += f" ({details})"
    rows = [["Pipeline", code(record.pipeline)],
            ["Registry version", code(record.version) if record.version else "-"],
            ["Run", run], ["Run status", record.run_status],
            ["Produced by commit", code(record.produced_by) if record.produced_by else "-"],
            ["Backend", record.backend]]
    lines = [markdown_table(["", ""], rows), ""]
    if record.carried_from:
        lines += [f"Nothing changed {code(record.pipeline)} since commit "
                  f"{code(record.carried_from[:12])}: its record holds for this commit.", ""]
    if record.metrics:
        lines += [markdown_table(["Metric", "Value"], [
            [code(k), f"{v:.4g}"] for k, v in sorted(record.metrics.items())]), ""]
    if record.error:
        lines += [f"Error: {code(record.error)}", ""]
    if record.run_status == "running":
        lines.append("The push started this run without waiting for it (`wait: false`): "
                     f"{code('mlops-bot status')} completes this check when the run ends.")
    if record.run_status == "succeeded":
        lines.append(f"Comment {code('/deploy <environment> ' + record.pipeline)} on the pull "
                     "request to deploy it.")
    return "\n".join(lines).rstrip() + "\n"


def sanitized_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The metrics a record may hold: finite numbers under plain names, at most 100."""
    kept = {str(k): float(v) for k, v in metrics.items()
            if _NAME.fullmatch(str(k)) and isinstance(v, int | float)
            and not isinstance(v, bool) and math.isfinite(v)}
    return dict(sorted(kept.items())[:_MAX_ENTRIES])


def web_url(url: str | None) -> str | None:
    """Only web links go into a record (a local run's folder is no use to a reviewer)."""
    return url if url and _URL.fullmatch(url) else None


def short_error(error: str | None) -> str | None:
    return None if not error else error.strip()[:_ERROR_LIMIT]


# -- reading --------------------------------------------------------------------------------------
def read_run_checks(checks: list[CheckRun], sha: str) -> dict[str, RunCheck | InvalidRecord]:
    """The records among a commit's check runs, by pipeline; an invalid one as its reason."""
    found: dict[str, RunCheck | InvalidRecord] = {}
    for check in checks:
        if not check.name.startswith(CHECK_PREFIX):
            continue
        pipeline = check.name[len(CHECK_PREFIX):]
        if not _PIPELINE.fullmatch(pipeline):
            continue  # not a name /deploy could ask for
        try:
            found[pipeline] = parse_record(check, pipeline, sha)
        except InvalidRecord as error:
            found[pipeline] = error
    return found


def parse_record(check: CheckRun, pipeline: str, sha: str) -> RunCheck:
    if check.head_sha != sha:
        raise InvalidRecord(f"the check run is on {check.head_sha[:12]!r}, not {sha[:12]}")
    match = _BLOCK.search(check.text or "")
    if match is None:
        raise InvalidRecord("its text holds no mlops-bot record")
    if len(match.group(1)) > _RECORD_LIMIT:
        raise InvalidRecord(f"its record is longer than {_RECORD_LIMIT} characters")
    try:
        data = json.loads(match.group(1))
    except ValueError as error:
        raise InvalidRecord(f"its record is not JSON ({error})") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise InvalidRecord(f"its record is not a schema_version {SCHEMA_VERSION} object")
    expected = {f for f in RunCheck.__dataclass_fields__} | {"schema_version"}
    if set(data) != expected:
        raise InvalidRecord(f"its record's fields are not {', '.join(sorted(expected))}")
    record = RunCheck(
        pipeline=_text(data, "pipeline", _PIPELINE), recorded_on=_text(data, "recorded_on", _SHA),
        run_status=_choice(data, "run_status", RUN_STATUSES),
        backend=_choice(data, "backend", ("local", "gcp")),
        version=_text(data, "version", _VERSION, optional=True),
        run_id=_text(data, "run_id", _RUN_ID, optional=True),
        run_url=_text(data, "run_url", _URL, optional=True),
        produced_by=_text(data, "produced_by", _SHA, optional=True),
        carried_from=_text(data, "carried_from", _SHA, optional=True),
        parameters=_parameters(data.get("parameters")), metrics=_metrics(data.get("metrics")),
        error=_error(data.get("error")))
    if (record.pipeline, record.recorded_on) != (pipeline, sha):
        raise InvalidRecord(f"its record is of {record.pipeline} at {record.recorded_on[:12]}, "
                            f"not of {pipeline} at {sha[:12]}")
    if record.run_status == "succeeded" and not (record.version and record.run_id
                                                 and record.produced_by):
        raise InvalidRecord("its record says succeeded without a version, run and commit")
    if record.run_status == "running" and not (record.version and record.run_id):
        raise InvalidRecord("its record says running without a version and run")
    return record


def _text(data: dict[str, Any], name: str, pattern: re.Pattern[str], *,
          optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidRecord(f"its record's {name} is not {'null or ' if optional else ''}"
                            f"a string matching {pattern.pattern}")
    return value


def _choice(data: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = data.get(name)
    if value not in allowed:
        raise InvalidRecord(f"its record's {name} is not one of {', '.join(allowed)}")
    return str(value)


def _metrics(value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or len(value) > _MAX_ENTRIES:
        raise InvalidRecord(f"its record's metrics are not an object of at most {_MAX_ENTRIES}")
    for name, number in value.items():
        if (not _NAME.fullmatch(name) or isinstance(number, bool)
                or not isinstance(number, int | float) or not math.isfinite(number)):
            raise InvalidRecord(f"its record's metric {name[:40]!r} is not a finite number "
                                "under a plain name")
    return {k: float(v) for k, v in value.items()}


def _parameters(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or len(value) > _MAX_ENTRIES or not all(
            _NAME.fullmatch(k) for k in value):
        raise InvalidRecord(f"its record's parameters are not an object of at most "
                            f"{_MAX_ENTRIES} plain names")
    return value


def _error(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _ERROR_LIMIT:
        raise InvalidRecord(f"its record's error is not null or a string of at most "
                            f"{_ERROR_LIMIT} characters")
    return value
