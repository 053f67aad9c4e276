"""Cold start: whole processes, overcast against apache-libcloud, side by side.

Each one-liner runs as a process of its own, the way a script or a CLI call
starts:

* ``overcast``: ``from overcast.storage import Provider, get_driver;
  get_driver(Provider.S3)("AKIAEXAMPLE", "secret")``;
* ``libcloud``: the same with ``libcloud.storage.types`` and
  ``libcloud.storage.providers`` (apache-libcloud's S3 driver);
* ``import overcast``: the package alone (target: under 30 ms);
* ``python``: ``pass``, the interpreter's own start, for scale.

A round runs each once, the order turning from round to round, so a change
in the machine's speed reaches all alike. A process's CPU is its user +
system time as the kernel reports it at exit (``os.wait4``); its wall time is
from ``fork`` to exit. Reported: the median of each over ``--rounds`` rounds
(default 21) and the median of the rounds' ratios overcast / libcloud (target:
at most 0.6x).

Both packages are measured as installed: with their bytecode compiled, as
``pip install`` leaves them (``compileall`` is run on each package first,
since an editable checkout, or ``PYTHONDONTWRITEBYTECODE``, would otherwise
make every overcast process compile its sources, which no installed user
pays).

    python bench/cold_start.py [--rounds 21]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

COMMANDS = {
    "overcast": "from overcast.storage import Provider, get_driver; "
                "get_driver(Provider.S3)('AKIAEXAMPLE', 'secret')",
    "libcloud": "from libcloud.storage.types import Provider; "
                "from libcloud.storage.providers import get_driver; "
                "get_driver(Provider.S3)('AKIAEXAMPLE', 'secret')",
    "import overcast": "import overcast",
    "python": "pass",
}


def compile_package(name: str) -> Path:
    """Compile ``name``'s package to bytecode where it is installed; its folder."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    compileall.compile_dir(folder, quiet=1)
    return folder


def run(code: str) -> tuple[float, float]:
    """``(CPU seconds, wall seconds)`` of one process running ``code``."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.execv(sys.executable, [sys.executable, "-c", code])
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{code!r} failed: exit status {status}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    for name in ("overcast", "libcloud"):
        compile_package(name)
    names = list(COMMANDS)
    for name in names:  # warm the page cache
        run(COMMANDS[name])
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    ratios: list[float] = []
    for round_ in range(args.rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            spent, took = run(COMMANDS[name])
            cpu[name].append(spent)
            wall[name].append(took)
        ratios.append(cpu["overcast"][-1] / cpu["libcloud"][-1])
    print(f"cold start, {args.rounds} rounds in turn; load average at start "
          f"{os.getloadavg()[0]:.2f}; Python {sys.version.split()[0]}")
    print(f"  {'process':<18}{'CPU ms':>9}{'wall ms':>9}")
    for name in names:
        print(f"  {name:<18}{statistics.median(cpu[name]) * 1e3:>9.1f}"
              f"{statistics.median(wall[name]) * 1e3:>9.1f}")
    print(f"  overcast / libcloud CPU, median of the rounds' ratios: "
          f"{statistics.median(ratios):.2f}x (target at most 0.6x)")
    print(f"  import overcast, wall: {statistics.median(wall['import overcast']) * 1e3:.1f} ms "
          f"(target under 30 ms)")


if __name__ == "__main__":
    main()
