"""The Compute Engine driver on the scripted transport: what it sends and how
it reads the answers, in both modes, without a server (the metadata server's
token first, then the API)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.drivers.gce import GCENodeDriver
from overcast.compute.drivers.gce import QuotaExceeded
from overcast.compute.drivers.gce import size_price
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

META = "http://metadata.test"
API = "https://compute.test/compute/v1/projects/p"
ZONE = "us-central1-a"
FLAVOR = {"Metadata-Flavor": "Google"}
SIZE = NodeSize("9001", "e2-small", 2048, 0, extra={"zone": ZONE})
IMAGE = NodeImage("5", "debian-12", extra={
    "selfLink": "https://compute.test/compute/v1/projects/debian-cloud/global/images/debian-12",
    "project": "debian-cloud"})
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"


TOKEN = "0123456789abcdef0123456789abcdef"
REQUEST_ID = str(uuid.UUID(TOKEN))


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    import overcast.compute.base

    monkeypatch.setattr(overcast.compute.base, "request_token", lambda: TOKEN)
    return str(request.param)


def driver(script: Script, **options: Any) -> GCENodeDriver:
    return GCENodeDriver(datacenter=ZONE, project="p", metadata_endpoint=META,
                         endpoint="https://compute.test/compute/v1", poll_interval=0.01,
                         **script.options(), **options)


def token(script: Script) -> None:
    script.expect("GET", f"{META}/computeMetadata/v1/instance/service-accounts/default/token",
                  headers=FLAVOR).reply(200, json={"access_token": "ya29.t", "expires_in": 3599,
                                                   "token_type": "Bearer"}, headers=FLAVOR)


def op(status: str, **more: Any) -> dict[str, Any]:
    return {"kind": "compute#operation", "name": "operation-1", "status": status,
            "zone": f"{API}/zones/{ZONE}", "operationType": "insert",
            "targetLink": f"{API}/zones/{ZONE}/instances/web", **more}


INSTANCE = {"id": "42", "name": "web", "zone": f"{API}/zones/{ZONE}", "status": "RUNNING",
            "machineType": f"{API}/zones/{ZONE}/machineTypes/e2-small",
            "tags": {"fingerprint": "f"}, "labels": {}, "disks": [],
            "networkInterfaces": [{"networkIP": "10.0.0.2",
                                   "accessConfigs": [{"natIP": "203.0.113.9"}]}]}


def test_create_node_sends_an_insert_with_a_request_id_and_waits_for_it(mode: str) -> None:
    script = Script()
    token(script)
    bodies: list[Any] = []
    script.expect("POST", f"{API}/zones/{ZONE}/instances", params={"requestId": REQUEST_ID},
                  headers={"Authorization": "Bearer ya29.t"},
                  match=lambda sent: bodies.append(sent.json()) is None).reply(
        200, json=op("PENDING"))
    script.expect("GET", f"{API}/zones/{ZONE}/operations/operation-1").reply(
        200, json=op("RUNNING"))
    script.expect("GET", f"{API}/zones/{ZONE}/operations/operation-1").reply(
        200, json=op("DONE"))
    script.expect("GET", f"{API}/zones/{ZONE}/instances/web").reply(200, json=INSTANCE)
    node = call(mode, driver(script), "create_node", "web", SIZE, IMAGE,
                auth=NodeAuthSSHKey(KEY), ex_ssh_username="ana", ex_tags=["http"])
    script.assert_done()
    assert node.id == "42" and node.state == NodeState.RUNNING
    assert node.public_ips == ["203.0.113.9"] and node.private_ips == ["10.0.0.2"]
    [body] = bodies
    assert body["machineType"] == f"zones/{ZONE}/machineTypes/e2-small"
    assert body["disks"][0]["initializeParams"]["sourceImage"] == IMAGE.extra["selfLink"]
    assert body["metadata"] == {"items": [{"key": "ssh-keys", "value": f"ana:{KEY}"}]}
    assert body["tags"] == {"items": ["http"]}
    assert body["networkInterfaces"] == [{"network": "global/networks/default", "accessConfigs": [
        {"name": "External NAT", "type": "ONE_TO_ONE_NAT"}]}]
    assert body["serviceAccounts"] == [{"email": "default", "scopes": [
        "https://www.googleapis.com/auth/devstorage.read_only"]}]


def test_a_lost_insert_is_resent_with_the_same_request_id(mode: str) -> None:
    script = Script()
    token(script)
    insert = (f"{API}/zones/{ZONE}/instances", {"requestId": REQUEST_ID})
    script.expect("POST", insert[0], params=insert[1]).fail(sent=True)
    script.expect("POST", insert[0], params=insert[1]).reply(200, json=op("DONE"))
    script.expect("GET", f"{API}/zones/{ZONE}/instances/web").reply(200, json=INSTANCE)
    call(mode, driver(script, retry=RetryPolicy(base=0.001)), "create_node", "web", SIZE, IMAGE)
    script.assert_done()  # both inserts carried the same requestId


def test_an_operation_done_with_errors_raises_by_its_code(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("POST", f"{API}/zones/{ZONE}/instances",
                  params={"requestId": REQUEST_ID}).reply(200, json=op("DONE", error={
        "errors": [{"code": "QUOTA_EXCEEDED", "message": "Quota 'CPUS' exceeded."}]},
        httpErrorStatusCode=403))
    with pytest.raises(QuotaExceeded, match="Quota 'CPUS' exceeded") as caught:
        call(mode, driver(script), "create_node", "web", SIZE, IMAGE)
    assert caught.value.code == "QUOTA_EXCEEDED"
    script.assert_done()


def test_aggregated_listings_flatten_every_zone_and_follow_the_token(mode: str) -> None:
    script = Script()
    token(script)
    other = {**INSTANCE, "id": "43", "name": "db", "zone": f"{API}/zones/europe-west1-b"}
    script.expect("GET", f"{API}/aggregated/instances", params={"maxResults": "500"}).reply(
        200, json={"items": {f"zones/{ZONE}": {"instances": [INSTANCE]},
                             "zones/asia-east1-a": {"warning": {"code": "NO_RESULTS_ON_PAGE"}}},
                   "nextPageToken": "t2"})
    script.expect("GET", f"{API}/aggregated/instances",
                  params={"maxResults": "500", "pageToken": "t2"}).reply(
        200, json={"items": {"zones/europe-west1-b": {"instances": [other]}}})
    nodes = call(mode, driver(script), "list_nodes", "all")
    assert [(n.name, n.extra["zone"]) for n in nodes] == [("web", ZONE), ("db", "europe-west1-b")]
    script.assert_done()


def test_a_missing_instance_is_node_not_found(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{API}/zones/{ZONE}/instances/nope").reply(404, json={"error": {
        "code": 404, "message": "The resource 'x' was not found", "status": "NOT_FOUND",
        "errors": [{"reason": "notFound", "message": "not found"}]}})
    with pytest.raises(NodeNotFound):
        call(mode, driver(script), "get_node", "nope")
    script.assert_done()


def test_an_answer_without_the_flavor_header_is_not_a_metadata_server(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{META}/computeMetadata/v1/instance/service-accounts/default/token"
                  ).reply(200, json={"access_token": "x", "expires_in": 60})
    with pytest.raises(InvalidCredentials, match="not a GCE metadata server"):
        call(mode, driver(script), "list_locations")
    script.assert_done()


@pytest.mark.parametrize("options", [{"ex_metadata": ["x"]}, {"ex_labels": {"A": "b"}},
                                     {"ex_tags": ["Bad_Tag"]}, {"external_ip": "ephemeral",
                                                                "ex_disk_size": -1}])
def test_invalid_creates_send_nothing(mode: str, options: dict[str, Any]) -> None:
    script = Script()
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_node", "web", SIZE, IMAGE, **options)
    assert script.received == []


def _rates(cpu: float, ram: float) -> dict[str, Any]:
    return {"cpu": {"on_demand": {"r1": {"price": cpu}}},
            "ram": {"on_demand": {"r1": {"price": ram}}}}


def test_prices_from_family_rates() -> None:
    # Libcloud's gce_instances nesting, as overcast.pricing's snapshot holds it.
    snapshot = {"prices": {"n2d": _rates(1.0, 0.5), "n2": _rates(2.0, 1.0),
                           "e2": _rates(1.0, 0.25),
                           "f1": {"cpu": {"on_demand": {"r1": {"price": 0.0076}}}}}}
    assert size_price("n2d-standard-2", 2, 8192, "r1", snapshot) == 2 * 1.0 + 8 * 0.5
    assert size_price("n2-standard-2", 2, 8192, "r1", snapshot) == 2 * 2.0 + 8 * 1.0
    assert size_price("e2-micro", 2, 1024, "r1", snapshot) == 0.25 * 1.0 + 1 * 0.25
    assert size_price("f1-micro", 1, 614, "r1", snapshot) == 0.0076  # per instance
    assert size_price("n2-custom-2-4096", 2, 4096, "r1", snapshot) is None
    assert size_price("c3-standard-4", 4, 16384, "r1", snapshot) is None
    assert size_price("n2-standard-2", 2, 8192, "r9", snapshot) is None
