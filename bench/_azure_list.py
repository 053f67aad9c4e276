"""The Azure part of ``bench/compute_list.py``: the ARM fixture seeded with
running VMs, and the two clients pointed at it.

* The server is the tests' fixture (``tests/servers/compute_azure.py``) with
  ``nodes`` running VMs in ``eastus``, each with a NIC and a public IP,
  listed ``page`` to a page; a token is planted for Libcloud.
* overcast: ``AzureNodeDriver(tenant, subscription, key, secret,
  endpoint=, authority=)``: one token request at warm-up, then per listing
  one request per page of each of VMs, their statuses (``statusOnly=true``),
  NICs and public IPs.
* Libcloud 3.9.1: ``AzureNodeDriver(tenant, subscription, key, secret)``, its
  connection pointed at the fixture (its constructor cannot take ``host=``:
  its connection class takes ``tenant_id`` where the base passes ``host``)
  and its token planted (it logs in at ``login.microsoftonline.com:443``,
  hard-coded); its ``list_nodes`` asks, per VM, the instance view, the NIC and
  the public IP (1 + 3N requests a page).
"""

from __future__ import annotations

import time
from typing import Any

LIBCLOUD_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.bench-libcloud-token"


def seeded_server(nodes: int, page: int) -> Any:
    """The fixture holding ``nodes`` running VMs, listing ``page`` to a page."""
    from servers.compute_azure import AzureComputeFixture

    fixture = AzureComputeFixture(page_size=page)
    fixture.tokens[LIBCLOUD_TOKEN] = time.time() + 86400
    fixture.seed(nodes, "bench")
    return fixture


def serving(fixture: Any, base: str) -> None:
    """Tell the fixture the URL it is served at (its nextLinks)."""
    fixture.base_url = base


def overcast_driver(base: str) -> Any:
    from overcast.compute.drivers.azure import AzureNodeDriver
    from servers.azure_arm import CLIENT_ID
    from servers.azure_arm import CLIENT_SECRET
    from servers.azure_arm import SUBSCRIPTION
    from servers.azure_arm import TENANT

    return AzureNodeDriver(TENANT, SUBSCRIPTION, CLIENT_ID, CLIENT_SECRET, endpoint=base,
                           authority=base, resource_group="overcast-compute")


def libcloud_driver(base: str) -> Any:
    import libcloud.common.azure_arm as arm
    from libcloud.compute.drivers.azure_arm import AzureNodeDriver

    from servers.azure_arm import CLIENT_ID
    from servers.azure_arm import CLIENT_SECRET
    from servers.azure_arm import SUBSCRIPTION
    from servers.azure_arm import TENANT

    def planted(connection: Any) -> None:
        connection.access_token = LIBCLOUD_TOKEN
        connection.expires_on = str(int(time.time()) + 86400)

    arm.AzureResourceManagementConnection.get_token_from_credentials = planted
    driver = AzureNodeDriver(TENANT, SUBSCRIPTION, CLIENT_ID, CLIENT_SECRET)
    host, port = base.removeprefix("http://").split(":")
    connection = driver.connection
    connection.host, connection.port, connection.secure = host, int(port), False
    connection.connect()
    return driver


if __name__ == "__main__":  # a quick check: both list every node
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(root / "src"), str(root / "tests")]
    fixture = seeded_server(500, 100)
    with fixture.api.serving() as url:
        serving(fixture, url)
        for client in (overcast_driver(url), libcloud_driver(url)):
            before = len(fixture.api.requests)
            start = time.process_time()
            listed = client.list_nodes()
            spent = time.process_time() - start
            print(f"{type(client).__module__}: {len(listed)} nodes, "
                  f"{len(fixture.api.requests) - before} requests, "
                  f"{spent / len(listed) * 1e6:.1f} us CPU per node (first listing)")
