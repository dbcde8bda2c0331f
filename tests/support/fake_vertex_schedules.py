"""A fake Vertex AI schedules REST API, for the real `aiplatform_v1.ScheduleServiceClient`.

    with FakeVertexSchedules() as vertex:
        config = GcpConfig(..., api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint))
        vertex.seed("nightly-export", cron="0 1 * * *")    # someone else's schedule
        ...
        [schedule] = vertex.schedules.values()

Routes, as the client transcodes them (aiplatform_v1/services/schedule_service/transports/
rest_base.py):
    POST   /v1/projects/{p}/locations/{r}/schedules                 create -> Schedule
    GET    /v1/projects/{p}/locations/{r}/schedules?pageSize&pageToken   list
    GET    /v1/projects/{p}/locations/{r}/schedules/{id}            get
    PATCH  /v1/projects/{p}/locations/{r}/schedules/{id}?updateMask=a,b   update -> Schedule
    POST   /v1/projects/{p}/locations/{r}/schedules/{id}:pause      -> Empty
    POST   /v1/projects/{p}/locations/{r}/schedules/{id}:resume     -> Empty
    DELETE /v1/projects/{p}/locations/{r}/schedules/{id}            -> Operation (not done)
    GET    /ui/projects/{p}/locations/{r}/schedules/{id}/operations/{op}   the operation, polled
Like the service: names carry the project number; create answers the Schedule itself, ACTIVE;
a schedule without displayName, cron (an optional `TZ=`/`CRON_TZ=` zone, then five fields),
maxConcurrentRunCount or a pipeline job answers 400; pausing a paused schedule or resuming an
active one answers 400 (FAILED_PRECONDITION's HTTP status); the delete operation is done from its
first poll and its `response` is an Empty with its `@type`.

Faults per route name (create_schedule, list_schedules, get_schedule, update_schedule,
pause_schedule, resume_schedule, delete_schedule, get_operation): `fail()` / `stall()`.
"""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mlops_bot.cron import CronError, parse_cron
from tests.support.fake_gcp_http import JsonApiServer, Reply

__all__ = ["PROJECT_NUMBER", "FakeVertexSchedules"]

PROJECT_NUMBER = "123456789012"
_PARENT = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/schedules"
_ONE = _PARENT + r"/(?P<id>[^/:]+)"
_ROUTES = [
    ("POST", re.compile(_PARENT), "create_schedule"),
    ("GET", re.compile(_PARENT), "list_schedules"),
    ("GET", re.compile(_ONE), "get_schedule"),
    ("PATCH", re.compile(_ONE), "update_schedule"),
    ("POST", re.compile(_ONE + ":pause"), "pause_schedule"),
    ("POST", re.compile(_ONE + ":resume"), "resume_schedule"),
    ("DELETE", re.compile(_ONE), "delete_schedule"),
    ("GET", re.compile(r"/ui/(?P<op>projects/[^/]+/locations/[^/]+/schedules/[^/]+/operations/"
                       r"[^/]+)"), "get_operation"),
]
_TZ = re.compile(r"^(?:CRON_TZ|TZ)=(?P<zone>\S+)\s+(?P<cron>.+)$")
_UPDATABLE = {"displayName", "cron", "createPipelineJobRequest", "maxConcurrentRunCount",
              "allowQueueing", "maxRunCount", "startTime", "endTime"}
_NOW = "2026-01-01T00:00:00Z"
_EMPTY = "type.googleapis.com/google.protobuf.Empty"


