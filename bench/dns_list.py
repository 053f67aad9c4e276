"""``list_records`` of a 5,000-record zone: overcast (sync, async) against
apache-libcloud 3.9.1, on a real PowerDNS server and on Route 53 (moto).

Both servers are started here on 127.0.0.1, as the tests start them
(``tests/servers/dns_powerdns.py``: ``pdns_server`` with gsqlite3 and its HTTP
API; ``tests/servers/moto_server.py``), each in its own process. One zone per
server is seeded with ``--records`` record sets of one value each, of five
types (A, AAAA, TXT, MX, CNAME): PowerDNS in one ``PATCH`` of its API, Route 53
with boto3 in batches of 1,000 changes. Clients:

* ``overcast sync``: ``driver.list_records(zone)``;
* ``overcast async``: ``await driver.aio.list_records(zone)`` on one asyncio loop;
* ``apache-libcloud``: Libcloud 3.9.1's ``PowerDNSDriver`` (``api_version="v1"``)
  and ``Route53DNSDriver``. Libcloud speaks Route 53's API of 2012-02-29, which
  moto does not route, and signs with ``X-Amzn-Authorization``, while moto
  routes by the service named in ``Authorization``: the same shim as
  ``tests/compat/dns/test_libcloud_dns.py`` (module path and namespace set to
  2013-04-01, whose list calls are the same; an ``Authorization`` header naming
  route53; the connection pointed at moto), imported from that test. Nothing in
  its parsing is changed.

Each client runs in its own process (so neither a server's CPU nor another
client's is charged to it), lists once to warm up, then ``--repeat`` times
(default 5); the CPU time of the process (``time.process_time``) per listing is
divided by the records returned and the median is reported, with the ratio to
Libcloud's. Requests per listing are counted in one more listing after the
timed ones (overcast: a request hook; Libcloud: a wrapper of its connection's
``request``), so counting costs nothing in the timed ones. Every listing
checks the record count; overcast's must equal Libcloud's.

    python bench/dns_list.py [--records 5000] [--repeat 5] [--only powerdns,route53]
    python bench/dns_list.py --quick     # 500 records, 2 repeats

``--baseline REV`` adds both overcast clients as of commit ``REV``
(``overcast sync @<hash>``, checked out in a temporary work tree), run against
the same servers in the same run: before and after side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "bench")]

from _baseline import MARK  # noqa: E402
from _baseline import baseline_tree  # noqa: E402
from _baseline import split  # noqa: E402
from _baseline import use_overcast_from  # noqa: E402
from servers.dns_route53 import ACCESS_KEY  # noqa: E402
from servers.dns_route53 import SECRET_KEY  # noqa: E402

CLIENTS = ("overcast sync", "overcast async", "apache-libcloud")
DOMAIN = "bench-list.example.test."


def record_sets(records: int) -> list[tuple[str, str, str, int]]:
    """``(relative name, type, value, ttl)`` for ``records`` one-value record sets."""
    sets = []
    for i in range(records):
        kind = i % 5
        if kind == 0:
            sets.append((f"h{i}", "A", f"192.0.{i // 250 % 256}.{i % 250 + 1}", 3600))
        elif kind == 1:
            sets.append((f"h{i}", "AAAA", f"2001:db8::{i:x}", 300))
        elif kind == 2:
            sets.append((f"h{i}", "TXT", f'"v=spf1 include:_spf{i}.example.net -all"', 3600))
        elif kind == 3:
            sets.append((f"h{i}", "MX", f"{i % 50} mail{i}.example.net.", 3600))
        else:
            sets.append((f"h{i}", "CNAME", f"h{i - 4}.{DOMAIN}", 3600))
    return sets


# -- seeding ----------------------------------------------------------------------------------


def seed_powerdns(endpoint: str, api_key: str, records: int) -> str:
    """Create the zone with its records in PowerDNS; return the zone id."""
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    base = f"{endpoint}/api/v1/servers/localhost/zones"
    body = {"name": DOMAIN, "kind": "Native", "nameservers": [f"ns1.{DOMAIN}"]}
    request = urllib.request.Request(base, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request) as answer:
        zone_id = str(json.loads(answer.read())["id"])
    rrsets = [{"name": f"{name}.{DOMAIN}", "type": kind, "ttl": ttl, "changetype": "REPLACE",
               "records": [{"content": value, "disabled": False}]}
              for name, kind, value, ttl in record_sets(records)]
    request = urllib.request.Request(f"{base}/{zone_id}", json.dumps({"rrsets": rrsets}).encode(),
                                     headers, method="PATCH")
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 204, answer.status
    return zone_id


def seed_route53(endpoint: str, records: int) -> str:
    """Create the hosted zone with its records in moto; return the zone id."""
    import boto3

    client = boto3.client("route53", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    zone = client.create_hosted_zone(Name=DOMAIN, CallerReference="bench-list")
    zone_id = str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1]
    changes = [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": f"{name}.{DOMAIN}", "Type": kind, "TTL": ttl,
        "ResourceRecords": [{"Value": value}]}} for name, kind, value, ttl in record_sets(records)]
    for start in range(0, len(changes), 1000):
        client.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Changes": changes[start:start + 1000]})
    return zone_id


# -- the clients ------------------------------------------------------------------------------


def _overcast(provider: str, where: dict[str, Any], hooks: Any = None) -> Any:
    options: dict[str, Any] = {} if hooks is None else {"hooks": hooks}
    if provider == "powerdns":
        from overcast.dns.drivers.powerdns import PowerDNSDriver

        return PowerDNSDriver(where["api_key"], endpoint=where["endpoint"], **options)
    from overcast.dns.drivers.route53 import Route53DNSDriver

    return Route53DNSDriver(ACCESS_KEY, SECRET_KEY, endpoint=where["endpoint"], timeout=60,
                            **options)


def _libcloud(provider: str, where: dict[str, Any]) -> Any:
    host, port = where["endpoint"].removeprefix("http://").rsplit(":", 1)
    if provider == "powerdns":
        from libcloud.dns.drivers.powerdns import PowerDNSDriver as LibcloudPowerDNS

        return LibcloudPowerDNS(where["api_key"], secure=False, host=host, port=int(port),
                                api_version="v1")
    # The compat test's shim, as it is (it sets two module constants of Libcloud's
    # route53 module through a monkeypatch: here for the life of this process).
    from compat.dns.test_libcloud_dns import _libcloud_route53

    class _Set:
        setattr = staticmethod(setattr)

    return _libcloud_route53(int(port), _Set())


def _client(provider: str, kind: str, where: dict[str, Any], repeat: int, out: Any,
            src: str | None = None) -> None:
    if src is not None:
        use_overcast_from(src)
    kind, _ = split(kind)
    libcloud = kind == "apache-libcloud"
    driver = _libcloud(provider, where) if libcloud else _overcast(provider, where)
    zone = driver.get_zone(where["zone_id"])
    cpu: list[float] = []
    counts: set[int] = set()

    if kind == "overcast async":
        async def main() -> None:
            await driver.aio.list_records(zone)  # warm-up
            for _ in range(repeat):
                start = time.process_time()
                listed = await driver.aio.list_records(zone)
                cpu.append(time.process_time() - start)
                counts.add(len(listed))
            await driver.aio.aclose()

        asyncio.run(main())
    else:
        driver.list_records(zone)  # warm-up
        for _ in range(repeat):
            start = time.process_time()
            listed = driver.list_records(zone)
            cpu.append(time.process_time() - start)
            counts.add(len(listed))
    assert len(counts) == 1, (kind, counts)
    (records,) = counts

    # One more listing, counted (not timed).
    sent: list[object] = []
    if libcloud:
        connection = driver.connection
        own_request = connection.request

        def counted(*args: Any, **kwargs: Any) -> Any:
            sent.append(args)
            return own_request(*args, **kwargs)

        connection.request = counted
        driver.list_records(zone)
    else:
        from overcast.runtime.policy import Hooks

        counting = _overcast(provider, where, Hooks(on_request=[sent.append]))
        counted_zone = counting.get_zone(where["zone_id"])
        sent.clear()  # the get_zone
        counting.list_records(counted_zone)
    out.send((cpu, records, len(sent)))


def measure(provider: str, where: dict[str, Any], repeat: int,
            baseline: tuple[str, str] | None = None) -> dict[str, tuple[float, int, int]]:
    """``{client: (median CPU µs per record, records, requests per listing)}``;
    with ``baseline`` (``(label, src)``) the overcast clients of that tree too."""
    ctx = multiprocessing.get_context("fork")
    results: dict[str, tuple[float, int, int]] = {}
    cells: list[tuple[str, str | None]] = [(kind, None) for kind in CLIENTS]
    if baseline is not None:
        label, src = baseline
        cells[2:2] = [(f"{kind}{MARK}{label}", src) for kind in CLIENTS[:2]]
    for kind, src in cells:
        mine, theirs = ctx.Pipe()
        client = ctx.Process(target=_client, args=(provider, kind, where, repeat, theirs, src))
        client.start()
        theirs.close()  # so a client that dies ends recv() with EOFError
        cpu, records, requests = mine.recv()
        client.join(60)
        results[kind] = (statistics.median(cpu) / records * 1e6, records, requests)
    return results


def main(argv: list[str] | None = None) -> int:
    """Start the servers, seed them, run every client, print a table per provider."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="powerdns,route53")
    parser.add_argument("--quick", action="store_true", help="500 records, 2 repeats")
    parser.add_argument("--baseline", metavar="REV",
                        help="also run overcast as of this commit, side by side")
    args = parser.parse_args(argv)
    if args.baseline:
        with baseline_tree(args.baseline) as baseline:
            return _run(args, baseline)
    return _run(args, None)


