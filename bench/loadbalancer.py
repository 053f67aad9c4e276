"""Load balancers: listing 500 classic ELB balancers on moto, and live member
changes on a real HAProxy.

1. ``list_balancers`` over 500 classic ELB balancers (moto on 127.0.0.1,
   seeded with boto3): overcast sync, overcast async and apache-libcloud 3.9.1
   (through a shim: its ELB driver posts to ``/2012-06-01/``, a path moto does
   not route, so the shim posts to ``/``, and points its connection at moto).
   Reported: balancers returned, median wall time, and the client process's
   CPU time per balancer returned (moto runs in its own process).
2. HAProxy (Debian's 2.6, started here as the tests start it): 200
   ``balancer_attach_member`` then 200 ``balancer_detach_member`` on one
   balancer, sync; p50 and p99 of each, and the number of reloads they caused
   (there must be none: members change through the runtime API).

    python bench/loadbalancer.py [--balancers 500] [--members 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]


def seed(endpoint: str, count: int) -> None:
    """Create ``count`` classic balancers with boto3."""
    import boto3

    elb = boto3.client("elb", region_name="us-east-1", endpoint_url=endpoint,
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    for n in range(count):
        elb.create_load_balancer(
            LoadBalancerName=f"bench-{n:04d}", AvailabilityZones=["us-east-1a"],
            Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}])


def libcloud_driver(port: int) -> Any:
    """apache-libcloud's ELB driver, shimmed onto moto at 127.0.0.1:``port``."""
    from libcloud.loadbalancer.drivers.elb import ElasticLBDriver
    from libcloud.loadbalancer.drivers.elb import ELBConnection

    class Connection(ELBConnection):  # type: ignore[misc]
        def request(self, action: str, *args: Any, **kwargs: Any) -> Any:
            return super().request("/", *args, **kwargs)

    class Shim(ElasticLBDriver):  # type: ignore[misc]
        connectionCls = Connection  # noqa: N815 - Libcloud's name

    driver = Shim("bench", "bench", "us-east-1")
    connection = driver.connection
    connection.host, connection.port, connection.secure = "127.0.0.1", port, False
    connection.connect(host="127.0.0.1", port=port)
    return driver


def measured(fn: Callable[[], int], repeat: int) -> tuple[int, float, float]:
    """(items returned, median wall seconds, median CPU seconds) of ``fn``."""
    fn()  # warm-up: connections, imports
    walls, cpus, counts = [], [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        counts.append(fn())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    if len(set(counts)) != 1:
        raise SystemExit(f"{fn.__name__}: counts differ between runs: {counts}")
    return counts[0], statistics.median(walls), statistics.median(cpus)


def listing(count: int, repeat: int) -> None:
    from overcast.loadbalancer import Provider
    from overcast.loadbalancer import get_driver
    from servers.moto_server import start_moto

    with start_moto() as moto:
        seed(moto.url, count)
        driver = get_driver(Provider.ELB)("bench", "bench", "us-east-1", endpoint=moto.url)

        def overcast_sync() -> int:
            return len(driver.list_balancers())

        def overcast_async() -> int:
            async def run() -> int:
                found = await driver.aio.list_balancers()
                await driver.aio.aclose()
                return len(found)

            return asyncio.run(run())

        rows = [("overcast sync", *measured(overcast_sync, repeat)),
                ("overcast async", *measured(overcast_async, repeat))]
        try:
            lc = libcloud_driver(moto.port)
        except ImportError:
            print("apache-libcloud is not installed: its row is left out", file=sys.stderr)
        else:
            rows.append(("apache-libcloud 3.9.1", *measured(lambda: len(lc.list_balancers()),
                                                            repeat)))
    print(f"### list_balancers: {count} classic ELB balancers on moto, median of {repeat}\n")
    print("| client | balancers returned | wall ms | CPU µs per balancer |")
    print("|---|---:|---:|---:|")
    for name, returned, wall, cpu in rows:
        print(f"| {name} | {returned} | {wall * 1000:.0f} | {cpu / max(returned, 1) * 1e6:.0f} |")


def members(count: int) -> None:
    from overcast.loadbalancer.base import Member
    from servers.haproxy import HAProxyServer
    from servers.procs import free_port

    with HAProxyServer() as haproxy:
        driver = haproxy.driver()
        balancer = driver.create_balancer("bench", free_port(), "http")
        reloads = haproxy.reloads()
        made = [Member(f"m{n}", "127.0.0.1", 20000 + n, extra={"check": False})
                for n in range(count)]
        timings: dict[str, list[float]] = {"attach": [], "detach": []}
        for member in made:
            started = time.perf_counter()
            driver.balancer_attach_member(balancer, member)
            timings["attach"].append(time.perf_counter() - started)
        if len(driver.balancer_list_members(balancer)) != count:
            raise SystemExit("not every member was attached")
        for member in made:
            started = time.perf_counter()
            driver.balancer_detach_member(balancer, member)
            timings["detach"].append(time.perf_counter() - started)
        caused = haproxy.reloads() - reloads
        driver.close()
    print(f"\n### HAProxy 2.6: {count} attaches, then {count} detaches, on one balancer (sync)\n")
    print("| operation | p50 ms | p99 ms | reloads |")
    print("|---|---:|---:|---:|")
    for name, values in timings.items():
        cuts = statistics.quantiles(values, n=100)
        print(f"| {name} | {statistics.median(values) * 1000:.1f} | {cuts[98] * 1000:.1f} "
              f"| {caused} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--balancers", type=int, default=500)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    listing(args.balancers, args.repeat)
    members(args.members)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
