"""Peak memory of ``python -m overcast.pricing refresh --only aws`` on one
AWS offer file of realistic shape and size (default 200 MB).

The file is written by the tests' fixture (``tests/servers/pricing_aws.py``:
products with AWS's ~35 attributes, OnDemand and Reserved terms per SKU,
pretty-printed as AWS serves it) and served from disk by that fixture on
127.0.0.1. The refresh runs in a process of its own, which reports its own
peak resident set size as it ends (``VmHWM`` of ``/proc/self/status``; a
child's ``ru_maxrss`` would also count its parent's pages at the fork), beside
that of a process that only imports the refresh code, so the difference is
what reading the file costs. Target: under 300 MB.

    python bench/pricing_rss.py [--mb 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from servers.pricing_aws import REGIONS  # noqa: E402
from servers.pricing_aws import AwsPriceList  # noqa: E402

#: Bytes one unpriced product adds to the fixture's file (product, OnDemand, Reserved).
BYTES_PER_PRODUCT = 5530


#: Run a module as ``python -m`` does, then print the process's own peak RSS.
PEAK = """
import runpy, sys
try:
    runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as status:
        sys.stderr.write(next(line for line in status if line.startswith("VmHWM")))
"""


def peak_rss(module: str, *args: str) -> tuple[int, int, float]:
    """Run ``python -m module args``; (exit code, its peak RSS in bytes, wall seconds)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, module, *args], env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
    return done.returncode, int(lines[-1].split()[1]) * 1024, elapsed  # "VmHWM: N kB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the offer file (MB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        offers = Path(tmp, "offers")
        out = Path(tmp, "out")
        offers.mkdir()
        out.mkdir()
        noise = args.mb * 1_000_000 // BYTES_PER_PRODUCT
        fixture = AwsPriceList(str(offers), {"us-east-1": REGIONS["us-east-1"]}, noise=noise)
        size = os.path.getsize(fixture.files["us-east-1"])
        with fixture.serving() as url:
            code, refresh, seconds = peak_rss(
                "overcast.pricing", "refresh", "--only", "aws", "--aws-url", url,
                "--out", str(out))
        _, baseline, _ = peak_rss("overcast.pricing.refresh")
        print(f"offer file: {size / 1e6:.0f} MB, {noise + 6 * len(REGIONS['us-east-1'])} "
              "products")
        print(f"refresh --only aws: exit {code}, peak RSS {refresh / 2**20:.0f} MiB, "
              f"{seconds:.1f} s")
        print(f"import alone: peak RSS {baseline / 2**20:.0f} MiB; reading the file costs "
              f"{(refresh - baseline) / 2**20:.0f} MiB")
        print("target: under 300 MB:", "met" if code == 0 and refresh < 300e6 else "NOT met")


if __name__ == "__main__":
    main()
