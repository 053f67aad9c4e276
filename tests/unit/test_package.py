"""The package's public face: lazy imports, the registry, plugins, the error tree."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import overcast
from overcast import errors
from overcast.errors import InvalidInput
from overcast.errors import NotSupported


def test_import_overcast_loads_no_driver() -> None:
    code = textwrap.dedent("""
        import sys, overcast, overcast.storage, overcast.compute, overcast.dns
        import overcast.loadbalancer, overcast.container, overcast.backup
        loaded = [m for m in sys.modules if ".drivers." in m or m.endswith(".drivers")]
        heavy = [m for m in ("aiohttp", "urllib3", "httpx") if m in sys.modules]
        print(loaded, heavy)
        assert not loaded and not heavy, (loaded, heavy)
    """)
    src = str(Path(overcast.__file__).resolve().parents[1])
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": src})


def test_import_overcast_alone_loads_only_itself() -> None:
    """``import overcast`` (what a plugin or a version check does) loads no
    other module, not even ``typing``: its cost is the package's two files
    (and ``__future__``, a few lines, for their annotations)."""
    code = textwrap.dedent("""
        import sys
        before = set(sys.modules)
        import overcast
        added = sorted(set(sys.modules) - before)
        assert added == ["__future__", "overcast", "overcast._version"], added
    """)
    src = str(Path(overcast.__file__).resolve().parents[1])
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": src})


def test_building_a_driver_loads_what_only_calls_need_on_first_call() -> None:
    """Cold start: a program that builds an S3 driver loads no runner, no TLS,
    no event-loop library, no process or e-mail machinery; they load with the
    first call (the interpreter's own start-up may load some: only what building
    the driver adds is counted)."""
    code = textwrap.dedent("""
        import sys
        before = set(sys.modules)
        from overcast.storage import Provider, get_driver
        get_driver(Provider.S3)("AKIAEXAMPLE", "secret", endpoint="http://127.0.0.1:9")
        added = set(sys.modules) - before
        slow = sorted(m for m in ("overcast.runtime.runner", "anyio", "ssl", "subprocess",
                                  "email.utils", "urllib.request", "http.client", "ctypes",
                                  "configparser", "google_crc32c", "isal", "logging",
                                  "json") if m in added)
        print(slow)
        assert not slow, slow
    """)
    src = str(Path(overcast.__file__).resolve().parents[1])
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": src})


def test_unknown_driver_lists_the_available_ones() -> None:
    with pytest.raises(NotSupported) as info:
        overcast.get_driver("storage", "floppy")
    assert "local" in str(info.value)
    with pytest.raises(InvalidInput):
        overcast.get_driver("weather", "local")


def test_third_party_drivers_register_through_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme_store.py").write_text(textwrap.dedent("""
        from overcast.storage.drivers.local import LocalStorageDriver

        class AcmeDriver(LocalStorageDriver):
            name = "acme"
    """))
    dist = tmp_path / "acme_store-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-store\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[overcast.drivers.storage]\nacme = acme_store:AcmeDriver\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from overcast.registry import available

    assert "acme" in available("storage")
    from overcast.storage import get_driver

    assert get_driver("acme").__name__ == "AcmeDriver"


def test_error_tree() -> None:
    assert issubclass(errors.ContainerNotFound, errors.NotFound)
    assert issubclass(errors.ZoneAlreadyExists, errors.AlreadyExists)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.OvercastError)
    err = errors.ProviderError("boom", status=500, code="InternalError", request_id="r1",
                               driver="s3")
    assert (err.status, err.code, err.request_id, err.driver) == (500, "InternalError", "r1", "s3")
    assert "[s3]" in str(err) and "request_id=r1" in str(err)
    assert errors.ObjectNotFound("x.txt", driver="local").resource == "x.txt"
