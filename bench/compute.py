"""Fan-out across regions: list_nodes in 16 moto regions holding 50 nodes each.

One moto server (started here, on 127.0.0.1) plays 16 EC2 regions; boto3 seeds
50 instances in each. Then, in one run, side by side:

* ``overcast async fan-out``: ``asyncio.gather(*(d.aio.list_nodes() for d in drivers))``
  on one event loop;
* ``overcast sync helper``: ``overcast.compute.list_nodes_everywhere(drivers)``
  (threads);
* ``overcast sequential``: ``[d.list_nodes() for d in drivers]``;
* ``apache-libcloud sequential``: its EC2 driver, region by region (through a
  small proxy that gives moto's answers the XML namespace AWS uses, which
  Libcloud's parser needs; overcast ignores namespaces);
* ``one region``: overcast, one region alone: the yardstick for the target
  "fan-out wall time at most 2x one region's".

Each is run ``--repeat`` times (default 5); the median wall time is reported,
with every peer as a ratio to the overcast async fan-out. Every run checks that
all 800 nodes came back.

    python bench/compute.py [--regions 16] [--nodes 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1",
    "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ca-central-1", "sa-east-1",
]
MOTO_NS = b'xmlns="http://ec2.amazonaws.com/doc/2016-11-15"'
AWS_NS = b'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"'


def seed(endpoint: str, regions: list[str], nodes: int) -> None:
    """Start ``nodes`` instances in every region with boto3."""
    import boto3

    for region in regions:
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint,
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
        ec2.run_instances(ImageId=image, InstanceType="t2.micro", MinCount=nodes, MaxCount=nodes)


def namespace_proxy(upstream: str) -> tuple[ThreadingHTTPServer, str]:
    """A forwarding proxy that writes AWS's EC2 namespace into moto's answers."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            request = urllib.request.Request(upstream + self.path, data=body, headers=headers,
                                             method=self.command)
            try:
                with urllib.request.urlopen(request) as answer:
                    status, data, kind = answer.status, answer.read(), answer.headers
            except urllib.error.HTTPError as error:
                status, data, kind = error.code, error.read(), error.headers
            data = data.replace(MOTO_NS, AWS_NS)
            self.send_response(status)
            self.send_header("Content-Type", kind.get("Content-Type", "text/xml"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _forward  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def timed(fn: Callable[[], int], expected: int, repeat: int) -> float:
    """The median wall time of ``fn`` (which returns the node count it saw)."""
    fn()  # warm-up: connections, imports
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        count = fn()
        walls.append(time.perf_counter() - started)
        if count != expected:
            raise SystemExit(f"{fn.__name__}: saw {count} nodes, expected {expected}")
    return statistics.median(walls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=16)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    regions = REGIONS[: args.regions]
    expected = len(regions) * args.nodes

    from overcast.compute import Provider
    from overcast.compute import get_driver
    from overcast.compute import list_nodes_everywhere
    from servers.moto_server import start_moto

    with start_moto() as moto:
        seed(moto.url, regions, args.nodes)
        EC2 = get_driver(Provider.EC2)
        drivers = [EC2("bench", "bench", region=r, endpoint=moto.url) for r in regions]

        def overcast_async() -> int:
            async def gather() -> int:
                lists = await asyncio.gather(*(d.aio.list_nodes() for d in drivers))
                for d in drivers:  # each run has its own loop: close its pools
                    await d.aio.aclose()
                return sum(len(nodes) for nodes in lists)

            return asyncio.run(gather())

        def overcast_sync_helper() -> int:
            return len(list_nodes_everywhere(drivers).flat())

        def overcast_sequential() -> int:
            return sum(len(d.list_nodes()) for d in drivers)

        def one_region() -> int:
            return len(drivers[0].list_nodes())

        cells: list[tuple[str, float]] = [
            ("overcast async fan-out", timed(overcast_async, expected, args.repeat)),
            ("overcast sync helper (threads)", timed(overcast_sync_helper, expected, args.repeat)),
            ("overcast sequential", timed(overcast_sequential, expected, args.repeat)),
        ]
        try:
            from libcloud.compute.providers import get_driver as lc_get_driver
            from libcloud.compute.types import Provider as LcProvider
        except ImportError:
            print("apache-libcloud is not installed: its row is left out", file=sys.stderr)
        else:
            proxy, proxy_url = namespace_proxy(moto.url)
            port = int(proxy_url.rsplit(":", 1)[1])
            lc = [lc_get_driver(LcProvider.EC2)("bench", "bench", region=r, host="127.0.0.1",
                                                port=port, secure=False, signature_version="4")
                  for r in regions]

            def libcloud_sequential() -> int:
                return sum(len(d.list_nodes()) for d in lc)

            cells.append(("apache-libcloud sequential", timed(libcloud_sequential, expected,
                                                               args.repeat)))
            proxy.shutdown()
        single = timed(one_region, args.nodes, args.repeat)

    base = cells[0][1]
    print(f"### list_nodes: {len(regions)} regions x {args.nodes} nodes "
          f"(moto on 127.0.0.1), median of {args.repeat}\n")
    print("| client | wall ms | x async fan-out | x one region |")
    print("|---|---:|---:|---:|")
    for name, wall in cells:
        print(f"| {name} | {wall * 1000:.0f} | {wall / base:.2f} | {wall / single:.2f} |")
    print(f"| one region alone (overcast) | {single * 1000:.0f} | {single / base:.2f} | 1.00 |")
    target = base <= 2 * single
    print(f"\nTarget (fan-out wall <= 2x one region's): {'met' if target else 'NOT met'} "
          f"({base / single:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
