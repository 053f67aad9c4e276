"""What a mypyc-compiled build gains: the pure package against a compiled copy.

The modules below are the ones mypyc compiles with every unit test still
passing (``PYTHONPATH=<compiled tree> pytest tests/unit``). They are copied with
the rest of the package to a temporary directory, compiled there with
``python -m mypyc`` (mypy's compiler, in the ``test`` extra; a C compiler is
needed), and ``bench/get_overhead.py`` then runs against each tree in turn, in
fresh processes, ``--rounds`` times: the small GET (sync and async, CRC32- and
MD5-checked) and the listing per key, CPU time, with the wire left out so that
only the client's own work is compared. The checkout is never modified.

What mypyc refuses, or compiles into something that fails the tests (mypyc
of mypy 2.4), and so is not in the list:

* ``runtime/runner.py`` and ``runtime/streams.py``: async generators are not
  implemented;
* the drivers and what they inherit from (``runtime/api.py``'s ``HttpApi``,
  ``auth/aws_sigv4.py``'s ``SigV4Hooks``, the area base classes): a compiled
  class cannot be subclassed by an interpreted one (third-party drivers, test
  transports) unless it opts out of the native layout, which gives up the gain;
* ``runtime/effects.py``: its ``@runtime_checkable`` protocol is refused at import;
* ``runtime/paging.py``: the generic, frozen, slotted ``Page`` dataclass fails
  at import;
* ``runtime/operation.py``: forward-referenced aliases lose ``__name__``;
* ``storage/checks.py``, ``storage/http.py``, ``dns/records.py``: compiled
  functions check argument types at run time and refuse what the tests pass
  deliberately wrong to see the documented error.

    python bench/compiled.py [--rounds 5] [--count 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Compiled with the unit suite passing (see above).
MODULES = ("overcast/runtime/policy.py", "overcast/runtime/redact.py", "overcast/xml.py")


def compiled_tree(into: Path) -> Path:
    """A copy of the package under ``into`` with :data:`MODULES` compiled."""
    shutil.copytree(ROOT / "src" / "overcast", into / "overcast",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    done = subprocess.run([sys.executable, "-m", "mypyc", *MODULES], cwd=into,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"mypyc failed:\n{(done.stdout + done.stderr)[-3000:]}")
    built = sorted(str(p.relative_to(into)) for p in (into / "overcast").rglob("*.so"))
    if len(built) != len(MODULES):
        sys.exit(f"mypyc built {built}, expected one extension per module of {MODULES}")
    return into


def measure(tree: Path, count: int) -> dict[str, float]:
    """One run of every cell of ``bench/get_overhead.py`` against ``tree``."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "get_overhead.py"), "--src", str(tree),
         "--count", str(count), "--repeat", "1", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    medians: dict[str, float] = json.loads(out)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"pure": ROOT / "src", "compiled": compiled_tree(Path(tmp))}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for round_ in range(args.rounds):  # alternate which tree goes first
            order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
            for name in order:
                runs[name].append(measure(trees[name], args.count))
    cells = list(runs["pure"][0])
    print(f"mypyc-compiled {', '.join(MODULES)} against the pure package; "
          f"{args.rounds} alternating rounds, median; load average {os.getloadavg()[0]:.2f}")
    print("| cell | pure µs/op | compiled µs/op | compiled / pure |\n|---|---:|---:|---:|")
    for cell in cells:
        pure = statistics.median(run[cell] for run in runs["pure"])
        compiled = statistics.median(run[cell] for run in runs["compiled"])
        print(f"| {cell} | {pure * 1e6:.1f} | {compiled * 1e6:.1f} | {compiled / pure:.2f} |")


if __name__ == "__main__":
    main()
