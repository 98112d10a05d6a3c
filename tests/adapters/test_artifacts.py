"""Artifact store contract: local filesystem and Blob Storage (Azurite)."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.adapters.artifacts import BlobArtifactStore, LocalArtifactStore
from podium.adapters.ports import ArtifactStore, NotFoundError, ValidationError


@pytest.fixture(params=["local", "blob"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield LocalArtifactStore(tmp_path / "artifacts")
        return
    azurite = request.getfixturevalue("azurite")
    blob = BlobArtifactStore(connection_string=azurite.connection_string,
                             container=f"art-{uuid.uuid4().hex[:10]}", create_container=True)
    yield blob
    blob.close()


def test_put_get_list_url(store: ArtifactStore, tmp_path: Path) -> None:
    url = store.put_bytes("t1", "p1", "services/orders/app.py", b"print('hi')\n")
    assert url == store.url("t1", "p1", "services/orders/app.py")
    assert "t1/p1/services/orders/app.py" in url
    src = tmp_path / "report.xml"
    src.write_bytes(b"<testsuite/>")
    store.put_file("t1", "p1", "reports/qa.xml", str(src))
    store.put_bytes("t1", "p1", "pipeline.yml", b"steps: []\n")
    store.put_bytes("t1", "p1", "pipeline.yml", b"steps: [build]\n")  # overwrite
    assert store.get("t1", "p1", "reports/qa.xml") == b"<testsuite/>"
    assert store.get("t1", "p1", "pipeline.yml") == b"steps: [build]\n"
    assert store.list("t1", "p1") == ["pipeline.yml", "reports/qa.xml", "services/orders/app.py"]
    assert store.list("t1", "p1", prefix="services/") == ["services/orders/app.py"]
    with pytest.raises(NotFoundError):
        store.get("t1", "p1", "missing.txt")


def test_tenants_and_projects_are_isolated(store: ArtifactStore) -> None:
    store.put_bytes("t1", "p1", "secret-plan.md", b"t1 only")
    assert store.list("t2", "p1") == [] and store.list("t1", "p2") == []
    with pytest.raises(NotFoundError):
        store.get("t2", "p1", "secret-plan.md")
    for bad in ("../../t1/p1/secret-plan.md", "/etc/passwd", "a/../../p2/x", "a\\b", ""):
        with pytest.raises(ValidationError):
            store.get("t2", "p1", bad)
    for tenant, project in (("t1/p1", "x"), ("..", "p1"), ("t1", "p1/..")):
        with pytest.raises(ValidationError):
            store.put_bytes(tenant, project, "f", b"x")


def test_zip_export_contains_exactly_the_project(store: ArtifactStore) -> None:
    store.put_bytes("t1", "p1", "a.txt", b"A")
    store.put_bytes("t1", "p1", "dir/b.txt", b"B")
    store.put_bytes("t1", "p2", "other.txt", b"X")
    data = store.zip_export("t1", "p1")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["a.txt", "dir/b.txt"]
        assert zf.read("dir/b.txt") == b"B"
    assert store.zip_export("t1", "p1") == data  # deterministic
    store.put_bytes("t1", "p1", "export.zip", data)
    with zipfile.ZipFile(io.BytesIO(store.zip_export("t1", "p1", exclude={"export.zip"}))) as zf:
        assert sorted(zf.namelist()) == ["a.txt", "dir/b.txt"]  # no export inside the export
