"""Fetching a model from Cloud Storage for the serving container.

Vertex AI starts a custom container with `AIP_STORAGE_URI` set to a gs:// copy of the model's
artifact folder; the container must bring the files in itself. They are copied into a local
folder once, before the server listens, so a request never waits on Cloud Storage.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from mlops_bot.serving.model_forms import MODEL_SUFFIXES
from mlops_bot.serving.state import StateError

if TYPE_CHECKING:
    from google.cloud.storage import Client

__all__ = ["DEADLINE_SECONDS", "MAX_FILES", "download_model"]

# A model folder holds a model file and its metadata; far more objects means the URI names the
# wrong prefix (a bucket root, a whole run), which should fail fast rather than copy it all.
MAX_FILES = 200
# How long each call keeps retrying a Cloud Storage that does not answer: then the container
# exits with a sentence rather than a traceback (Vertex restarts it and reports the deploy).
DEADLINE_SECONDS = 120.0


def download_model(uri: str, into: Path, client: Client | None = None,
                   deadline: float = DEADLINE_SECONDS) -> Path:
    """Copy the object or folder at `uri` (gs://bucket/path) under `into`; returns the local path
    that stands for `uri` (a file, or the folder holding the copied objects)."""
    from google.api_core import exceptions as gexc
    from google.cloud.storage.retry import DEFAULT_RETRY

    retry = DEFAULT_RETRY.with_timeout(deadline)

    bucket_name, _, prefix = uri.removeprefix("gs://").partition("/")
    if not uri.startswith("gs://") or not bucket_name:
        raise StateError(f"AIP_STORAGE_URI={uri} is not a gs://bucket/path URI")
    storage = client or _client()
    bucket = storage.bucket(bucket_name)
    folder = prefix.rstrip("/")
    try:
        blobs = [b for b in storage.list_blobs(bucket, prefix=f"{folder}/" if folder else "",
                                               max_results=MAX_FILES + 1, retry=retry)
                 if not b.name.endswith("/")]
        if not blobs and folder:  # the URI names one object (maybe saved with a suffix)
            for name in (folder, *(folder + suffix for suffix in MODEL_SUFFIXES)):
                single = bucket.blob(name)
                if single.exists(retry=retry):
                    target = into / PurePosixPath(name).name
                    single.download_to_filename(str(target), retry=retry)
                    return target
        if not blobs:
            raise StateError(f"AIP_STORAGE_URI={uri}: no objects there; the model was not "
                             "uploaded, or the URI names the wrong folder")
        if len(blobs) > MAX_FILES:
            raise StateError(f"AIP_STORAGE_URI={uri} holds more than {MAX_FILES} objects: point "
                             "it at the model's own folder")
        for blob in blobs:
            relative = PurePosixPath(blob.name[len(folder) + 1 if folder else 0:])
            if ".." in relative.parts or relative.is_absolute():
                raise StateError(f"AIP_STORAGE_URI={uri}: object name {blob.name!r} escapes "
                                 "the model folder")
            target = into.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target), retry=retry)
    except gexc.Forbidden as error:
        raise StateError(f"AIP_STORAGE_URI={uri}: access denied ({error.message}); the serving "
                         "service account needs roles/storage.objectViewer on "
                         f"gs://{bucket_name}") from None
    except gexc.GoogleAPICallError as error:
        raise StateError(f"AIP_STORAGE_URI={uri}: cannot read it: {error}") from None
    except gexc.RetryError as error:
        raise StateError(f"AIP_STORAGE_URI={uri}: Cloud Storage did not answer within "
                         f"{deadline:.0f} s ({error.cause or error}); check the serving "
                         "container's network access to storage.googleapis.com") from None
    return into


def _client() -> Client:
    from google.cloud import storage

    # Application Default Credentials (the endpoint's service account on Vertex); the project
    # only matters for listing buckets, which this never does. STORAGE_EMULATOR_HOST, when set,
    # is honoured by the library itself (with anonymous credentials).
    return storage.Client(project=os.environ.get("CLOUD_ML_PROJECT_ID") or "-")
