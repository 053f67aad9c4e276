"""Zone-file import: a 10,000-record zone into the zone-file driver and PowerDNS.

``import_zone_from_bind_format`` checks every set first, then writes them in as
few writes as the provider allows: one file write for the zone-file driver, one
``PATCH`` for PowerDNS. This measures the whole operation (parse, checks, the
reads that find the zone and its sets, the write) on a generated zone of
``--records`` record sets of five types (A, AAAA, TXT, MX, CNAME), each import
into a new zone, and checks that every set arrived.

* ``zonefile``: a ``ZoneFileDNSDriver`` on a temporary directory;
* ``powerdns``: a real ``pdns_server`` (gsqlite3 backend) started here, as the
  tests start it (skipped, with a note, if PowerDNS is not installed);
* ``--baseline REV``: the zone-file driver as of another commit, on
  ``--baseline-records`` sets (an import there may cost a file rewrite a set,
  so its time grows with the square of the zone's size), in a subprocess that
  imports overcast from ``git archive REV``.

Each is run ``--repeat`` times; the median wall and CPU time are reported.

    python bench/dns_import.py [--records 10000] [--repeat 3] [--no-powerdns]
                               [--baseline REV [--baseline-records 1000]]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def zone_text(domain: str, records: int) -> str:
    """A master file of ``records`` record sets (and the zone's SOA and NS)."""
    lines = [f"$ORIGIN {domain}", "$TTL 3600",
             f"@ IN SOA ns1.{domain} hostmaster.{domain} 1 7200 900 1209600 300",
             f"@ IN NS ns1.{domain}"]
    for i in range(records):
        kind = i % 5
        if kind == 0:
            lines.append(f"h{i} IN A 192.0.{i // 250 % 256}.{i % 250 + 1}")
        elif kind == 1:
            lines.append(f"h{i} 300 IN AAAA 2001:db8::{i:x}")
        elif kind == 2:
            lines.append(f'h{i} IN TXT "v=spf1 include:_spf{i}.example.net -all"')
        elif kind == 3:
            lines.append(f"h{i} IN MX {i % 50} mail{i}.example.net.")
        else:
            lines.append(f"h{i} IN CNAME h{i - 4}")
    return "\n".join(lines) + "\n"


def timed(run: Any) -> dict[str, float]:
    """Wall and CPU seconds of ``run()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def bench_zonefile(records: int, repeat: int) -> list[dict[str, float]]:
    """Imports into a new zone of a zone-file driver, ``repeat`` times."""
    from overcast.dns.drivers.zonefile import ZoneFileDNSDriver

    cells = []
    for n in range(repeat):
        with tempfile.TemporaryDirectory(prefix="overcast-bench-") as tmp:
            driver = ZoneFileDNSDriver(tmp)
            text = zone_text(f"zone{n}.bench.test.", records)
            cells.append(timed(lambda d=driver, t=text: d.import_zone_from_bind_format(t)))
            listed = driver.list_record_sets(driver.get_zone(f"zone{n}.bench.test."))
            assert len(listed) == records + 2, f"{len(listed)} sets listed"  # with SOA, NS
    return cells


def bench_powerdns(records: int, repeat: int) -> list[dict[str, float]] | str:
    """Imports into new zones of a real PowerDNS server; a note if there is none."""
    sys.path.insert(0, str(ROOT / "tests"))
    from servers import dns_powerdns

    if not os.path.exists(dns_powerdns.PDNS_SERVER):
        return f"skipped: no {dns_powerdns.PDNS_SERVER}"
    server = dns_powerdns.start()
    try:
        cells = []
        with server.driver() as driver:
            for n in range(repeat):
                domain = f"zone{n}.bench.test."
                text = zone_text(domain, records)
                cells.append(timed(lambda t=text: driver.import_zone_from_bind_format(t)))
                listed = driver.list_record_sets(driver.get_zone(domain))
                assert len(listed) == records + 1, f"{len(listed)} sets listed"  # with SOA
        return cells
    finally:
        server.stop()


def bench_baseline(rev: str, records: int, repeat: int) -> list[dict[str, float]]:
    """The zone-file runs with overcast as of ``rev``, in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="overcast-baseline-") as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--records", str(records),
             "--repeat", str(repeat)],
            check=True, capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": os.path.join(tree, "src")},
        ).stdout
    cells: list[dict[str, float]] = json.loads(out)
    return cells


def row(label: str, records: int, cells: list[dict[str, float]]) -> str:
    wall = statistics.median(c["wall"] for c in cells)
    cpu = statistics.median(c["cpu"] for c in cells)
    return (f"| {label} | {records:,} | {wall:.2f} s | {cpu:.2f} s | "
            f"{wall / records * 1e6:,.0f} µs | {len(cells)} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-powerdns", action="store_true")
    parser.add_argument("--baseline", metavar="REV")
    parser.add_argument("--baseline-records", type=int, default=1_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # overcast comes from PYTHONPATH: the baseline's tree
        print(json.dumps(bench_zonefile(args.records, args.repeat)))
        return 0
    sys.path.insert(0, str(ROOT / "src"))
    print(f"### bench/dns_import.py: {args.records:,} record sets, median of {args.repeat}\n")
    print("| driver | record sets | wall | CPU | wall per set | runs |")
    print("|---|---:|---:|---:|---:|---:|")
    print(row("zonefile", args.records, bench_zonefile(args.records, args.repeat)), flush=True)
    if not args.no_powerdns:
        cells = bench_powerdns(args.records, args.repeat)
        print(f"| powerdns | {cells} |" if isinstance(cells, str)
              else row("powerdns (real pdns_server)", args.records, cells), flush=True)
    if args.baseline:
        cells = bench_baseline(args.baseline, args.baseline_records, args.repeat)
        print(row(f"zonefile@{args.baseline}", args.baseline_records, cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
