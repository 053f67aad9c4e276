"""A Libcloud-style Vultr program run under Apache Libcloud 3.9.1's
``VultrNodeDriverV2`` and under overcast's ``VultrNodeDriver`` against the same
fixture server (``servers.compute_vultr``): what it reads must be the same,
but for the differences ``docs/libcloud-compat.md`` states (``price`` per
hour, not per month; ``node.size`` in ``extra["plan"]``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from servers.compute_vultr import TOKEN
from servers.compute_vultr import VultrComputeServer
from servers.compute_vultr import serve

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl compat"
)


@pytest.fixture
def fake() -> Iterator[tuple[VultrComputeServer, str]]:
    with serve() as served:
        yield served


def program(driver: Any) -> dict[str, Any]:
    """Sizes, a region, an OS; a key; two instances made in Libcloud's
    positions, listed, rebooted; a volume attached and detached; all removed."""
    sizes = driver.list_sizes()
    ewr = next(loc for loc in driver.list_locations() if loc.id == "ewr")
    debian = next(i for i in driver.list_images() if str(i.id) == "2136")
    key = driver.import_key_pair_from_string("compat", PUBLIC_KEY)
    size = next(s for s in sizes if s.id == "vc2-1c-1gb")
    made = [driver.create_node(name, size, ewr, debian, ex_ssh_key_ids=[key.extra["id"]],
                               ex_userdata="#cloud-config\n", ex_hostname=f"{name}.example")
            for name in ("compat-a", "compat-b")]
    first = sorted((n.name, str(n.state)) for n in driver.list_nodes())
    nodes = sorted(driver.list_nodes(), key=lambda n: n.name)  # booted by now
    rebooted = driver.reboot_node(nodes[0])
    volume = driver.create_volume(10, "compat-vol", ewr)
    attached = driver.attach_volume(nodes[0], volume)
    detached = driver.detach_volume(volume)
    out = {
        "sizes": [(s.id, s.ram, s.disk, s.bandwidth, s.extra["vcpu_count"], s.extra["type"],
                   s.extra["locations"]) for s in sizes],
        "prices": {s.id: s.price for s in sizes},
        "location": (ewr.id, ewr.name, ewr.country, ewr.extra["continent"]),
        "image": (str(debian.id), debian.name, debian.extra["family"]),
        "key": (key.name, key.public_key, [k.name for k in driver.list_key_pairs()]),
        "created": [(n.name, str(n.state), n.public_ips) for n in made],
        "first": first,
        "nodes": [(n.name, str(n.state), n.public_ips, n.extra["location"], n.extra["ram"],
                   n.extra["vcpu_count"], n.extra["os"], n.extra["power_status"])
                  for n in nodes],
        "plans": [n.size if isinstance(n.size, str) else n.extra["plan"] for n in nodes],
        "volume": (volume.name, volume.size, str(volume.state), volume.extra["location"]),
        "actions": (rebooted, attached, detached, driver.destroy_volume(volume),
                    [driver.destroy_node(n) for n in nodes], driver.delete_key_pair(key)),
    }
    out["left"] = (driver.list_nodes(), driver.list_volumes(), driver.list_key_pairs())
    return out


def test_a_vultr_program_reads_the_same_under_both(fake: tuple[VultrComputeServer, str]) -> None:
    from libcloud.compute.drivers.vultr import VultrNodeDriverV2

    from overcast.compute import Provider
    from overcast.compute import get_driver

    server, endpoint = fake
    host, port = endpoint.removeprefix("http://").removesuffix("/v2").split(":")
    libcloud = program(VultrNodeDriverV2(TOKEN, secure=False, host=host, port=int(port)))
    sent_by_libcloud = [r.json() for r in server.requests
                        if r.method == "POST" and r.path == "/v2/instances"]
    before = len(server.requests)
    with get_driver(Provider.VULTR)(TOKEN, secure=False, host=host, port=int(port),
                                    poll_interval=0.01) as ours:
        overcast = program(ours)
    sent_by_overcast = [r.json() for r in server.requests[before:]
                        if r.method == "POST" and r.path == "/v2/instances"]

    # Libcloud's price is the month's; overcast's the hour's: the month over
    # the 672 hours Vultr bills at most (docs/libcloud-compat.md).
    assert libcloud.pop("prices")["vc2-1c-1gb"] == 5
    prices = overcast.pop("prices")
    assert prices["vc2-1c-1gb"] == 5 / 672 and prices["vc2-free-trial"] is None
    # A pending instance's main_ip is 0.0.0.0: Libcloud lists it as an
    # address, overcast lists none (docs/libcloud-compat.md).
    assert [ips for _, _, ips in libcloud.pop("created")] == [["0.0.0.0"]] * 2
    assert [ips for _, _, ips in overcast.pop("created")] == [[]] * 2
    assert libcloud == overcast
    assert overcast["first"] == [("compat-a", "pending"), ("compat-b", "pending")]
    assert overcast["nodes"][0][1:4] == ("running", ["127.0.0.1"], "ewr")
    assert overcast["left"] == ([], [], [])
    # The same create, but for overcast's token tag (and Libcloud's fixed flags).
    for theirs, mine in zip(sent_by_libcloud, sent_by_overcast, strict=True):
        assert [t for t in mine.pop("tags") if not t.startswith("overcast-token-")] == []
        for field in ("backups", "ddos_protection"):
            mine.pop(field)
        assert theirs.pop("os_id") == "2136" and mine.pop("os_id") == 2136  # the API's type
        assert len(theirs.pop("sshkey_id")) == len(mine.pop("sshkey_id")) == 1  # its own key
        assert theirs == mine
