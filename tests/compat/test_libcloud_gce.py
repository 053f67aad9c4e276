"""A Libcloud-style Compute Engine program run under Apache Libcloud 3.9.1 and
under overcast against the same fixture server (``servers.compute_gce``):
what it reads must be the same.

Libcloud's ``GCENodeDriver`` cannot be pointed at another host by its
constructor (it hands ``host`` to its connection where that takes
``auth_type``), and reads its token from its credential file (its token
cache): the test writes one holding a token the fixture accepts, then points
the connection at the fixture. overcast's driver takes the same service
account the Libcloud way, ``GCENodeDriver(email, key_file, project=...)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.compute_gce import PROJECT
from servers.compute_gce import ZONE
from servers.compute_gce import GCEServer
from servers.dns_google import CLIENT_EMAIL
from servers.dns_google import key_file
from servers.dns_google import private_key

TOKEN = "ya29.compat-libcloud"


@pytest.fixture
def fake() -> Iterator[tuple[GCEServer, str]]:
    server = GCEServer()
    # Links name Compute Engine's host, as real answers do: Libcloud reads a
    # zone link as a name unless it starts with https://.
    server.state.base_url = "https://compute.googleapis.com"
    server.auth.accounts[CLIENT_EMAIL] = private_key().public_key()
    server.auth.tokens[TOKEN] = time.time() + 3600
    with server.serving() as base:
        server.auth.base_url = base
        yield server, base


def program(driver: Any, image_family: str) -> dict[str, Any]:
    """Make two nodes, read them back, stop one, and read the catalogue.
    (Libcloud 3.9.1 searches the public projects for a family by its own
    list of name prefixes, which stops at ``debian-10``: the program names the
    project. overcast searches every public project it knows.)"""
    size = next(s for s in driver.list_sizes(driver.ex_get_zone(ZONE)) if s.name == "e2-small")
    image = driver.ex_get_image_from_family(image_family, ["debian-cloud"])
    made = [driver.create_node(name, size, image, driver.ex_get_zone(ZONE),
                               ex_metadata={"items": [{"key": "role", "value": "web"}]},
                               ex_tags=["web"], ex_labels={"env": "compat"})
            for name in ("compat-a", "compat-b")]
    driver.ex_stop_node(made[1])
    nodes = sorted(driver.list_nodes(), key=lambda n: n.name)
    return {
        "nodes": [(n.name, n.id, str(n.state), n.public_ips, len(n.private_ips), n.extra["tags"],
                   n.extra["labels"], n.extra["status"]) for n in nodes],
        "image": (image.name, image.id),
        "sizes": sorted(s.name for s in driver.list_sizes(driver.ex_get_zone(ZONE))),
        "zone": driver.ex_get_zone(ZONE).name,
        "family": driver.ex_get_image_from_family(image_family, ["debian-cloud"]).name,
    }


def test_a_compute_engine_program_reads_the_same_under_both(
        fake: tuple[GCEServer, str], tmp_path: Path) -> None:
    from libcloud.compute.drivers.gce import GCENodeDriver as LibcloudGCE

    from overcast.compute import Provider
    from overcast.compute import get_driver

    server, base = fake
    credentials = key_file(tmp_path, server.auth)  # type: ignore[arg-type]
    cache = tmp_path / "libcloud-token.json"
    cache.write_text(json.dumps({
        "access_token": TOKEN, "token_type": "Bearer",
        "expire_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))}))
    theirs = LibcloudGCE(CLIENT_EMAIL, str(credentials), project=PROJECT, auth_type="SA",
                         credential_file=str(cache))
    host, port = base.removeprefix("http://").split(":")
    theirs.connection.host, theirs.connection.port = host, int(port)
    theirs.connection.secure = False
    theirs.connection.poll_interval = 0.01  # Libcloud's pause between operation polls
    theirs.connection.connect()
    libcloud = program(theirs, "debian-12")
    for instance in list(server.state.instances):  # the same names again, for overcast
        del server.state.instances[instance]
    server.state.disks.clear()
    ours = get_driver(Provider.GCE)(CLIENT_EMAIL, str(credentials), project=PROJECT,
                                    endpoint=f"{base}/compute/v1", poll_interval=0.01)
    with ours:
        overcast = program(ours, "debian-12")
    # Instance ids and private addresses differ (the server numbers each
    # insert); the rest is the same.
    # A stopped instance's access config has no natIP: Libcloud lists None as a
    # public address, overcast none (docs/libcloud-compat.md).
    assert libcloud["nodes"][1][3] == [None] and overcast["nodes"][1][3] == []

    def same(node: tuple[Any, ...]) -> tuple[Any, ...]:
        return (node[0], node[2], [ip for ip in node[3] if ip], *node[4:])

    assert [same(n) for n in libcloud["nodes"]] == [same(n) for n in overcast["nodes"]]
    assert [n[0] for n in overcast["nodes"]] == ["compat-a", "compat-b"]
    assert overcast["nodes"][1][2] == "stopped" and overcast["nodes"][0][2] == "running"
    assert {k: v for k, v in libcloud.items() if k != "nodes"} == \
        {k: v for k, v in overcast.items() if k != "nodes"}