def _run(args: argparse.Namespace, baseline: tuple[str, str] | None) -> int:
    if args.quick:
        args.records, args.repeat = 500, 2
    providers = args.only.split(",")
    print(f"list_records of a {args.records}-record zone; median of {args.repeat}; "
          f"client CPU µs per record")
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[:3]}")
    tables: dict[str, dict[str, tuple[float, int, int]]] = {}
    if "powerdns" in providers:
        from servers.dns_powerdns import start as start_powerdns

        pdns = start_powerdns()
        try:
            zone_id = seed_powerdns(pdns.endpoint, pdns.api_key, args.records)
            tables["powerdns"] = measure("powerdns", {"endpoint": pdns.endpoint,
                                                      "api_key": pdns.api_key,
                                                      "zone_id": zone_id}, args.repeat,
                                         baseline)
        finally:
            pdns.stop()
    if "route53" in providers:
        from servers.moto_server import start_moto

        with start_moto() as moto:
            zone_id = seed_route53(moto.url, args.records)
            tables["route53"] = measure("route53", {"endpoint": moto.url, "zone_id": zone_id},
                                        args.repeat, baseline)
    for provider, results in tables.items():
        theirs = results["apache-libcloud"][0]
        print(f"\n{provider}")
        print(f"  {'client':<26} {'records':>8} {'CPU µs/record':>14} {'vs libcloud':>12} "
              f"{'requests':>9}")
        for kind, (cpu, records, requests) in results.items():
            print(f"  {kind:<26} {records:>8} {cpu:>14.1f} {cpu / theirs:>11.2f}x "
                  f"{requests:>9}")
        mine = {results[k][1] for k in results}
        if len(mine) != 1:
            print(f"  record counts differ between clients: {mine}")
    with open("/proc/loadavg") as f:
        print(f"\nload average at end: {f.read().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
