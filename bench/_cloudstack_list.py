"""The CloudStack part of ``bench/compute_list.py``: the fixture seeded with
running VMs, and the two clients pointed at it.

* The server is the tests' fixture (``tests/servers/compute_cloudstack.py``),
  which checks every request's signature, with ``nodes`` running VMs and
  CloudStack's ``default.page.size`` of 500; the API is at
  ``<base>/client/api``.
* overcast: ``CloudStackNodeDriver(key, secret, url=..., page_size=page)``:
  ``listVirtualMachines`` page by page (``page``/``pagesize``) until the
  answer's ``count``: 5 requests for 500 VMs in pages of 100.
* Libcloud 3.9.1: ``CloudStackNodeDriver(key, secret, False, host, path,
  port)``; its ``list_nodes`` sends no paging, so the server answers its
  ``default.page.size`` (500) in one page, and it asks
  ``listPublicIpAddresses``, ``listPortForwardingRules`` and
  ``listIpForwardingRules`` besides: 4 requests.

``python bench/_cloudstack_list.py`` lists once with each and prints what
it cost (a quick check: the server runs in the same process, so its CPU is
counted too; the benchmark proper, each in its own process, is
``compute_list.py``'s).
"""

from __future__ import annotations

import time
from typing import Any

PATH = "/client/api"


def seeded_server(nodes: int) -> Any:
    """The fixture holding ``nodes`` running VMs (serve it with ``.serving()``)."""
    from servers.compute_cloudstack import CloudStackServer

    server = CloudStackServer()  # default.page.size 500, CloudStack's default
    for n in range(nodes):
        server.seed_vm(f"bench-{n:04d}")
    return server


def overcast_driver(base: str, page: int) -> Any:
    """overcast's driver on the fixture served at ``base``, ``page`` VMs a page."""
    from overcast.compute.drivers.cloudstack import CloudStackNodeDriver
    from servers.compute_cloudstack import API_KEY
    from servers.compute_cloudstack import SECRET_KEY

    return CloudStackNodeDriver(API_KEY, SECRET_KEY, url=f"{base}{PATH}", page_size=page)


def libcloud_driver(base: str) -> Any:
    """Libcloud 3.9.1's driver on the fixture served at ``base`` (it cannot page)."""
    from libcloud.compute.drivers.cloudstack import CloudStackNodeDriver

    from servers.compute_cloudstack import API_KEY
    from servers.compute_cloudstack import SECRET_KEY

    host, port = base.removeprefix("http://").split(":")
    return CloudStackNodeDriver(API_KEY, SECRET_KEY, False, host, PATH, int(port))


if __name__ == "__main__":  # a quick check: both list every node
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(root / "src"), str(root / "tests")]
    fixture = seeded_server(500)
    with fixture.serving() as url:
        for client in (overcast_driver(url, 100), libcloud_driver(url)):
            client.list_nodes()  # warm-up
            before = len(fixture.requests)
            start = time.process_time()
            listed = client.list_nodes()
            spent = time.process_time() - start
            print(f"{type(client).__module__}: {len(listed)} nodes, "
                  f"{len(fixture.requests) - before} requests, "
                  f"{spent / len(listed) * 1e6:.1f} us CPU per node")
