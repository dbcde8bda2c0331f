"""Vertex AI PipelineJobSchedules (GAPIC `ScheduleServiceClient`, REST) for `schedules sync`.

Schedules carry no labels, so mlops-bot marks its own twice: the display name is
`mlops-bot-<schedule name>` and the PipelineJob each one starts carries the label
`mlops_bot_schedule: <schedule name>` (with `mlops_bot`, `pipeline`, `version`, `git_sha` and
`trigger: schedule`, like every job mlops-bot starts). Only a schedule marked both ways is ever
changed or deleted; a schedule someone made by hand with a look-alike name is left alone.

Vertex cannot follow a registry tag: each schedule holds the compiled spec of one pinned version,
and `schedules sync` moves it when the tag moves. The cron is sent with a `TZ=<zone>` prefix.
`create_schedule` answers with the Schedule itself (not an operation); `delete_schedule` is a
long-running operation, polled until done.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import yaml
from google.api_core import exceptions as gexc

from mlops_bot.backends.gcp.api_errors import Refusal, denied_sentence, label_value, message_of
from mlops_bot.backends.schedule_types import (
    RemoteSchedule,
    ScheduleListing,
    ScheduleService,
    ScheduleSpec,
)
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import PipelineJob, Schedule

    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["DISPLAY_PREFIX", "SCHEDULE_LABEL", "VertexSchedules"]

DISPLAY_PREFIX = "mlops-bot-"
SCHEDULE_LABEL = "mlops_bot_schedule"
_TZ = re.compile(r"^(?:CRON_TZ|TZ)=(?P<zone>\S+)\s+(?P<cron>.+)$")
_UPDATED_FIELDS = ["cron", "create_pipeline_job_request"]
_NAME = re.compile(r"^projects/[^/]+/locations/(?P<region>[^/]+)/schedules/[^/]+$")


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text: a Struct holds no datetimes."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: node.value)


class VertexSchedules:
    def __init__(self, clients: GcpClients, *, request_timeout: float = 60.0,
                 delete_timeout: float = 300.0) -> None:
        self._clients = clients
        self._config = clients.config
        self._parent = f"projects/{self._config.project}/locations/{self._config.region}"
        self._timeout, self._delete_timeout = request_timeout, delete_timeout

    def listing(self) -> ScheduleListing:
        owned, foreign = [], []
        with self._translated("list schedules", "list"):
            for schedule in self._clients.schedules.list_schedules(parent=self._parent,
                                                                   timeout=self._timeout):
                remote = _remote(schedule)
                if remote is None:
                    foreign.append(schedule.display_name or schedule.name)
                else:
                    owned.append(remote)
        return ScheduleListing(tuple(sorted(owned, key=lambda s: s.name)), tuple(foreign))

    def create(self, desired: ScheduleSpec) -> RemoteSchedule:
        # Not retried: Vertex names the schedule itself, so a retry of a create whose answer
        # was lost would make a second one; the next sync sees the first and updates it.
        with self._translated(f"create schedule {desired.name}", "create"):
            created = self._clients.schedules.create_schedule(
                parent=self._parent, schedule=self._schedule(desired), timeout=self._timeout)
        remote = _remote(created)
        if remote is None:
            raise UserError(f"Vertex AI created schedule {created.name} without the marks "
                            "mlops-bot gave it; delete it by hand and sync again")
        if desired.paused:
            self.set_paused(remote, True)
        return remote

    def update(self, current: RemoteSchedule, desired: ScheduleSpec) -> RemoteSchedule:
        from google.protobuf import field_mask_pb2

        self._check_owned(current)
        schedule = self._schedule(desired)
        schedule.name = current.resource_name
        with self._translated(f"update schedule {current.name}", "update"):
            updated = self._clients.schedules.update_schedule(
                schedule=schedule, update_mask=field_mask_pb2.FieldMask(paths=_UPDATED_FIELDS),
                timeout=self._timeout)
        return _remote(updated) or current

    def set_paused(self, current: RemoteSchedule, paused: bool) -> None:
        self._check_owned(current)
        client = self._clients.schedules
        change = client.pause_schedule if paused else client.resume_schedule
        verb = "pause" if paused else "resume"
        with self._translated(f"{verb} schedule {current.name}", verb):
            change(name=current.resource_name, timeout=self._timeout)

    def delete(self, current: RemoteSchedule) -> None:
        self._check_owned(current)
        with self._translated(f"delete schedule {current.name}", "delete"):
            try:
                operation: Any = self._clients.schedules.delete_schedule(
                    name=current.resource_name, timeout=self._timeout)
            except gexc.NotFound:
                return  # already gone: what was wanted
            operation.result(timeout=self._delete_timeout)

    # -- the Schedule mlops-bot wants --------------------------------------------------------
    def _schedule(self, desired: ScheduleSpec) -> Schedule:
        from google.cloud import aiplatform_v1 as v1

        return v1.Schedule(
            display_name=DISPLAY_PREFIX + desired.name,
            cron=f"TZ={desired.timezone} {desired.cron}",
            create_pipeline_job_request=v1.CreatePipelineJobRequest(
                parent=self._parent, pipeline_job=self._job(desired)),
            # One run at a time: a run that overruns its window must not pile up behind it.
            max_concurrent_run_count=1, allow_queueing=False)

    def _job(self, desired: ScheduleSpec) -> PipelineJob:
        from google.cloud import aiplatform_v1 as v1

        c = self._config
        labels = {"mlops_bot": "true", SCHEDULE_LABEL: desired.name, "trigger": "schedule",
                  "pipeline": label_value(desired.pipeline),
                  "version": label_value(desired.version), "git_sha": label_value(desired.git_sha)}
        return v1.PipelineJob(
            display_name=desired.pipeline[:128], pipeline_spec=_pipeline_spec(desired),
            labels=labels,
            runtime_config=v1.PipelineJob.RuntimeConfig(
                gcs_output_directory=c.pipeline_root or f"gs://{c.registry_bucket}/runs",
                parameter_values=desired.parameters),
            service_account=c.service_account or "", network=c.network or "",
            encryption_spec=(v1.EncryptionSpec(kms_key_name=c.encryption_key)
                             if c.encryption_key else None))

    def _check_owned(self, current: RemoteSchedule) -> None:
        # The flow only passes what `listing` found as ours; this keeps it that way. (Vertex
        # names resources with the project number, so only the region is compared.)
        match = _NAME.match(current.resource_name)
        if match is None or match.group("region") != self._config.region:
            raise ValueError(f"{current.resource_name} is not a schedule of {self._parent}")

    @contextlib.contextmanager
    def _translated(self, doing: str, verb: str) -> Iterator[None]:
        """`verb`: the aiplatform.schedules permission the call needs (list, create...)."""
        try:
            yield
        except gexc.Forbidden as error:
            # By design no workflow identity manages schedules (identities.py): say who may.
            note = ("no workflow identity holds aiplatform.schedules.*, so `mlops-bot "
                    "schedules sync` needs a maintainer's credentials: run it locally after "
                    "`gcloud auth application-default login`, as someone who holds "
                    f"aiplatform.schedules.* on project {self._config.project}")
            raise UserError(denied_sentence(doing, error, self._config, " in Vertex AI", Refusal(
                needs=f"aiplatform.schedules.{verb}", note=note))) from error
        except gexc.Unauthenticated as error:
            raise UserError(f"could not {doing}: not authenticated ({message_of(error)}); on "
                            "GitHub run google-github-actions/auth first, locally run `gcloud "
                            "auth application-default login`") from error
        except (gexc.GoogleAPICallError, gexc.RetryError, OSError) as error:
            raise UserError(f"could not {doing} in Vertex AI ({self._parent}): "
                            f"{message_of(error)}; run `mlops-bot schedules sync` again (it "
                            "picks up where this stopped)") from error


def _remote(schedule: Schedule) -> RemoteSchedule | None:
    """The schedule as mlops-bot's, or None when it does not carry both of mlops-bot's marks."""
    from google.cloud.aiplatform_v1 import Schedule as ScheduleType

    name = (schedule.display_name or "").removeprefix(DISPLAY_PREFIX)
    job = schedule.create_pipeline_job_request.pipeline_job
    if (not schedule.display_name.startswith(DISPLAY_PREFIX)
            or job.labels.get(SCHEDULE_LABEL) != name):
        return None
    data = ScheduleType.to_dict(schedule, use_integers_for_enums=False)
    runtime = ((data.get("create_pipeline_job_request") or {}).get("pipeline_job") or {}).get(
        "runtime_config") or {}
    match = _TZ.match(schedule.cron.strip())
    zone, cron = (match.group("zone"), match.group("cron")) if match else ("UTC", schedule.cron)
    next_run = data.get("next_run_time") or None
    return RemoteSchedule(
        name=name, resource_name=schedule.name, pipeline=job.display_name,
        version=job.labels.get("version", ""), cron=" ".join(cron.split()), timezone=zone,
        parameters={k: _number(v) for k, v in (runtime.get("parameter_values") or {}).items()},
        paused=schedule.state == ScheduleType.State.PAUSED,
        next_run_time=str(next_run) if next_run else None)


def _pipeline_spec(desired: ScheduleSpec) -> dict[str, Any]:
    documents = [d for d in yaml.load_all(desired.spec, Loader=_Loader) if d is not None]
    # The compiler writes the platform config as a second document, which Vertex does not take.
    spec = documents[0] if documents else None
    if not isinstance(spec, dict) or "root" not in spec:
        raise UserError(f"{desired.pipeline}@{desired.version} has no KFP pipeline spec in its "
                        "pipeline.yaml; see mlops-bot registry show")
    return spec


def _number(value: Any) -> Any:
    """Protobuf Values hold every number as a double: 5 comes back as 5.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value




if TYPE_CHECKING:
    # mypy checks VertexSchedules against the ScheduleService Protocol here.
    def _satisfies_the_protocol(service: VertexSchedules) -> ScheduleService:
        return service