class FakeVertexSchedules(JsonApiServer):
    routes = _ROUTES
    discovery = ("aiplatform.v1",)  # held to Google's API: tests.support.discovery

    def __init__(self, page_size: int = 2) -> None:
        super().__init__()
        self.page_size = page_size  # small, so listing must follow nextPageToken
        self.schedules: dict[str, dict[str, Any]] = {}  # id -> Schedule JSON, creation order
        self.operations: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    # -- set-up ----------------------------------------------------------------------------
    def seed(self, display_name: str, cron: str = "0 1 * * *", labels: dict[str, str] | None = None,
             region: str = "europe-west4") -> dict[str, Any]:
        """A schedule made outside mlops-bot (by hand, another tool)."""
        body = {"displayName": display_name, "cron": cron, "maxConcurrentRunCount": "1",
                "createPipelineJobRequest": {
                    "parent": f"projects/{PROJECT_NUMBER}/locations/{region}",
                    "pipelineJob": {"displayName": "other", "labels": labels or {},
                                    "pipelineSpec": {"root": {}}}}}
        return self.create_schedule({"region": region}, {}, body)

    def by_display_name(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {s["displayName"]: copy.deepcopy(s) for s in self.schedules.values()}

    # -- routes ----------------------------------------------------------------------------
    def create_schedule(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        self._check(body)
        with self._lock:
            schedule_id = str(next(self._ids))
            name = f"projects/{PROJECT_NUMBER}/locations/{m['region']}/schedules/{schedule_id}"
            resource = {**copy.deepcopy(body), "name": name, "state": "ACTIVE",
                        "createTime": _NOW, "updateTime": _NOW, "nextRunTime": _NOW,
                        "startedRunCount": "0"}
            resource.pop("catchUp", None)
            self.schedules[schedule_id] = resource
            return copy.deepcopy(resource)

    def list_schedules(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            found = [copy.deepcopy(s) for s in self.schedules.values()
                     if f"/locations/{m['region']}/" in s["name"]]
        size = min(int(query.get("pageSize") or self.page_size), self.page_size)
        start = int(query.get("pageToken") or 0)
        reply: dict[str, Any] = {"schedules": found[start:start + size]}
        if start + size < len(found):
            reply["nextPageToken"] = str(start + size)
        return reply

    def get_schedule(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return copy.deepcopy(self._find(m["id"]))

    def update_schedule(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        mask = [p for p in (query.get("updateMask") or "").split(",") if p]
        unknown = [p for p in mask if _camel(p) not in _UPDATABLE]
        if not mask or unknown:
            raise Reply(400, f"updateMask must name updatable fields, got {mask}")
        with self._lock:
            schedule = self._find(m["id"])
            merged = {**schedule, **{_camel(p): copy.deepcopy(body.get(_camel(p)))
                                     for p in mask}}
            self._check(merged)
            schedule.clear()
            schedule.update(merged, updateTime=_NOW)
            return copy.deepcopy(schedule)

    def pause_schedule(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return self._set_state(m["id"], "ACTIVE", "PAUSED")

    def resume_schedule(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return self._set_state(m["id"], "PAUSED", "ACTIVE")

    def delete_schedule(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            schedule = self._find(m["id"])
            del self.schedules[m["id"]]
            operation = {"name": f"{schedule['name']}/operations/{next(self._ids)}",
                         "done": False, "metadata": {
                             "@type": "type.googleapis.com/google.cloud.aiplatform.v1."
                                      "DeleteOperationMetadata",
                             "genericMetadata": {"createTime": _NOW, "updateTime": _NOW}}}
            self.operations[operation["name"]] = operation
            return copy.deepcopy(operation)

    def get_operation(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            operation = self.operations.get(m["op"])
            if operation is None:
                raise Reply(404, f"operation {m['op']} not found")
            operation.update(done=True, response={"@type": _EMPTY})
            return copy.deepcopy(operation)

    # -- helpers ---------------------------------------------------------------------------
    def _find(self, schedule_id: str) -> dict[str, Any]:
        with self._lock:
            if schedule_id not in self.schedules:
                raise Reply(404, f"Schedule {schedule_id} not found.")
            return self.schedules[schedule_id]

    def _set_state(self, schedule_id: str, wanted: str, new: str) -> Any:
        with self._lock:
            schedule = self._find(schedule_id)
            if schedule["state"] != wanted:
                raise Reply(400, f"Schedule {schedule['name']} is {schedule['state']}, not "
                                 f"{wanted}.")
            schedule["state"] = new
            return {}

    @staticmethod
    def _check(body: dict[str, Any]) -> None:
        if not body.get("displayName"):
            raise Reply(400, "Schedule.display_name is required.")
        if int(body.get("maxConcurrentRunCount") or 0) < 1:
            raise Reply(400, "Schedule.max_concurrent_run_count must be positive.")
        cron = str(body.get("cron") or "")
        match = _TZ.match(cron)
        try:
            if match:
                ZoneInfo(match.group("zone"))
            parse_cron(match.group("cron") if match else cron)
        except (CronError, ZoneInfoNotFoundError, ValueError) as error:
            raise Reply(400, f"Invalid cron {cron!r}: {error}") from None
        job = (body.get("createPipelineJobRequest") or {}).get("pipelineJob") or {}
        if not (body.get("createPipelineJobRequest") or {}).get("parent") or not job.get(
                "pipelineSpec"):
            raise Reply(400, "Schedule.create_pipeline_job_request needs a parent and a "
                             "pipeline_job with a pipeline_spec.")


def _camel(path: str) -> str:
    head, *rest = path.split("_")
    return head + "".join(part.title() for part in rest)
