"""The EC2 compute driver on the scripted transport: the Query API requests it
sends and how it reads the answers, in both modes, without a server."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from overcast.compute.base import KeyPair
from overcast.compute.base import Node
from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.base import StorageVolume
from overcast.compute.drivers.ec2 import TOKEN_TAG
from overcast.compute.drivers.ec2 import EC2NodeDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import VolumeNotFound
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import Sent
from overcast.testing import call

API = "https://ec2.us-east-1.amazonaws.com/"
VERSION = ("Version", "2016-11-15")
SIZE = NodeSize("t2.micro", "t2.micro", 1024, 0)
IMAGE = NodeImage("ami-785db401", "ubuntu")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The request token every create of the test carries."""
    monkeypatch.setattr("overcast.compute.base.request_token", lambda: "tok-1")
    return "tok-1"


def driver(script: Script, **options: Any) -> EC2NodeDriver:
    return EC2NodeDriver("AKIDUNIT", "unit-secret", page_size=2, **options, **script.options())


def answer(action: str, inner: str = "") -> str:
    """An EC2 answer document for ``action``."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><{action}Response '
            f'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>'
            f"{inner}</{action}Response>")


def fault(code: str, message: str, request_id: str = "req-err") -> str:
    return (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>")


def tag_set(tags: dict[str, str]) -> str:
    inner = "".join(f"<item><key>{k}</key><value>{v}</value></item>" for k, v in tags.items())
    return f"<tagSet>{inner}</tagSet>"


def instance(instance_id: str, name: str, state: str = "running", **tags: str) -> str:
    return (f"<item><instanceId>{instance_id}</instanceId><imageId>{IMAGE.id}</imageId>"
            f"<instanceState><code>16</code><name>{state}</name></instanceState>"
            f"<instanceType>t2.micro</instanceType><ipAddress>203.0.113.7</ipAddress>"
            f"<privateIpAddress>10.0.0.7</privateIpAddress>"
            f"{tag_set({'Name': name, **tags})}</item>")


def reservations(*instances: str) -> str:
    return "".join(f"<item><reservationId>r-{i}</reservationId><ownerId>123</ownerId>"
                   f"<instancesSet>{body}</instancesSet></item>"
                   for i, body in enumerate(instances))


def describe(action: str, *params: tuple[str, str]) -> list[tuple[str, str]]:
    return [("Action", action), VERSION, *params]


def form(action: str, **wanted: str) -> Callable[[Sent], bool]:
    """A POST body for ``action`` holding (at least) ``wanted``."""

    def check(sent: Sent) -> bool:
        body = dict(parse_qsl(sent.text))
        return body.get("Action") == action and all(body.get(k) == v for k, v in wanted.items())

    return check


def posted(script: Script, action: str) -> list[dict[str, str]]:
    """The form bodies of every ``action`` the driver sent."""
    bodies = [dict(parse_qsl(sent.text)) for sent in script.received if sent.method == "POST"]
    return [body for body in bodies if body.get("Action") == action]


# -- nodes -------------------------------------------------------------------------------------


def test_nodes_are_listed_page_by_page(mode: str) -> None:
    script = Script()
    first = reservations(instance("i-1", "one"), instance("i-2", "two"))
    second = reservations(instance("i-3", "three", "stopped"))
    script.expect("GET", API, params=describe("DescribeInstances", ("MaxResults", "2"))).reply(
        200, text=answer("DescribeInstances", f"<reservationSet>{first}</reservationSet>"
                                              "<nextToken>page-2</nextToken>"))
    script.expect("GET", API, params=describe("DescribeInstances", ("MaxResults", "2"),
                                              ("NextToken", "page-2"))).reply(
        200, text=answer("DescribeInstances", f"<reservationSet>{second}</reservationSet>"))
    nodes = call(mode, driver(script), "list_nodes")
    assert [(n.id, n.name, n.state) for n in nodes] == [
        ("i-1", "one", NodeState.RUNNING), ("i-2", "two", NodeState.RUNNING),
        ("i-3", "three", NodeState.STOPPED)]
    assert nodes[0].public_ips == ["203.0.113.7"] and nodes[0].private_ips == ["10.0.0.7"]
    script.assert_done()


def test_a_next_token_sent_twice_is_an_error_not_a_loop(mode: str) -> None:
    script = Script()
    page = answer("DescribeInstances", f"<reservationSet>{reservations(instance('i-1', 'a'))}"
                                       "</reservationSet><nextToken>again</nextToken>")
    script.expect("GET", API, params=describe("DescribeInstances", ("MaxResults", "2"))).reply(
        200, text=page)
    script.expect("GET", API, params=describe("DescribeInstances", ("MaxResults", "2"),
                                              ("NextToken", "again"))).reply(200, text=page)
    with pytest.raises(ProviderError, match="sent the token 'again' a second time"):
        call(mode, driver(script), "list_nodes")
    script.assert_done()


def test_get_node_and_a_missing_one(mode: str) -> None:
    script = Script()
    web = reservations(instance("i-1", "web"))
    script.expect("GET", API, params=describe("DescribeInstances", ("InstanceId.1", "i-1"))).reply(
        200, text=answer("DescribeInstances", f"<reservationSet>{web}</reservationSet>"))
    script.expect("GET", API, params=describe("DescribeInstances", ("InstanceId.1", "i-0"))).reply(
        400, text=fault("InvalidInstanceID.NotFound", "The instance ID 'i-0' does not exist"))
    made = driver(script)
    assert call(mode, made, "get_node", "i-1").name == "web"
    with pytest.raises(NodeNotFound, match="i-0"):
        call(mode, made, "get_node", "i-0")
    with pytest.raises(NodeNotFound):  # cannot be an id: nothing sent
        call(mode, made, "get_node", "bad id\n")
    script.assert_done()


def test_create_node_carries_its_token_as_client_token_and_tag(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("RunInstances", ImageId=IMAGE.id,
                                          InstanceType="t2.micro", MinCount="1")).reply(
        200, text=answer("RunInstances", f"<reservationId>r-9</reservationId><instancesSet>"
                                         f"{instance('i-9', 'web', 'pending')}</instancesSet>"))
    node = call(mode, driver(script), "create_node", "web", SIZE, IMAGE, ex_tags={"team": "a"})
    [sent] = posted(script, "RunInstances")
    token = sent["ClientToken"]
    tags = {sent[k]: sent[k[:-3] + "Value"] for k in sent
            if k.startswith("TagSpecification.1.Tag.") and k.endswith(".Key")}
    assert tags == {"team": "a", "Name": "web", TOKEN_TAG: token}
    assert (node.id, node.name, node.state) == ("i-9", "web", NodeState.PENDING)
    assert node.extra["tags"][TOKEN_TAG] == token
    script.assert_done()


def by_token(token: str) -> list[tuple[str, str]]:
    return describe("DescribeInstances", ("Filter.1.Name", f"tag:{TOKEN_TAG}"),
                    ("Filter.1.Value.1", token), ("MaxResults", "2"))


def test_a_create_whose_answer_is_lost_is_found_by_its_token(mode: str, token: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("RunInstances", ClientToken=token)).fail(sent=True)
    script.expect("GET", API, params=by_token(token)).reply(
        200, text=answer("DescribeInstances",
                         f"<reservationSet>{reservations(instance('i-5', 'lost'))}"
                         "</reservationSet>"))
    node = call(mode, driver(script), "create_node", "lost", SIZE, IMAGE)
    assert node.id == "i-5"
    assert len(posted(script, "RunInstances")) == 1  # found, not sent again
    script.assert_done()


def test_a_create_lost_before_it_was_made_is_sent_again_with_the_same_token(
    mode: str, token: str
) -> None:
    script = Script()
    script.expect("POST", API, match=form("RunInstances", ClientToken=token)).fail(sent=True)
    script.expect("GET", API, params=by_token(token)).reply(
        200, text=answer("DescribeInstances", "<reservationSet/>"))
    script.expect("POST", API, match=form("RunInstances", ClientToken=token)).reply(
        200, text=answer("RunInstances", f"<instancesSet>{instance('i-6', 'again')}"
                                         "</instancesSet>"))
    node = call(mode, driver(script), "create_node", "again", SIZE, IMAGE)
    first, second = posted(script, "RunInstances")
    assert node.id == "i-6" and first["ClientToken"] == second["ClientToken"]
    script.assert_done()


@pytest.mark.parametrize(("op", "action"), [("reboot_node", "RebootInstances"),
                                            ("stop_node", "StopInstances"),
                                            ("start_node", "StartInstances"),
                                            ("destroy_node", "TerminateInstances")])
def test_node_actions(mode: str, op: str, action: str) -> None:
    script = Script()
    script.expect("POST", API, match=form(action, **{"InstanceId.1": "i-1"})).reply(
        200, text=answer(action, "<return>true</return>"))
    node = Node("i-1", "web", NodeState.RUNNING)
    assert call(mode, driver(script), op, node) is True
    script.assert_done()


# -- volumes, snapshots, key pairs, images ------------------------------------------------------


def volume_item(volume_id: str, name: str, status: str = "available") -> str:
    return (f"<volumeId>{volume_id}</volumeId><size>3</size><status>{status}</status>"
            f"<availabilityZone>us-east-1a</availabilityZone>{tag_set({'Name': name})}")


def test_create_volume_in_a_given_zone_with_its_token(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("CreateVolume", Size="3",
                                          AvailabilityZone="us-east-1b")).reply(
        200, text=answer("CreateVolume", volume_item("vol-1", "data", "creating")))
    volume = call(mode, driver(script), "create_volume", 3, "data",
                  NodeLocation("us-east-1b", "us-east-1b"))
    assert (volume.id, volume.name, volume.size) == ("vol-1", "data", 3)
    [sent] = posted(script, "CreateVolume")
    assert TOKEN_TAG in sent.values() and sent["ClientToken"] in sent.values()
    script.assert_done()


def test_a_volume_is_listed_and_a_missing_one_is_volume_not_found(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=describe("DescribeVolumes", ("MaxResults", "2"))).reply(
        200, text=answer("DescribeVolumes", f"<volumeSet><item>{volume_item('vol-1', 'a')}"
                                            "</item></volumeSet>"))
    script.expect("GET", API, params=describe("DescribeVolumes", ("VolumeId.1", "vol-0"))).reply(
        400, text=fault("InvalidVolume.NotFound", "The volume 'vol-0' does not exist."))
    made = driver(script)
    assert [v.id for v in call(mode, made, "list_volumes")] == ["vol-1"]
    with pytest.raises(VolumeNotFound):
        call(mode, made, "get_volume", "vol-0")
    script.assert_done()


def test_snapshot_a_volume(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("CreateSnapshot", VolumeId="vol-1",
                                          Description="nightly")).reply(
        200, text=answer("CreateSnapshot", "<snapshotId>snap-1</snapshotId><volumeId>vol-1"
                                           "</volumeId><status>pending</status>"))
    snapshot = call(mode, driver(script), "create_volume_snapshot",
                    StorageVolume("vol-1", "a", 3), "nightly")
    assert (snapshot.id, snapshot.name, snapshot.extra["volume_id"]) == ("snap-1", "nightly",
                                                                         "vol-1")
    script.assert_done()


def test_import_a_key_pair_and_a_duplicate(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("ImportKeyPair", KeyName="laptop")).reply(
        200, text=answer("ImportKeyPair", "<keyName>laptop</keyName>"
                                          "<keyFingerprint>ab:cd</keyFingerprint>"))
    script.expect("POST", API, match=form("ImportKeyPair", KeyName="laptop")).reply(
        400, text=fault("InvalidKeyPair.Duplicate", "The keypair 'laptop' already exists."))
    made = driver(script)
    key = call(mode, made, "import_key_pair_from_string", "laptop", "ssh-ed25519 AAAA me")
    assert isinstance(key, KeyPair) and key.fingerprint == "ab:cd"
    assert key.public_key == "ssh-ed25519 AAAA me"
    with pytest.raises(KeyPairAlreadyExists):
        call(mode, made, "import_key_pair_from_string", "laptop", "ssh-ed25519 AAAA me")
    script.assert_done()


def test_images_of_an_owner(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=describe("DescribeImages", ("Owner.1", "self"),
                                              ("MaxResults", "2"))).reply(
        200, text=answer("DescribeImages", "<imagesSet><item><imageId>ami-1</imageId>"
                                           "<name>mine</name><imageState>available</imageState>"
                                           "</item></imagesSet>"))
    images = call(mode, driver(script), "list_images", ex_owners=["self"])
    assert [(i.id, i.name, i.extra["state"]) for i in images] == [("ami-1", "mine", "available")]
    script.assert_done()


# -- errors ----------------------------------------------------------------------------------------


def test_refused_credentials(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=describe("DescribeAvailabilityZones")).reply(
        401, text=fault("AuthFailure", "not authorized"))
    with pytest.raises(InvalidCredentials, match="EC2 refused the credentials"):
        call(mode, driver(script), "list_locations")
    script.assert_done()


def test_throttling_is_retried_then_reported(mode: str) -> None:
    script = Script()
    throttled = fault("RequestLimitExceeded", "Request limit exceeded.")
    script.expect("POST", API, match=form("RebootInstances")).reply(503, text=throttled)
    script.expect("POST", API, match=form("RebootInstances")).reply(
        200, text=answer("RebootInstances", "<return>true</return>"))
    node = Node("i-1", "web", NodeState.RUNNING)
    assert call(mode, driver(script, retry=RetryPolicy(base=0.0)), "reboot_node", node) is True
    script.expect("POST", API, match=form("RebootInstances")).reply(400, text=throttled)
    with pytest.raises(RateLimited):
        call(mode, driver(script, retry=RetryPolicy(max_attempts=1)), "reboot_node", node)
    script.assert_done()


def test_a_server_error_keeps_its_code_and_request_id(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=describe("DescribeVolumes", ("MaxResults", "2"))).reply(
        500, text=fault("InternalError", "oops", "req-500"))
    with pytest.raises(ProviderError) as info:
        call(mode, driver(script, retry=RetryPolicy(max_attempts=1)), "list_volumes")
    assert (info.value.status, info.value.code, info.value.request_id) == (500, "InternalError",
                                                                           "req-500")
    script.assert_done()


def test_an_answer_that_is_another_document_is_a_provider_error(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=describe("DescribeInstances", ("MaxResults", "2"))).reply(
        200, text="<html><body>captive portal</body></html>")
    with pytest.raises(ProviderError, match="expected a DescribeInstancesResponse document"):
        call(mode, driver(script), "list_nodes")
    script.assert_done()


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    made = driver(script)
    for bad in (
        lambda: call(mode, made, "create_node", "", SIZE, IMAGE),
        lambda: call(mode, made, "create_node", "x" * 300, SIZE, IMAGE),
        lambda: call(mode, made, "create_node", "ok", "t2.micro", IMAGE),
        lambda: call(mode, made, "create_node", "ok", SIZE, IMAGE, ex_tags={"aws:x": "y"}),
        lambda: call(mode, made, "create_node", "ok", SIZE, IMAGE,
                     ex_userdata=b"x" * (16 * 1024 + 1)),
        lambda: call(mode, made, "create_volume", 0, "v"),
        lambda: call(mode, made, "create_image", Node("i-1", "a", NodeState.RUNNING), "x"),
        lambda: call(mode, made, "import_key_pair_from_string", "k", "-----BEGIN PRIVATE KEY"),
        lambda: call(mode, made, "ex_authorize_security_group_ingress", "sg-1", 70000, 1),
    ):
        with pytest.raises(InvalidInput):
            bad()
    with pytest.raises(NotSupported):
        call(mode, made, "create_node", "pw", SIZE, IMAGE, None, NodeAuthPassword("secret-pass"))
    for options in ({"region": "Moon-1"}, {"page_size": 0}, {"endpoint": "ftp://x"}):
        with pytest.raises(InvalidInput):
            EC2NodeDriver("AKID", "secret", **options)
    assert script.received == []


# -- every field of a listed node ----------------------------------------------------------------


FIXTURES = Path(__file__).parent


def node_fields(node: Node) -> dict[str, Any]:
    """Every field of a node but its driver, as JSON would hold it (types kept
    apart: a state's class, a time's zone)."""
    found: dict[str, Any] = {}
    for item in dataclasses.fields(node):
        if item.name == "driver":
            continue
        value = getattr(node, item.name)
        if isinstance(value, datetime):
            value = ["datetime", value.isoformat()]
        elif isinstance(value, NodeState):
            value = ["NodeState", value.name]
        found[item.name] = value
    return found


def test_every_field_of_listed_nodes_is_as_pinned(mode: str) -> None:
    # moto's answer for two instances (AWS's namespace) and three of AWS's shape
    # with what moto leaves out: IPv6 addresses, several groups and disks, a
    # platform, empty and missing elements, repeated ones, an unknown state.
    # The expected fields were read by the driver before its one-pass parse.
    page = (FIXTURES / "ec2_describe_instances.xml").read_text()
    script = Script()
    script.expect("GET", API, params=describe("DescribeInstances", ("MaxResults", "2"))).reply(
        200, text=page)
    nodes = call(mode, driver(script), "list_nodes")
    expected = json.loads((FIXTURES / "ec2_describe_instances.json").read_text())
    assert [node_fields(node) for node in nodes] == expected
    script.assert_done()
