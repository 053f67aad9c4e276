"""EC2 listings measured on the client: ``list_nodes`` of 1,000 instances on
moto, and a 16-region fan-out against light endpoints with a 100 ms round trip.

``--part list``: one moto server (started here, on 127.0.0.1, its own
process) holds ``--nodes`` instances (default 1,000) in one region, started
with boto3. Clients, each in its own process, list once to warm up, then
``--repeat`` times (default 5); the process's CPU time (``time.process_time``)
per listing is divided by the node count, median reported:

* ``overcast sync`` / ``overcast async``: ``list_nodes()`` / ``aio.list_nodes()``;
* ``apache-libcloud``: Libcloud 3.9.1's EC2 driver, through the namespace proxy
  of ``bench/compute.py`` (moto's answers carry no trailing slash in the EC2
  namespace; Libcloud's parser needs AWS's), which here runs in a process of
  its own so its CPU is not charged to Libcloud.

``--part fanout``: ``--regions`` light EC2 endpoints (default 16), one
threaded HTTP server per region, all in one server process. Each answers
``DescribeInstances`` with the same pre-rendered page of ``--fanout-nodes``
instances (default 50, captured once from moto, in AWS's namespace), and
``DescribeAddresses`` (which Libcloud's ``list_nodes`` also sends) with moto's
empty answer, after
sleeping ``--delay`` (default 100 ms) in the server's request thread: a
latency-bound region, as real ones are, with no server CPU to speak of. Clients,
each in its own process: overcast async fan-out (``asyncio.gather`` of
``aio.list_nodes()``), the sync helper ``overcast.compute.list_nodes_everywhere``
(threads), overcast sequential, apache-libcloud's sequential loop, and one
region alone (overcast sync and async): wall time of a whole listing (median of
``--repeat``), its ratio to one region's (target in issue 19: fan-out at most
1.5x), and client CPU per node.

Requests per listing are counted in one more listing after the timed ones
(overcast: a request hook; Libcloud: a wrapper of its connection's
``request``). Every listing checks the node count.

    python bench/compute_ec2.py [--part list,fanout] [--nodes 1000] [--regions 16]
                                [--fanout-nodes 50] [--delay 0.1] [--repeat 5]
    python bench/compute_ec2.py --quick     # 100 nodes, 4 regions, 2 repeats

``--baseline REV`` adds every overcast client as of commit ``REV``
(``... @<hash>``, checked out in a temporary work tree), run against the same
servers in the same run: before and after side by side. A baseline fan-out's
"x one region" is against the baseline's own one region.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "bench")]

from _baseline import MARK  # noqa: E402
from _baseline import baseline_tree  # noqa: E402
from _baseline import split  # noqa: E402
from _baseline import use_overcast_from  # noqa: E402
from compute import AWS_NS  # noqa: E402
from compute import MOTO_NS  # noqa: E402
from compute import REGIONS  # noqa: E402
from compute import namespace_proxy  # noqa: E402

KEY, SECRET = "bench", "bench"


def seed(endpoint: str, region: str, nodes: int) -> None:
    """Start ``nodes`` instances in ``region`` with boto3 (in runs of at most 500)."""
    import boto3

    ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint,
                       aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    left = nodes
    while left:
        step = min(left, 500)
        ec2.run_instances(ImageId=image, InstanceType="t2.micro", MinCount=step, MaxCount=step)
        left -= step


def describe_page(endpoint: str, region: str, action: str = "DescribeInstances") -> bytes:
    """moto's answer to ``action`` (no parameters) in ``region``, in AWS's namespace."""
    body = urllib.parse.urlencode({"Action": action, "Version": "2016-11-15"})
    auth = (f"AWS4-HMAC-SHA256 Credential={KEY}/20200101/{region}/ec2/aws4_request, "
            "SignedHeaders=host, Signature=0")
    request = urllib.request.Request(endpoint + "/", body.encode(), method="POST", headers={
        "Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request) as answer:
        data: bytes = answer.read()
    assert b"<nextToken>" not in data
    return data.replace(MOTO_NS, AWS_NS)


# -- server processes -------------------------------------------------------------------------


def _serve_proxy(upstream: str, ready: Any) -> None:
    proxy, url = namespace_proxy(upstream)
    ready.send(url)
    ready.recv()
    proxy.shutdown()


def _serve_light(pages: dict[str, bytes], regions: int, delay: float, ready: Any) -> None:
    """``regions`` threaded servers answering each action with its page (from
    ``pages``; ``DescribeInstances``'s for any other) after ``delay`` seconds."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this the body's last
        # segment waits for the client's delayed ACK (40 ms) on small pages.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = self.rfile.read(length) if length else b""
            query = urllib.parse.parse_qs(form.decode() or urllib.parse.urlsplit(self.path).query)
            page = pages.get(query.get("Action", [""])[0], pages["DescribeInstances"])
            time.sleep(delay)  # the round trip, waited by the server's thread
            self.send_response(200)
            self.send_header("Content-Type", "text/xml;charset=UTF-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        do_GET = do_POST = _answer  # noqa: N815

    servers = []
    for _ in range(regions):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    ready.send([f"http://127.0.0.1:{s.server_address[1]}" for s in servers])
    ready.recv()
    for server in servers:
        server.shutdown()


# -- clients ----------------------------------------------------------------------------------


def _overcast_drivers(urls: list[tuple[str, str]], hooks: Any = None) -> list[Any]:
    from overcast.compute import Provider
    from overcast.compute import get_driver

    options: dict[str, Any] = {} if hooks is None else {"hooks": hooks}
    ec2 = get_driver(Provider.EC2)
    return [ec2(KEY, SECRET, region=region, endpoint=url, **options) for region, url in urls]


def _libcloud_drivers(urls: list[tuple[str, str]]) -> list[Any]:
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    ec2 = get_driver(Provider.EC2)
    drivers = []
    for region, url in urls:
        port = int(url.rsplit(":", 1)[1])
        drivers.append(ec2(KEY, SECRET, region=region, host="127.0.0.1", port=port,
                           secure=False, signature_version="4"))
    return drivers


def _lister(kind: str, drivers: list[Any]) -> Any:
    """A function listing every node of ``drivers`` the way ``kind`` does; returns the count."""
    if kind in ("overcast async", "overcast async fan-out", "one region, overcast async"):
        async def gather() -> int:
            lists = await asyncio.gather(*(d.aio.list_nodes() for d in drivers))
            return sum(len(nodes) for nodes in lists)

        return gather
    if kind == "overcast sync helper (threads)":
        from overcast.compute import list_nodes_everywhere

        return lambda: len(list_nodes_everywhere(drivers).flat())
    return lambda: sum(len(d.list_nodes()) for d in drivers)


def _client(kind: str, urls: list[tuple[str, str]], expected: int, repeat: int,
            out: Any, src: str | None = None) -> None:
    if src is not None:
        use_overcast_from(src)
    kind, _ = split(kind)
    libcloud = kind.startswith("apache-libcloud")
    drivers = _libcloud_drivers(urls) if libcloud else _overcast_drivers(urls)
    run = _lister(kind, drivers)
    cpu: list[float] = []
    wall: list[float] = []

    def check(count: int) -> None:
        assert count == expected, (kind, count, expected)

    if asyncio.iscoroutinefunction(run):
        async def main() -> None:
            check(await run())  # warm-up: connections, lazy imports
            for _ in range(repeat):
                start, started = time.process_time(), time.perf_counter()
                count = await run()
                cpu.append(time.process_time() - start)
                wall.append(time.perf_counter() - started)
                check(count)
            for d in drivers:
                await d.aio.aclose()

        asyncio.run(main())
    else:
        check(run())
        for _ in range(repeat):
            start, started = time.process_time(), time.perf_counter()
            count = run()
            cpu.append(time.process_time() - start)
            wall.append(time.perf_counter() - started)
            check(count)

    sent: list[object] = []
    if libcloud:
        for d in drivers:
            own = d.connection.request

            def counted(*args: Any, _own: Any = own, **kwargs: Any) -> Any:
                sent.append(args)
                return _own(*args, **kwargs)

            d.connection.request = counted
        sum(len(d.list_nodes()) for d in drivers)
    else:
        from overcast.runtime.policy import Hooks

        sum(len(d.list_nodes()) for d in _overcast_drivers(urls, Hooks(on_request=[sent.append])))
    out.send((cpu, wall, len(sent)))


def run_clients(cells: list[tuple[str, list[tuple[str, str]], int]], repeat: int,
                baseline: tuple[str, str] | None = None
                ) -> dict[str, tuple[float, float, int, int]]:
    """``{client: (median wall s, median CPU µs per node, requests, nodes)}``; with
    ``baseline`` (``(label, src)``) each overcast cell also as of that tree, right
    after the current one."""
    ctx = multiprocessing.get_context("fork")
    results: dict[str, tuple[float, float, int, int]] = {}
    runs: list[tuple[str, list[tuple[str, str]], int, str | None]] = []
    for kind, urls, expected in cells:
        runs.append((kind, urls, expected, None))
        if baseline is not None and "overcast" in kind:
            runs.append((f"{kind}{MARK}{baseline[0]}", urls, expected, baseline[1]))
    for kind, urls, expected, src in runs:
        mine, theirs = ctx.Pipe()
        client = ctx.Process(target=_client, args=(kind, urls, expected, repeat, theirs, src))
        client.start()
        theirs.close()  # so a client that dies ends recv() with EOFError
        cpu, wall, requests = mine.recv()
        client.join(60)
        results[kind] = (statistics.median(wall), statistics.median(cpu) / expected * 1e6,
                         requests, expected)
    return results


# -- parts ------------------------------------------------------------------------------------


def part_list(moto_url: str, nodes: int, repeat: int,
              baseline: tuple[str, str] | None = None) -> None:
    """list_nodes of ``nodes`` instances on moto, overcast against Libcloud."""
    region = "eu-west-1"
    seed(moto_url, region, nodes)
    ctx = multiprocessing.get_context("fork")
    here, there = ctx.Pipe()
    proxy = ctx.Process(target=_serve_proxy, args=(moto_url, there), daemon=True)
    proxy.start()
    proxy_url = here.recv()
    try:
        results = run_clients([("overcast sync", [(region, moto_url)], nodes),
                               ("overcast async", [(region, moto_url)], nodes),
                               ("apache-libcloud", [(region, proxy_url)], nodes)], repeat,
                              baseline)
    finally:
        here.send("stop")
        proxy.join(10)
    theirs = results["apache-libcloud"][1]
    print(f"\n### list_nodes: {nodes} instances in one region (moto), median of {repeat}\n")
    print("| client | nodes | wall ms | CPU µs per node | CPU vs Libcloud | requests |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, (wall, cpu, requests, count) in results.items():
        print(f"| {kind} | {count} | {wall * 1000:.0f} | {cpu:.1f} | {cpu / theirs:.2f}x "
              f"| {requests} |")


def part_fanout(pages: dict[str, bytes], regions: int, nodes: int, delay: float,
                repeat: int, baseline: tuple[str, str] | None = None) -> None:
    """The fan-out on light, latency-bound endpoints."""
    ctx = multiprocessing.get_context("fork")
    here, there = ctx.Pipe()
    server = ctx.Process(target=_serve_light, args=(pages, regions, delay, there), daemon=True)
    server.start()
    urls = list(zip(REGIONS[:regions], here.recv(), strict=True))
    total = regions * nodes
    try:
        results = run_clients([
            ("overcast async fan-out", urls, total),
            ("overcast sync helper (threads)", urls, total),
            ("overcast sequential", urls, total),
            ("apache-libcloud sequential", urls, total),
            ("one region, overcast sync", urls[:1], nodes),
            ("one region, overcast async", urls[:1], nodes),
        ], repeat, baseline)
    finally:
        here.send("stop")
        server.join(10)
    mark = f"{MARK}{baseline[0]}" if baseline is not None else ""

    def single(kind: str) -> float:
        """The wall time of one region alone, of the tree ``kind`` ran."""
        return results["one region, overcast sync" + (mark if split(kind)[1] else "")][0]

    theirs = results["apache-libcloud sequential"][1]
    print(f"\n### list_nodes fan-out: {regions} light endpoints x {nodes} nodes, "
          f"{delay * 1000:.0f} ms round trip, median of {repeat}\n")
    print("| client | nodes | wall ms | x one region (sync) | CPU µs per node | "
          "CPU vs Libcloud | requests |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind, (wall, cpu, requests, count) in results.items():
        print(f"| {kind} | {count} | {wall * 1000:.0f} | {wall / single(kind):.2f} | {cpu:.1f} | "
              f"{cpu / theirs:.2f}x | {requests} |")
    fanouts = ("overcast async fan-out", "overcast sync helper (threads)")
    for kind in [*fanouts, *(f"{k}{mark}" for k in fanouts if mark)]:
        ratio = results[kind][0] / single(kind)
        print(f"\nTarget ({kind} wall <= 1.5x one region's): "
              f"{'met' if ratio <= 1.5 else 'NOT met'} ({ratio:.2f}x)")


def main(argv: list[str] | None = None) -> int:
    """Run the parts asked for and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", default="list,fanout")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=16)
    parser.add_argument("--fanout-nodes", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="100 nodes, 4 regions, 2 repeats")
    parser.add_argument("--baseline", metavar="REV",
                        help="also run overcast as of this commit, side by side")
    args = parser.parse_args(argv)
    if args.baseline:
        with baseline_tree(args.baseline) as baseline:
            return _run(args, baseline)
    return _run(args, None)


def _run(args: argparse.Namespace, baseline: tuple[str, str] | None) -> int:
    if args.quick:
        args.nodes, args.regions, args.repeat = 100, 4, 2
    parts = args.part.split(",")
    from servers.moto_server import start_moto

    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[:3]}")
    with start_moto() as moto:
        if "fanout" in parts:  # the page first, while moto holds nothing else
            seed(moto.url, "sa-east-1", args.fanout_nodes)
            # Libcloud's list_nodes also asks DescribeAddresses (none here).
            pages = {action: describe_page(moto.url, "sa-east-1", action)
                     for action in ("DescribeInstances", "DescribeAddresses")}
        if "list" in parts:
            part_list(moto.url, args.nodes, args.repeat, baseline)
    if "fanout" in parts:
        part_fanout(pages, args.regions, args.fanout_nodes, args.delay, args.repeat, baseline)
    with open("/proc/loadavg") as f:
        print(f"\nload average at end: {f.read().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
