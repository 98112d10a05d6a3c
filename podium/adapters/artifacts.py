"""Artifact stores: delivery artifacts and large payloads kept out of orchestration history.

Keys are ``<tenantId>/<projectId>/<relative path>``. Tenant and project ids are single path
segments and the relative path is normalised and refused if it is absolute or climbs out with
``..``: a caller can never address another tenant's or project's artifacts.

``local`` writes files under ``PODIUM_DATA_DIR/artifacts`` atomically (temp file + rename, so a
crash never leaves a half-written artifact under its final name); ``blob`` uses Azure Blob
Storage (Azurite locally) in the ``artifacts`` container.
"""

from __future__ import annotations

import contextlib
import io
import mimetypes
import os
import posixpath
import tempfile
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from podium import topology
from podium.adapters._common import check_id
from podium.adapters.ports import NotFoundError, ValidationError


def clean_path(path: str) -> str:
    """Normalise a relative artifact path; reject absolute paths and ``..`` escapes."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        raise ValidationError(f"artifact path {path!r:.80} is invalid")
    norm = posixpath.normpath(path)
    if norm.startswith("/") or norm == "." or norm.split("/")[0] == "..":
        raise ValidationError(f"artifact path {path!r:.80} must stay inside the project")
    return norm


def _prefix(tenant_id: str, project_id: str) -> str:
    return f"{check_id(tenant_id, 'tenantId')}/{check_id(project_id, 'projectId')}/"


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            # a fixed timestamp keeps the export byte-identical for identical content
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


class LocalArtifactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _file(self, tenant_id: str, project_id: str, path: str) -> Path:
        target = (self.root / _prefix(tenant_id, project_id) / clean_path(path)).resolve()
        if not target.is_relative_to(self.root):  # symlink games
            raise ValidationError(f"artifact path {path!r:.80} escapes the store")
        return target

    def put_bytes(self, tenant_id: str, project_id: str, path: str, data: bytes,
                  content_type: str | None = None) -> str:
        target = self._file(tenant_id, project_id, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target.as_uri()

    def put_file(self, tenant_id: str, project_id: str, path: str, file_path: str,
                 content_type: str | None = None) -> str:
        return self.put_bytes(tenant_id, project_id, path, Path(file_path).read_bytes(),
                              content_type)

    def get(self, tenant_id: str, project_id: str, path: str) -> bytes:
        target = self._file(tenant_id, project_id, path)
        try:
            return target.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise NotFoundError(f"artifact {path} not found in project {project_id}") from None

    def list(self, tenant_id: str, project_id: str, prefix: str = "") -> list[str]:
        base = self.root / _prefix(tenant_id, project_id)
        if not base.is_dir():
            return []
        names = sorted(p.relative_to(base).as_posix() for p in base.rglob("*")
                       if p.is_file() and not p.name.startswith(".tmp-"))
        return [n for n in names if n.startswith(prefix)]

    def url(self, tenant_id: str, project_id: str, path: str) -> str:
        return self._file(tenant_id, project_id, path).as_uri()

    def zip_export(self, tenant_id: str, project_id: str,
                   exclude: Collection[str] = ()) -> bytes:
        """ZIP of the project's artifacts except the ``exclude`` paths (e.g. a previous export)."""
        return _zip([(n, self.get(tenant_id, project_id, n))
                     for n in self.list(tenant_id, project_id) if n not in exclude])


class BlobArtifactStore:
    """Azure Blob Storage; one container, blob name = ``tenant/project/path``.

    Build with a connection string (Azurite, or a storage key) or an account URL plus a
    credential (managed identity; the app needs "Storage Blob Data Contributor").
    """

    def __init__(self, *, connection_string: str | None = None, account_url: str | None = None,
                 credential: Any = None, container: str = topology.ARTIFACTS_CONTAINER,
                 create_container: bool = False) -> None:
        from azure.storage.blob import BlobServiceClient

        if connection_string:
            self.service = BlobServiceClient.from_connection_string(connection_string)
        elif account_url:
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            self.service = BlobServiceClient(account_url, credential=credential)
        else:
            raise ValidationError("BlobArtifactStore needs a connection string or an account URL")
        self.container = self.service.get_container_client(container)
        if create_container:
            from azure.core.exceptions import ResourceExistsError

            with contextlib.suppress(ResourceExistsError):
                self.container.create_container()

    def _name(self, tenant_id: str, project_id: str, path: str) -> str:
        return _prefix(tenant_id, project_id) + clean_path(path)

    def put_bytes(self, tenant_id: str, project_id: str, path: str, data: bytes,
                  content_type: str | None = None) -> str:
        from azure.storage.blob import ContentSettings

        name = self._name(tenant_id, project_id, path)
        ctype = content_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
        # One PUT (or a block list commit for large data): readers see old or new, never half.
        self.container.upload_blob(name, data, overwrite=True,
                                   content_settings=ContentSettings(content_type=ctype))
        return self.container.get_blob_client(name).url

    def put_file(self, tenant_id: str, project_id: str, path: str, file_path: str,
                 content_type: str | None = None) -> str:
        from azure.storage.blob import ContentSettings

        name = self._name(tenant_id, project_id, path)
        ctype = content_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(file_path, "rb") as f:
            self.container.upload_blob(name, f, overwrite=True,
                                       content_settings=ContentSettings(content_type=ctype))
        return self.container.get_blob_client(name).url

    def get(self, tenant_id: str, project_id: str, path: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.container.download_blob(self._name(tenant_id, project_id, path)).readall()
        except ResourceNotFoundError:
            raise NotFoundError(f"artifact {path} not found in project {project_id}") from None

    def list(self, tenant_id: str, project_id: str, prefix: str = "") -> list[str]:
        base = _prefix(tenant_id, project_id)
        return sorted(b.name[len(base):]
                      for b in self.container.list_blobs(name_starts_with=base + prefix))

    def url(self, tenant_id: str, project_id: str, path: str) -> str:
        return self.container.get_blob_client(self._name(tenant_id, project_id, path)).url

    def zip_export(self, tenant_id: str, project_id: str,
                   exclude: Collection[str] = ()) -> bytes:
        """ZIP of the project's artifacts except the ``exclude`` paths (e.g. a previous export)."""
        return _zip([(n, self.get(tenant_id, project_id, n))
                     for n in self.list(tenant_id, project_id) if n not in exclude])

    def close(self) -> None:
        self.service.close()
