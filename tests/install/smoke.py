"""Smoke test of an installed overcast, run by ``test_installed.py`` inside a fresh
virtual environment that holds overcast and its declared dependencies only (no
test tools): every check uses the driver sync and async, against real servers
the test started.

    python smoke.py CHECK JSON-CONFIG

Prints ``ok CHECK`` on success; any failure is an exception and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from collections.abc import Callable
from typing import Any


def both(driver: Any, run: Callable[[Any], Any], arun: Callable[[Any], Any]) -> None:
    """Run the same steps sync, then async on a fresh event loop."""
    run(driver)

    async def main() -> None:
        async with driver.aio as view:
            await arun(view)

    asyncio.run(main())


def storage_round_trip(driver: Any) -> None:
    """Create a container, write, list, read and delete an object, both modes."""
    name = f"smoke-{uuid.uuid4().hex[:10]}"

    def run(d: Any) -> None:
        box = d.create_container(name)
        d.upload_object_via_stream(iter([b"sync ", b"data"]), box, "a/sync.txt")
        assert [o.name for o in d.iterate_container_objects(box)] == ["a/sync.txt"]
        assert b"".join(d.download_object_as_stream(d.get_object(name, "a/sync.txt"))) == (
            b"sync data")

    async def arun(v: Any) -> None:
        box = await v.get_container(name)
        obj = await v.upload_object_via_stream(iter([b"async ", b"data"]), box, "b/async.txt")
        listed = [o.name async for o in v.iterate_container_objects(box)]
        assert listed == ["a/sync.txt", "b/async.txt"], listed
        chunks = [c async for c in v.download_object_as_stream(obj)]
        assert b"".join(chunks) == b"async data"
        for item in listed:
            await v.delete_object(await v.get_object(name, item))
        assert await v.delete_container(box)

    both(driver, run, arun)


def check_core(config: dict[str, Any]) -> None:
    """The drivers that need no extra: local, S3 and EC2 (moto), Azure Blobs (Azurite),
    on both runners' default transports; and the extras' drivers say what to install."""
    from overcast.compute import Provider as Compute
    from overcast.compute import get_driver as compute_driver
    from overcast.storage import Provider as Storage
    from overcast.storage import get_driver as storage_driver

    with tempfile.TemporaryDirectory() as root:
        storage_round_trip(storage_driver(Storage.LOCAL)(root))
    storage_round_trip(storage_driver(Storage.S3)(
        "key", "secret", endpoint=config["moto"], region="us-east-1"))
    storage_round_trip(storage_driver(Storage.AZURE_BLOBS)(
        config["azure_account"], config["azure_key"], endpoint=config["azurite"]))

    ec2 = compute_driver(Compute.EC2)("key", "secret", region="us-east-1",
                                      endpoint=config["moto"])

    def run(d: Any) -> None:
        sizes = {s.id: s for s in d.list_sizes()}
        assert sizes, "no sizes"
        # Priced from the snapshot the wheel ships (no apache-libcloud installed here).
        assert sizes["t3.micro"].price == 0.0104, sizes["t3.micro"].price
        assert sizes["t3.micro"].extra["price_date"] == "2025-03-02"
        assert isinstance(d.list_nodes(), list)

    async def arun(v: Any) -> None:
        assert await v.list_sizes()
        assert isinstance(await v.list_nodes(), list)

    both(ec2, run, arun)
    missing_extras_are_named()
    command_line_works()


def command_line_works() -> None:
    """The ``overcast`` entry point of the core install: help, a profile, a copy."""
    import os
    import subprocess
    from pathlib import Path

    script = str(Path(sys.executable).with_name("overcast"))
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "OVERCAST_CONFIG": f"{home}/config.toml",
               "OVERCAST_SECRET_STORE": "file"}

        def run(*args: str) -> str:
            done = subprocess.run([script, *args], capture_output=True, text=True, env=env,
                                  check=False, timeout=120)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            return done.stdout

        assert "profile" in run("--help")
        Path(home, "f.txt").write_text("via the command\n")
        run("profile", "add", "here", "--driver", "local", "--key", f"{home}/root")
        run("mb", "here:box")
        run("cp", f"{home}/f.txt", "here:box/")
        assert run("cat", "here:box/f.txt") == "via the command\n"


def missing_extras_are_named() -> None:
    """Each driver or option that needs an extra says which one, as an ImportError."""
    import importlib.util

    from overcast.storage import Provider as Storage
    from overcast.storage import get_driver as storage_driver

    expectations: list[tuple[str, str, Callable[[], Any]]] = []
    if importlib.util.find_spec("httpx") is None:
        expectations.append(("httpx", "overcast[httpx]", lambda: storage_driver(Storage.LOCAL)(
            tempfile.mkdtemp(), sync_transport="httpx")._sync_runner.transport))
    if importlib.util.find_spec("urllib3") is None:
        expectations.append(("urllib3", "overcast[urllib3]", lambda: storage_driver(
            Storage.LOCAL)(tempfile.mkdtemp(), sync_transport="urllib3")._sync_runner.transport))
    if importlib.util.find_spec("libvirt") is None:
        from overcast.compute import Provider as Compute
        from overcast.compute import get_driver as compute_driver

        expectations.append(("libvirt", "overcast[libvirt]", lambda: compute_driver(
            Compute.LIBVIRT)("test:///default").list_nodes()))
    for name, hint, attempt in expectations:
        raised: BaseException | None = None
        try:
            attempt()
        except Exception as exc:
            raised = exc
        if not isinstance(raised, ImportError) or hint not in str(raised):
            raise AssertionError(f"{name}: expected an ImportError naming {hint}, got "
                                 f"{type(raised).__name__}: {raised}")


def check_transport(config: dict[str, Any], name: str) -> None:
    """The optional transports: S3 on moto through ``name``, sync (and async for httpx)."""
    from overcast.storage import Provider
    from overcast.storage import get_driver

    options: dict[str, Any] = {"sync_transport": name}
    if name == "httpx":
        options["async_transport"] = "httpx"
    storage_round_trip(get_driver(Provider.S3)(
        "key", "secret", endpoint=config["moto"], region="us-east-1", **options))


def check_libvirt(config: dict[str, Any]) -> None:
    """libvirt's in-process test hypervisor, both modes."""
    from overcast.compute import Provider
    from overcast.compute import get_driver

    driver = get_driver(Provider.LIBVIRT)("test:///default")

    def run(d: Any) -> None:
        assert [n.name for n in d.list_nodes()] == ["test"]

    async def arun(v: Any) -> None:
        assert [n.name for n in await v.list_nodes()] == ["test"]

    both(driver, run, arun)


