"""``list_nodes`` of 500 nodes in 5 pages of 100: overcast (sync, async) vs
apache-libcloud 3.9.1, per provider, on the same stateful fixture server.

For each provider (``digitalocean``, ``linode``, ``gce``, ``cloudstack``,
``azure``, ``vultr``) one fixture server (the
tests' own, ``tests/servers/compute_<provider>.py``) runs in its own
process, seeded with ``--nodes`` running nodes. Each client runs in its own
process too, so neither the server's CPU nor another client's is charged to
it:

* ``overcast sync``: ``driver.list_nodes()`` with ``page_size=100``;
* ``overcast async``: ``await driver.aio.list_nodes()`` on one asyncio loop;
* ``apache-libcloud``: Libcloud 3.9.1's driver for the provider
  (``DigitalOcean_v2_NodeDriver`` with ``ex_per_page=100``;
  ``LinodeNodeDriverV4``, which always asks 25 a page; ``VultrNodeDriverV2``,
  which always asks ``per_page=500`` and then lists the bare metal servers
  too) on ``host``/``port`` of the same server.

Each client lists once to warm up (connection, lazy imports). Then come
``--repeat`` rounds (default 5); a round lists once with each client in turn,
so a change in the machine's speed reaches all three alike. The client's CPU
time (``time.process_time``) of each listing is divided by the node count.
This is done in ``--sets`` sets (default 3), each with fresh client processes
(a process's memory layout alone moves its figures by a few tens of per cent).
Reported: the median CPU per node, the median of the rounds' ratios to
Libcloud's listing (target: at most 1.0x), and the requests each listing made
(counted by the server).

    python bench/compute_list.py [--nodes 500] [--repeat 5] [--sets 3] [--only digitalocean,linode]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

PAGE = 100
CLIENTS = ("overcast sync", "overcast async", "apache-libcloud")


# -- the servers ------------------------------------------------------------------------------


def _serve_digitalocean(nodes: int, ready: Any, count: Synchronized[int]) -> None:
    from servers.compute_digitalocean import DigitalOceanComputeServer

    server = DigitalOceanComputeServer()
    for n in range(nodes):
        made = server._new_droplet({"name": f"bench-{n:04d}", "size": "s-1vcpu-1gb",
                                    "image": "ubuntu-24-04-x64", "tags": ["bench"]})
        assert isinstance(made, dict)
        server.state.droplets[made["id"]] = made
        server._boot(made)
    _run(server, server.dispatch, "/v2", ready, count)


def _serve_linode(nodes: int, ready: Any, count: Synchronized[int]) -> None:
    from servers.compute_linode import LinodeComputeFake

    fake = LinodeComputeFake()
    for n in range(nodes):
        made = fake._new_instance({"label": f"bench-{n:04d}", "region": "us-east",
                                   "type": "g6-nanode-1", "image": "linode/debian12",
                                   "root_pass": "Bench-Root-Pass-1", "tags": ["bench"]})
        made["status"] = "running"
        fake.instances[made["id"]] = made
    _run(fake.api, fake.api.dispatch, "/v4", ready, count)


def _serve_vultr(nodes: int, ready: Any, count: Synchronized[int]) -> None:
    from servers.compute_vultr import VultrComputeServer

    server = VultrComputeServer()
    for n in range(nodes):
        made = server.new_instance({"label": f"bench-{n:04d}", "region": "ewr",
                                    "plan": "vc2-1c-1gb", "os_id": 2136, "tags": ["bench"]})
        assert isinstance(made, dict)
        server.state.instances[made["id"]] = made
        server.boot(made)
    _run(server, server.dispatch, "/v2", ready, count)


def _run(api: Any, dispatch: Any, prefix: str, ready: Any, count: Synchronized[int]) -> None:
    def counted(request: Any) -> Any:
        with count.get_lock():
            count.value += 1
        return dispatch(request)

    api.dispatch = counted
    with api.serving() as base:
        ready.send(base)
        ready.recv()  # wait until the parent is done


def _serve_cloudstack(nodes: int, ready: Any, count: Synchronized[int]) -> None:
    from _cloudstack_list import seeded_server

    server = seeded_server(nodes)
    _run(server, server.dispatch, "/client/api", ready, count)


def _serve_gce(nodes: int, ready: Any, count: Synchronized[int]) -> None:
    from _gce_list import seeded_server

    server = seeded_server(nodes)
    _run(server, server.dispatch, "/compute/v1", ready, count)


def _serve_azure(nodes: int, ready: Any, count: Synchronized[int]) -> None:
    from _azure_list import seeded_server

    fixture = seeded_server(nodes, PAGE)
    dispatch = fixture.api.dispatch

    def located(request: Any) -> Any:  # its nextLinks name the URL it is served at
        fixture.base_url = fixture.base_url or f"http://{request.header('Host')}"
        return dispatch(request)

    _run(fixture.api, located, "", ready, count)


SERVERS = {"digitalocean": _serve_digitalocean, "linode": _serve_linode, "gce": _serve_gce,
           "cloudstack": _serve_cloudstack, "azure": _serve_azure, "vultr": _serve_vultr}


# -- the clients ------------------------------------------------------------------------------


def _overcast(provider: str, base: str) -> Any:
    if provider == "azure":
        from _azure_list import overcast_driver as azure_driver

        return azure_driver(base)
    if provider == "cloudstack":
        from _cloudstack_list import overcast_driver as cloudstack_driver

        return cloudstack_driver(base, PAGE)
    if provider == "gce":
        from _gce_list import overcast_driver

        return overcast_driver(base, PAGE)
    if provider == "digitalocean":
        from overcast.compute.drivers.digitalocean import DigitalOceanNodeDriver
        from servers.digitalocean_api import TOKEN

        return DigitalOceanNodeDriver(TOKEN, endpoint=f"{base}/v2", page_size=PAGE)
    if provider == "vultr":
        from overcast.compute.drivers.vultr import VultrNodeDriver
        from servers.compute_vultr import TOKEN as VULTR_TOKEN

        return VultrNodeDriver(VULTR_TOKEN, endpoint=f"{base}/v2", page_size=PAGE)
    from overcast.compute.drivers.linode import LinodeNodeDriver
    from servers.linode_api import TOKEN as LINODE_TOKEN

    return LinodeNodeDriver(LINODE_TOKEN, endpoint=f"{base}/v4", page_size=PAGE)


def _libcloud(provider: str, base: str) -> Any:
    if provider == "azure":  # per VM: its instance view, NIC and public IP
        from _azure_list import libcloud_driver as libcloud_azure

        return libcloud_azure(base)
    if provider == "cloudstack":  # it sends no paging: the server's 500 in one answer
        from _cloudstack_list import libcloud_driver as libcloud_cloudstack

        return libcloud_cloudstack(base)
    if provider == "gce":
        from _gce_list import libcloud_driver

        return libcloud_driver(base)
    host, port = base.removeprefix("http://").split(":")
    if provider == "digitalocean":
        from libcloud.compute.drivers.digitalocean import DigitalOcean_v2_NodeDriver

        from servers.digitalocean_api import TOKEN

        # Libcloud 3.9.1's DigitalOceanNodeDriver.__new__ hands its keywords to
        # object.__new__, which refuses them, and its v2 base drops host, port and
        # secure: make the instance, __init__ it, then point its connection here.
        driver = object.__new__(DigitalOcean_v2_NodeDriver)
        driver.__init__(TOKEN, ex_per_page=PAGE)
        connection = driver.connection
        connection.host, connection.port, connection.secure = host, int(port), False
        connection.connect()
        return driver
    if provider == "vultr":  # per_page=500 always, then GET /v2/bare-metals
        from libcloud.compute.drivers.vultr import VultrNodeDriverV2

        from servers.compute_vultr import TOKEN as VULTR_TOKEN

        return VultrNodeDriverV2(VULTR_TOKEN, secure=False, host=host, port=int(port))
    from libcloud.compute.drivers.linode import LinodeNodeDriverV4

    from servers.linode_api import TOKEN as LINODE_TOKEN

    return LinodeNodeDriverV4(LINODE_TOKEN, secure=False, host=host, port=int(port))


def _client(provider: str, kind: str, base: str, nodes: int,
            count: Synchronized[int], link: Any) -> None:
    """Warm up, then list once each time the parent says ``go``, answering
    ``(CPU seconds, requests)``, until it says ``stop``."""
    driver = _libcloud(provider, base) if kind == "apache-libcloud" else _overcast(provider,
                                                                                  base)

    def once(listed: list[Any], spent: float, before: int) -> None:
        assert len(listed) == nodes, (kind, len(listed))
        link.send((spent, count.value - before))

    if kind == "overcast async":
        async def main() -> None:
            await driver.aio.list_nodes()  # warm-up
            link.send("ready")
            while link.recv() == "go":
                before, start = count.value, time.process_time()
                listed = await driver.aio.list_nodes()
                once(listed, time.process_time() - start, before)

        asyncio.run(main())
    else:
        driver.list_nodes()  # warm-up
        link.send("ready")
        while link.recv() == "go":
            before, start = count.value, time.process_time()
            listed = driver.list_nodes()
            once(listed, time.process_time() - start, before)


def measure(provider: str, nodes: int, repeat: int,
            sets: int) -> dict[str, tuple[float, float, int]]:
    """``{client: (median CPU µs per node, median paired ratio to Libcloud, requests per
    listing)}`` for one provider.

    Each set starts a fresh process per client and runs ``repeat`` rounds; a round
    lists once with each client in turn, so a drift of the machine's speed reaches
    every client alike, and each round gives one ratio to Libcloud's listing.
    """
    ctx = multiprocessing.get_context("fork")
    count: Synchronized[int] = ctx.Value("i", 0)  # type: ignore[assignment]
    here, there = ctx.Pipe()
    server = ctx.Process(target=SERVERS[provider], args=(nodes, there, count), daemon=True)
    server.start()
    base = here.recv()
    cpu: dict[str, list[float]] = {kind: [] for kind in CLIENTS}
    ratios: dict[str, list[float]] = {kind: [] for kind in CLIENTS}
    requests: dict[str, list[int]] = {kind: [] for kind in CLIENTS}
    try:
        for _ in range(sets):
            links, clients = {}, []
            for kind in CLIENTS:
                mine, theirs = ctx.Pipe()
                client = ctx.Process(target=_client,
                                     args=(provider, kind, base, nodes, count, theirs))
                client.start()
                assert mine.recv() == "ready"
                links[kind] = mine
                clients.append(client)
            for _ in range(repeat):
                spent: dict[str, float] = {}
                for kind in CLIENTS:
                    links[kind].send("go")
                    spent[kind], asked = links[kind].recv()
                    cpu[kind].append(spent[kind])
                    requests[kind].append(asked)
                for kind in CLIENTS:
                    ratios[kind].append(spent[kind] / spent["apache-libcloud"])
            for kind in CLIENTS:
                links[kind].send("stop")
            for client in clients:
                client.join(60)
    finally:
        here.send("stop")
        server.join(10)
    return {kind: (statistics.median(cpu[kind]) / nodes * 1e6, statistics.median(ratios[kind]),
                   int(statistics.median(requests[kind]))) for kind in CLIENTS}


def main() -> None:
    """Run the benchmark and print a table per provider."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5, help="rounds per set")
    parser.add_argument("--sets", type=int, default=3, help="fresh client processes per set")
    parser.add_argument("--only", default=",".join(SERVERS))
    args = parser.parse_args()
    print(f"list_nodes of {args.nodes} nodes, pages of {PAGE} where the client lets us; "
          f"{args.sets} sets of {args.repeat} interleaved rounds; client CPU µs per node "
          f"(median) and the median of the rounds' ratios to Libcloud")
    print(f"load average at start: {Path('/proc/loadavg').read_text().split()[0]}")
    for provider in args.only.split(","):
        results = measure(provider, args.nodes, args.repeat, args.sets)
        print(f"\n{provider}")
        print(f"  {'client':<16} {'CPU µs/node':>12} {'vs libcloud':>12} {'requests':>9}")
        for kind, (cpu, ratio, requests) in results.items():
            print(f"  {kind:<16} {cpu:>12.1f} {ratio:>11.2f}x {requests:>9}")
    print(f"\nload average at end: {Path('/proc/loadavg').read_text().split()[0]}")


if __name__ == "__main__":
    main()
