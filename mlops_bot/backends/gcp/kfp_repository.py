"""Each new registry version also uploaded to the KFP repository `gcp.kfp_repository` names.

The GCS bucket stays the registry of record; the KFP repository makes versions visible as
templates in the Vertex AI console. Uploads go through `kfp.registry.RegistryClient`, which for a
`https://<region>-kfp.pkg.dev/<project>/<repo>` host authenticates with Application Default
Credentials (Workload Identity Federation on GitHub Actions).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.backends.gcp.api_errors import Refusal, denied_sentence
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.config import GcpConfig

__all__ = ["KfpRepository"]


class KfpRepository:
    def __init__(self, host: str, auth: Any = None, config: GcpConfig | None = None) -> None:
        self.host = host.rstrip("/")
        self._auth = auth  # None: RegistryClient's own choice (ADC for a kfp.pkg.dev host)
        self._config = config  # for messages: the project and identities

    @classmethod
    def for_config(cls, config: GcpConfig) -> KfpRepository | None:
        """The repository `gcp.kfp_repository` names, or None when it is not set."""
        if not config.kfp_repository:
            return None
        return cls(f"https://{config.region}-kfp.pkg.dev/{config.project}/"
                   f"{config.kfp_repository}", config=config)

    def upload(self, pipeline: str, version: str, spec: bytes) -> None:
        """Upload `spec` tagged with its registry version; already there counts as done.

        Only the version id is used as a tag: it is derived from the spec's bytes, so a 409 on it
        means these very bytes were uploaded before (a retry after a crash or a lost response).
        Moving tags (latest, main...) live in the bucket, which stays the registry of record.
        """
        from kfp.registry import RegistryClient

        client = RegistryClient(host=self.host, auth=self._auth)
        with tempfile.TemporaryDirectory(prefix="mlops-bot-kfp-") as folder:
            path = Path(folder) / f"{pipeline}.yaml"
            path.write_bytes(spec)
            try:
                client.upload_pipeline(file_name=str(path), tags=[version])
            except OSError as error:  # requests.HTTPError (no type stubs for requests here)
                status = getattr(getattr(error, "response", None), "status_code", None)
                if status == 409:
                    return
                if status in (401, 403):
                    raise UserError(denied_sentence(
                        f"upload {pipeline}@{version} to the KFP repository {self.host}", error,
                        self._config, refusal=Refusal(
                            needs="artifactregistry.repositories.uploadArtifacts",
                            resource=f"the KFP repository {self.host}",
                            note="without that repository, remove gcp.kfp_repository from "
                                 "mlops.yaml"))) from error
                if status == 404:
                    raise UserError(
                        f"the KFP repository {self.host} does not exist: create it (format "
                        "KFP) in Artifact Registry, or fix gcp.kfp_repository in mlops.yaml"
                    ) from error
                raise  # connection failures and 5xx: unexpected, with the traceback