def check_ssh(config: dict[str, Any]) -> None:
    """The SSH extra: deployments can reach paramiko."""
    from overcast.compute import ssh

    ssh.require_paramiko()


def check_fast(config: dict[str, Any]) -> None:
    """The fast extra: hardware checksums are found."""
    import zlib

    from overcast.storage import transfer

    extend = transfer.crc32_function()
    assert extend(0, b"overcast") == zlib.crc32(b"overcast")
    assert transfer.crc32c_function() is not None


def check_google(config: dict[str, Any]) -> None:
    """Google Cloud Storage on fake-gcs-server, both modes."""
    from overcast.storage import Provider
    from overcast.storage import get_driver

    storage_round_trip(get_driver(Provider.GOOGLE_STORAGE)(
        project="smoke", endpoint=config["gcs"], anonymous=True))


def check_dns(config: dict[str, Any]) -> None:
    """The DNS extra: zone files, both modes."""
    from overcast.dns import Provider
    from overcast.dns import get_driver

    with tempfile.TemporaryDirectory() as root:
        driver = get_driver(Provider.ZONEFILE)(root)

        def run(d: Any) -> None:
            zone = d.create_zone("smoke.example.")
            d.create_record("www", zone, "A", "192.0.2.1")

        async def arun(v: Any) -> None:
            zone = await v.get_zone("smoke.example.")
            names = [r.name for r in await v.list_records(zone)]
            assert "www" in names, names

        both(driver, run, arun)


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "core": check_core,
    "httpx": lambda config: check_transport(config, "httpx"),
    "urllib3": lambda config: check_transport(config, "urllib3"),
    "libvirt": check_libvirt,
    "ssh": check_ssh,
    "fast": check_fast,
    "google": check_google,
    "dns": check_dns,
}

if __name__ == "__main__":
    check = sys.argv[1]
    CHECKS[check](json.loads(sys.argv[2]))
    print(f"ok {check}")
