"""Containers on Podman: reading 100 MiB of logs, and 30 containers' lives.

Starts Podman's Docker-compatible service as the tests do
(``tests/servers/podman.py``: a UNIX socket, socat for TCP) and measures:

* ``logs``: one busybox container writes ``--log-mib`` MiB to stdout; the whole
  log is read by overcast sync (``stream_container_logs``), overcast async,
  and apache-libcloud 3.9.1's ``ex_get_logs`` (which buffers the whole body),
  each in a fresh process so its peak RSS (``VmHWM``) is its own; wall time
  and bytes received are reported;
* ``lifecycle``: ``--containers`` containers deployed, started and destroyed
  by overcast async (``--concurrency`` at once), overcast one after another,
  and Libcloud's Docker driver one after another (stopped before its destroy,
  which Podman refuses for a running container; its legacy top-level create
  fields are what Podman ignores; whatever it manages is reported).

    python bench/container.py [--log-mib 100] [--containers 30] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]


def _peak_rss_mib() -> float:
    """This process's peak resident set (``VmHWM``: unlike ``ru_maxrss``, it
    does not carry the parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, host: str, tcp_port: int, container_id: str) -> dict[str, Any]:
    """One log read, in this (fresh) process."""
    started = time.perf_counter()
    received = 0
    if kind == "overcast-sync":
        from overcast.container.drivers.docker import DockerContainerDriver

        driver = DockerContainerDriver(host=host)
        container = driver.get_container(container_id)
        for chunk in driver.stream_container_logs(container):
            received += len(chunk)
    elif kind == "overcast-async":
        import anyio

        from overcast.container.drivers.docker import DockerContainerDriver

        async def main() -> int:
            driver = DockerContainerDriver(host=host)
            total = 0
            async with driver.aio as view:
                container = await view.get_container(container_id)
                async for chunk in view.stream_container_logs(container):  # type: ignore[attr-defined]
                    total += len(chunk)
            return total

        received = anyio.run(main)
    else:
        from libcloud.container.drivers.docker import DockerContainerDriver as Libcloud

        driver = Libcloud(host="127.0.0.1", port=tcp_port)
        container = driver.get_container(container_id)
        logs = driver.ex_get_logs(container)
        received = len(logs.encode() if isinstance(logs, str) else logs)
    wall = time.perf_counter() - started
    peak = _peak_rss_mib()
    return {"kind": kind, "wall": wall, "peak_rss_mib": peak, "received": received}


def bench_logs(podman: Any, mib: int) -> list[dict[str, Any]]:
    from overcast.container.drivers.docker import DockerContainerDriver
    from servers.podman import BUSYBOX

    driver = DockerContainerDriver(host=podman.host)
    image = driver.get_image(BUSYBOX)
    # 64-byte lines (63 characters and a newline), mib MiB in all.
    lines = mib * 1024 * 1024 // 64
    script = (f"yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde "
              f"| head -n {lines}")
    container = driver.deploy_container("bench-logs", image, parameters={
        "command": ["sh", "-c", script], "network_mode": "none"})
    podman.podman("wait", container.id)
    results = []
    try:
        for kind in ("overcast-sync", "overcast-async", "libcloud"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, podman.host, str(podman.tcp_port),
                 container.id], capture_output=True, text=True, timeout=1800)
            if out.returncode != 0:
                results.append({"kind": kind, "error": out.stderr.strip().splitlines()[-1:]})
            else:
                results.append(json.loads(out.stdout))
    finally:
        driver.destroy_container(container)
    return results


def bench_lifecycle(podman: Any, count: int, concurrency: int) -> list[dict[str, Any]]:
    import anyio

    from overcast.container.drivers.docker import DockerContainerDriver
    from servers.podman import BUSYBOX

    driver = DockerContainerDriver(host=podman.host)
    image = driver.get_image(BUSYBOX)
    # A shell that ends on SIGTERM, so a stop does not wait out its timeout.
    command = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
    parameters = {"command": ["sh", "-c", command], "network_mode": "none"}
    results = []

    started = time.perf_counter()
    for i in range(count):
        c = driver.deploy_container(f"seq-{i}", image, parameters=parameters)
        driver.destroy_container(c)
    results.append({"kind": "overcast sequential", "wall": time.perf_counter() - started})

    async def main() -> None:
        limiter = anyio.CapacityLimiter(concurrency)
        async with driver.aio as view:
            async def one(i: int) -> None:
                async with limiter:
                    c = await view.deploy_container(f"par-{i}", image, parameters=parameters)
                    await view.destroy_container(c)

            async with anyio.create_task_group() as group:
                for i in range(count):
                    group.start_soon(one, i)

    started = time.perf_counter()
    anyio.run(main)
    results.append({"kind": f"overcast async ({concurrency} at once)",
                    "wall": time.perf_counter() - started})

    from libcloud.container.base import ContainerImage as LibcloudImage
    from libcloud.container.drivers.docker import DockerContainerDriver as Libcloud

    theirs = Libcloud(host="127.0.0.1", port=podman.tcp_port)
    their_image = LibcloudImage(image.id, BUSYBOX, BUSYBOX, "latest", theirs)
    started = time.perf_counter()
    done, error = 0, None
    try:
        for i in range(count):
            c = theirs.deploy_container(f"lc-{i}", their_image,
                                        command=shlex.join(["sh", "-c", command]),
                                        network_mode="none")
            # Libcloud's destroy does not stop first, and Podman refuses a running one.
            theirs.stop_container(c)
            theirs.destroy_container(c)
            done += 1
    except Exception as exc:  # reported, not hidden
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    results.append({"kind": "libcloud sequential", "wall": time.perf_counter() - started,
                    "done": done, "error": error})
    podman.clean()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-mib", type=int, default=100)
    parser.add_argument("--containers", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--child", nargs=4, metavar=("KIND", "HOST", "PORT", "ID"))
    args = parser.parse_args()
    if args.child:
        kind, host, port, container_id = args.child
        print(json.dumps(_child(kind, host, int(port), container_id)))
        return
    from servers.podman import start_podman

    with tempfile.TemporaryDirectory(prefix="bench-podman-") as directory:
        podman = start_podman(Path(directory))
        try:
            print(f"# logs: {args.log_mib} MiB", flush=True)
            for row in bench_logs(podman, args.log_mib):
                print(json.dumps(row), flush=True)
            print(f"# lifecycle: {args.containers} containers", flush=True)
            for row in bench_lifecycle(podman, args.containers, args.concurrency):
                print(json.dumps(row), flush=True)
        finally:
            podman.stop()
    print(f"# {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
