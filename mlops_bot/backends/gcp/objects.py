"""Objects in one bucket, read and written with generation preconditions, errors translated.

The registry and the lock store both need create-only writes (`if_generation_match=0`),
compare-and-swap (`if_generation_match=<generation>`) and reads that return the generation, and
both must turn Google API errors into sentences naming the bucket, the setting, and for a 403
the permission and which of mlops-bot's identities holds it there (api_errors.denied_sentence).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from mlops_bot.backends.gcp.api_errors import Refusal, denied_sentence, message_of
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["BucketObjects"]

# The permission each kind of call needs, for a 403 that does not name it.
_NEEDS = {"read": "storage.objects.get", "write": "storage.objects.create",
          "delete": "storage.objects.delete", "list": "storage.objects.list"}


class BucketObjects:
    def __init__(self, clients: GcpClients, bucket_name: str, purpose: str, setting: str,
                 note: str = "") -> None:
        self._clients = clients
        self.bucket_name = bucket_name
        self.purpose = purpose  # "the registry bucket", for messages
        self.setting = setting  # the mlops.yaml key naming the bucket, for messages
        self.note = note  # what else a 403 should say here

    @cached_property
    def bucket(self) -> Bucket:
        return self._clients.storage.bucket(self.bucket_name)  # no request is made here

    def url(self, name: str = "") -> str:
        return f"gs://{self.bucket_name}/{name}"

    def delete_if(self, name: str, generation: int) -> bool:
        """Delete if the object is still at `generation`; False on a 412 or when it is gone."""
        with self.translated("delete", name):
            try:
                self.bucket.blob(name).delete(if_generation_match=generation)
            except (gexc.PreconditionFailed, gexc.NotFound):
                return False
        return True

    def exists(self, name: str) -> bool:
        with self.translated("read", name):
            return self.bucket.get_blob(name) is not None

    def read(self, name: str) -> bytes | None:
        return self.read_with_generation(name)[1]

    def read_with_generation(self, name: str) -> tuple[int, bytes | None]:
        """The object's bytes and the generation they belong to; (0, None) when absent."""
        blob = self.bucket.blob(name)
        with self.translated("read", name):
            try:
                data: bytes = blob.download_as_bytes()
            except gexc.NotFound:
                return 0, None
        # The client reads the generation from the same response (X-Goog-Generation).
        return int(blob.generation or 0), data

    def write_if(self, name: str, data: bytes, content_type: str, generation: int = 0) -> bool:
        """Write if the object is still at `generation` (0: absent); False on a 412."""
        with self.translated("write", name):
            try:
                self.bucket.blob(name).upload_from_string(
                    data, content_type=content_type, if_generation_match=generation)
            except gexc.PreconditionFailed:
                return False
        return True

    def names(self, prefix: str, limit: int | None = None) -> list[str]:
        with self.translated("list", prefix):
            return [blob.name for blob in
                    self.bucket.list_blobs(prefix=prefix, max_results=limit)]

    def prefixes(self, prefix: str) -> list[str]:
        """The names of the "folders" directly below `prefix`."""
        with self.translated("list", prefix):
            pages = self.bucket.list_blobs(prefix=prefix, delimiter="/")
            for _ in pages:  # prefixes are filled in while the pages are read
                pass
            return sorted(p[len(prefix):].rstrip("/") for p in pages.prefixes)

    @contextlib.contextmanager
    def translated(self, doing: str, name: str) -> Iterator[None]:
        try:
            yield
        except gexc.Forbidden as error:
            c = self._clients.config
            # Which grants apply: the staging bucket is the registry bucket when unset.
            buckets = tuple(kind for kind, named in (
                ("registry_bucket", c.registry_bucket),
                ("staging_bucket", c.staging_bucket or c.registry_bucket))
                if named == self.bucket_name)
            raise UserError(denied_sentence(
                f"{doing} {self.url(name)}", error, c, refusal=Refusal(
                    needs=_NEEDS.get(doing), buckets=buckets or ("other",),
                    object_name=name if doing != "list" else None, note=self.note))
            ) from error
        except gexc.NotFound as error:
            # Reads turn a missing object into None before this; what is left is the bucket.
            raise UserError(
                f"{self.purpose} gs://{self.bucket_name} does not exist "
                f"({message_of(error)}): create it, or fix "
                f"{self.setting} in mlops.yaml"
            ) from error
