"""EC2 with Apache Libcloud's names on the scripted transport, in both modes.

``create_node``'s Libcloud keywords and the five Elastic IP methods send the
query parameters Libcloud 3.9.1's EC2 driver sends for the same call (its
request is captured, not sent) and read the same answer into the same values;
the pricing reader follows Libcloud's ``get_size_price``; Libcloud's Provider
constants without an overcast driver fail with advice.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import pytest
from libcloud.compute.drivers.ec2 import EC2NodeDriver as LibcloudEC2

from overcast.compute import ElasticIP
from overcast.compute import Provider
from overcast.compute import get_driver
from overcast.compute import get_size_price
from overcast.compute.base import Node
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.drivers.ec2 import TOKEN_TAG
from overcast.compute.drivers.ec2 import EC2NodeDriver
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import Sent
from overcast.testing import call

API = "https://ec2.us-east-1.amazonaws.com/"
NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
SIZE = NodeSize("t2.micro", "t2.micro", 1024, 0)
IMAGE = NodeImage("ami-785db401", "ubuntu")
#: What overcast adds to every RunInstances and Libcloud does not send.
OWN = ("Version", "ClientToken")
VERSION = ("Version", "2016-11-15")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> EC2NodeDriver:
    return EC2NodeDriver("AKIDUNIT", "unit-secret", **options, **script.options())


def answer(action: str, inner: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><{action}Response xmlns="{NS}">'
            f"<requestId>req-1</requestId>{inner}</{action}Response>")


def instance(instance_id: str, name: str) -> str:
    return (f"<item><instanceId>{instance_id}</instanceId><imageId>{IMAGE.id}</imageId>"
            "<instanceState><code>0</code><name>pending</name></instanceState>"
            "<instanceType>t2.micro</instanceType><tagSet><item><key>Name</key>"
            f"<value>{name}</value></item></tagSet></item>")


def sent_params(sent: Sent) -> dict[str, str]:
    """A request's Query parameters, from its form body or its URL."""
    return dict(parse_qsl(sent.text)) if sent.method == "POST" else dict(sent.query)


def acting(action: str) -> Callable[[Sent], bool]:
    return lambda sent: sent_params(sent).get("Action") == action


class Captured(Exception):
    """Raised by the stand-in connection once Libcloud's request is recorded."""


def libcloud_params(method: str, *args: Any, reply: str | None = None,
                    **kwargs: Any) -> tuple[dict[str, str], Any]:
    """The parameters Libcloud's EC2 driver sends for ``method(*args, **kwargs)``
    (as its connection encodes them: ``str`` of each value) and what it returns
    from ``reply`` (None without one: the call stops once the request is made)."""
    made = LibcloudEC2("AKIDUNIT", "unit-secret", region="us-east-1")
    seen: dict[str, str] = {}

    def request(path: str, params: dict[str, Any] | None = None, **_: Any) -> Any:
        seen.update({k: str(v) for k, v in (params or {}).items()})
        if reply is None:
            raise Captured
        return SimpleNamespace(object=ET.fromstring(reply))

    made.connection.request = request  # type: ignore[method-assign]
    try:
        result = getattr(made, method)(*args, **kwargs)
    except Captured:
        result = None
    return seen, result


def tags_of(params: dict[str, str]) -> dict[str, str]:
    return {params[k]: params[k[:-3] + "Value"] for k in params
            if k.startswith("TagSpecification.1.Tag.") and k.endswith(".Key")}


def untagged(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items()
            if not k.startswith("TagSpecification.") and k not in OWN}


SUBNET = SimpleNamespace(id="subnet-0a1b2c3d")
#: Libcloud's keywords, one call each, as its documentation uses them.
CREATE_CASES: dict[str, dict[str, Any]] = {
    "securitygroup-userdata-metadata": {
        "ex_securitygroup": "web", "ex_userdata": "#!/bin/sh\necho hello\n",
        "ex_metadata": {"team": "blue"}, "ex_keyname": "deploy",
    },
    "securitygroups-iam-name": {"ex_securitygroup": ["web", "ssh"], "ex_iamprofile": "app"},
    "iam-arn": {"ex_iamprofile": "arn:aws:iam::123456789012:instance-profile/app"},
    "blockdevicemappings": {"ex_blockdevicemappings": [
        {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3"}},
        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
    ]},
    "subnet-groups": {"ex_subnet": SUBNET, "ex_security_group_ids": ["sg-1", "sg-2"]},
    "subnet-public-ip": {"ex_subnet": SUBNET, "ex_security_group_ids": ["sg-1"],
                         "ex_assign_public_ip": True},
    "spot": {"ex_spot": True, "ex_spot_max_price": 0.05},
    "spot-on-demand-cap": {"ex_spot": True},
    "placement-shutdown": {"ex_placement_group": "cluster-1",
                           "ex_terminate_on_shutdown": True},
}


@pytest.mark.parametrize("case", list(CREATE_CASES))
def test_create_node_sends_what_libcloud_sends(mode: str, case: str) -> None:
    keywords = CREATE_CASES[case]
    expected, _ = libcloud_params("create_node", "web", SIZE, IMAGE, **keywords)
    script = Script()
    script.expect("POST", API, match=acting("RunInstances")).reply(
        200, text=answer("RunInstances", f"<instancesSet>{instance('i-9', 'web')}"
                                         "</instancesSet>"))
    node = call(mode, driver(script), "create_node", "web", SIZE, IMAGE, **keywords)
    [sent] = [sent_params(s) for s in script.received]
    assert untagged(sent) == untagged(expected)
    token = sent["ClientToken"]
    assert tags_of(sent) == {**tags_of(expected), TOKEN_TAG: token}
    assert (node.id, node.name, node.state) == ("i-9", "web", NodeState.PENDING)
    script.assert_done()


def test_ebs_optimized_is_sent_as_ec2_spells_a_boolean(mode: str) -> None:
    # Libcloud sends str(True), "True"; EC2 documents "true": the one spelling differs.
    expected, _ = libcloud_params("create_node", "web", SIZE, IMAGE, ex_ebs_optimized=True)
    script = Script()
    script.expect("POST", API, match=acting("RunInstances")).reply(
        200, text=answer("RunInstances", f"<instancesSet>{instance('i-9', 'web')}"
                                         "</instancesSet>"))
    call(mode, driver(script), "create_node", "web", SIZE, IMAGE, ex_ebs_optimized=True)
    [sent] = [sent_params(s) for s in script.received]
    assert expected["EbsOptimized"] == "True" and sent["EbsOptimized"] == "true"
    assert untagged(sent) == {**untagged(expected), "EbsOptimized": "true"}


@pytest.mark.parametrize(("keywords", "message"), [
    ({"ex_securitygroup": "a", "ex_security_groups": ["b"]}, "not both"),
    ({"ex_subnet": SUBNET, "ex_subnet_id": "subnet-1"}, "not both"),
    ({"ex_assign_public_ip": True}, "needs ex_subnet"),
    ({"ex_iamprofile": ""}, "ex_iamprofile"),
    ({"ex_blockdevicemappings": {"DeviceName": "/dev/sda1"}}, "list of dicts"),
    ({"ex_userdata": 12}, "str or bytes"),
])
def test_invalid_libcloud_keywords_send_nothing(mode: str, keywords: dict[str, Any],
                                                message: str) -> None:
    script = Script()
    with pytest.raises(InvalidInput, match=message):
        call(mode, driver(script), "create_node", "web", SIZE, IMAGE, **keywords)
    assert script.received == []


@pytest.mark.parametrize("keywords", [{"ex_mincount": 2}, {"ex_maxcount": 3},
                                      {"ex_clienttoken": "mine"}])
def test_keywords_overcast_does_not_serve_fail_loudly(mode: str,
                                                      keywords: dict[str, Any]) -> None:
    script = Script()
    with pytest.raises(NotSupported):
        call(mode, driver(script), "create_node", "web", SIZE, IMAGE, **keywords)
    assert script.received == []


# -- Elastic IPs -------------------------------------------------------------------------------

ADDRESS = ("<publicIp>198.51.100.7</publicIp><domain>vpc</domain>"
           "<allocationId>eipalloc-1</allocationId>")
ADDRESSES = ("<addressesSet><item><publicIp>198.51.100.7</publicIp><domain>vpc</domain>"
             "<allocationId>eipalloc-1</allocationId><instanceId>i-9</instanceId>"
             "<associationId>eipassoc-1</associationId>"
             "<networkInterfaceId>eni-1</networkInterfaceId>"
             "<networkInterfaceOwnerId>123</networkInterfaceOwnerId>"
             "<privateIpAddress>10.0.0.7</privateIpAddress></item>"
             "<item><publicIp>198.51.100.8</publicIp><domain>standard</domain></item>"
             "</addressesSet>")
EIP = ElasticIP("198.51.100.7", "vpc", "i-9", {"allocation_id": "eipalloc-1",
                                               "association_id": "eipassoc-1"})
NODE = Node("i-9", "web", NodeState.RUNNING, [], [])


def same_address(ours: ElasticIP, theirs: Any) -> None:
    assert (ours.ip, ours.domain, ours.instance_id) == (
        theirs.ip, theirs.domain, theirs.instance_id)
    assert {k: v for k, v in ours.extra.items() if v is not None} == {
        k: v for k, v in theirs.extra.items() if v is not None and k in ours.extra}


def libcloud_eip(address: ElasticIP) -> Any:
    from libcloud.compute.drivers.ec2 import ElasticIP as TheirElasticIP
    return TheirElasticIP(address.ip, address.domain, address.instance_id, dict(address.extra))


def libcloud_node() -> Any:
    from libcloud.compute.base import Node as TheirNode
    return TheirNode("i-9", "web", "running", [], [], driver=None)


ADDRESS_CASES: dict[str, tuple[str, str, str, tuple[Any, ...], dict[str, Any]]] = {
    # name: (method, action, answer body, arguments, keywords)
    "allocate": ("ex_allocate_address", "AllocateAddress", ADDRESS, (), {}),
    "allocate-vpc": ("ex_allocate_address", "AllocateAddress", ADDRESS, (), {"domain": "vpc"}),
    "associate": ("ex_associate_address_with_node", "AssociateAddress", "<return>true</return>",
                  (NODE, EIP), {}),
    "associate-vpc": ("ex_associate_address_with_node", "AssociateAddress",
                      "<return>true</return><associationId>eipassoc-2</associationId>",
                      (NODE, EIP), {"domain": "vpc"}),
    "disassociate": ("ex_disassociate_address", "DisassociateAddress", "<return>true</return>",
                     (EIP,), {}),
    "disassociate-vpc": ("ex_disassociate_address", "DisassociateAddress",
                         "<return>true</return>", (EIP,), {"domain": "vpc"}),
    "release": ("ex_release_address", "ReleaseAddress", "<return>true</return>", (EIP,), {}),
    "release-vpc": ("ex_release_address", "ReleaseAddress", "<return>true</return>", (EIP,),
                    {"domain": "vpc"}),
    "describe": ("ex_describe_all_addresses", "DescribeAddresses", ADDRESSES, (), {}),
    "describe-associated": ("ex_describe_all_addresses", "DescribeAddresses", ADDRESSES, (),
                            {"only_associated": True}),
}


def theirs(value: Any) -> Any:
    """An overcast argument as Libcloud's model."""
    if isinstance(value, ElasticIP):
        return libcloud_eip(value)
    return libcloud_node() if isinstance(value, Node) else value


@pytest.mark.parametrize("case", list(ADDRESS_CASES))
def test_elastic_ip_methods_send_and_read_what_libcloud_does(mode: str, case: str) -> None:
    method, action, body, args, keywords = ADDRESS_CASES[case]
    reply = answer(action, body)
    expected, their_result = libcloud_params(method, *map(theirs, args), reply=reply,
                                             **keywords)
    script = Script()
    if action.startswith("Describe"):
        script.expect("GET", API, params=[("Action", action), VERSION]).reply(200, text=reply)
    else:
        script.expect("POST", API, match=acting(action)).reply(200, text=reply)
    result = call(mode, driver(script), method, *args, **keywords)
    [sent] = [sent_params(s) for s in script.received]
    assert {k: v for k, v in sent.items() if k != "Version"} == expected
    if isinstance(result, list):
        assert len(result) == len(their_result)
        for ours, their in zip(result, their_result, strict=True):
            same_address(ours, their)
    elif isinstance(result, ElasticIP):
        same_address(result, their_result)
    else:
        assert result == their_result
    script.assert_done()


@pytest.mark.parametrize(("method", "args", "keywords"), [
    ("ex_allocate_address", (), {"domain": "classic"}),
    ("ex_release_address", ("198.51.100.7",), {}),
    ("ex_release_address", (ElasticIP("198.51.100.7", "vpc", None),), {"domain": "vpc"}),
    ("ex_disassociate_address", (EIP,), {"domain": "standard"}),
    ("ex_associate_address_with_node", ("i-9", EIP), {}),
])
def test_elastic_ip_invalid_input_sends_nothing(mode: str, method: str, args: tuple[Any, ...],
                                                keywords: dict[str, Any]) -> None:
    script = Script()
    with pytest.raises(InvalidInput):
        call(mode, driver(script), method, *args, **keywords)
    assert script.received == []


# -- prices ------------------------------------------------------------------------------------

PRICES = {
    "compute": {
        "ec2_linux": {
            "t2.micro": {"us-east-1": 0.0116, "eu-west-1": 0.0126},
            "a1.metal": {"us-east-1": 0.0, "eu-west-1": 0.408},
        },
        "flat": {"small": 0.01, "free": 0.0, "2": 0.5},
    },
    "storage": {"s3_standard": {"gb": 0.023}},
    "updated": 1700000000,
}


@pytest.fixture
def pricing(tmp_path: Path) -> Path:
    path = tmp_path / "pricing.json"
    path.write_text(json.dumps(PRICES))
    return path


def test_a_price_found_per_region_and_flat(pricing: Path) -> None:
    assert get_size_price("compute", "ec2_linux", "t2.micro", "eu-west-1",
                          pricing_file_path=pricing) == 0.0126
    assert get_size_price("compute", "flat", "small", pricing_file_path=pricing) == 0.01
    assert get_size_price("compute", "flat", 2, pricing_file_path=pricing) == 0.5  # int ids
    assert get_size_price("storage", "s3_standard", "gb", pricing_file_path=pricing) == 0.023


def test_a_zero_or_missing_price_is_none(pricing: Path) -> None:
    assert get_size_price("compute", "ec2_linux", "a1.metal", "us-east-1",
                          pricing_file_path=pricing) is None
    assert get_size_price("compute", "flat", "free", pricing_file_path=pricing) is None
    assert get_size_price("compute", "flat", "huge", pricing_file_path=pricing) is None
    assert get_size_price("compute", "nobody", "small", pricing_file_path=pricing) is None


def test_no_region_fallback_as_in_libcloud(pricing: Path) -> None:
    # Libcloud reads pricing[size][region] and nothing else: a region without a
    # price is no price, never another region's.
    assert get_size_price("compute", "ec2_linux", "t2.micro", "ap-south-1",
                          pricing_file_path=pricing) is None
    assert get_size_price("compute", "ec2_linux", "t2.micro",
                          pricing_file_path=pricing) is None  # per-region table, no region
    assert get_size_price("compute", "flat", "small", "us-east-1",
                          pricing_file_path=pricing) is None


def test_libcloud_reads_the_same_prices(pricing: Path) -> None:
    from libcloud import pricing as theirs

    theirs.PRICING_DATA["compute"].pop("ec2_linux", None)
    try:
        table = theirs.get_pricing("compute", "ec2_linux", pricing_file_path=str(pricing))
        assert table == PRICES["compute"]["ec2_linux"]
        assert theirs.get_size_price("compute", "ec2_linux", "t2.micro", "eu-west-1") == \
            get_size_price("compute", "ec2_linux", "t2.micro", "eu-west-1",
                           pricing_file_path=pricing)
    finally:
        theirs.PRICING_DATA["compute"].pop("ec2_linux", None)


def test_an_unknown_driver_type_is_invalid(pricing: Path) -> None:
    with pytest.raises(InvalidInput, match="compute"):
        get_size_price("network", "ec2_linux", "t2.micro", pricing_file_path=pricing)


def test_list_sizes_fills_prices_from_the_given_file(mode: str, pricing: Path) -> None:
    script = Script()
    types = "".join(f"<item><instanceType>{name}</instanceType><memoryInfo><sizeInMiB>1024"
                    "</sizeInMiB></memoryInfo><vCpuInfo><defaultVCpus>1</defaultVCpus>"
                    "</vCpuInfo></item>" for name in ("t2.micro", "a1.metal", "z9.none"))
    script.expect("GET", API, params=[("Action", "DescribeInstanceTypes"), VERSION,
                                      ("MaxResults", "100")]).reply(
        200, text=answer("DescribeInstanceTypes", f"<instanceTypeSet>{types}</instanceTypeSet>"))
    sizes = call(mode, driver(script, pricing=pricing), "list_sizes")
    assert {s.id: s.price for s in sizes} == {"t2.micro": 0.0116, "a1.metal": None,
                                              "z9.none": None}


# -- Provider constants ------------------------------------------------------------------------


@pytest.mark.parametrize(("constant", "advice"), [
    ("GRIDSCALE", "use Apache Libcloud for it, or register one"),
    ("UPCLOUD", "use Apache Libcloud for it, or register one"),
    ("EC2_US_WEST", "use Provider.EC2 with region='us-west-1'"),
])
def test_unserved_constants_raise_not_supported_with_advice(constant: str, advice: str) -> None:
    with pytest.raises(NotSupported, match=f"Provider.{constant} .*: .*") as caught:
        get_driver(getattr(Provider, constant))
    assert advice in str(caught.value)


def test_a_served_constant_loads_its_driver() -> None:
    assert get_driver(Provider.EC2) is EC2NodeDriver


# -- images ------------------------------------------------------------------------------------

IMAGES = ("<imagesSet><item><imageId>ami-785db401</imageId><name>ubuntu</name>"
          "<imageState>available</imageState></item></imagesSet>")


def test_list_images_by_id_sends_what_libcloud_sends(mode: str) -> None:
    reply = answer("DescribeImages", IMAGES)
    expected, their_images = libcloud_params("list_images", ex_image_ids=[IMAGE.id],
                                             reply=reply)
    script = Script()
    script.expect("GET", API, params=[("Action", "DescribeImages"), VERSION,
                                      ("ImageId.1", IMAGE.id)]).reply(200, text=reply)
    images = call(mode, driver(script), "list_images", ex_image_ids=[IMAGE.id])
    [sent] = [sent_params(s) for s in script.received]
    assert {k: v for k, v in sent.items() if k != "Version"} == expected
    assert [(i.id, i.name) for i in images] == [(i.id, i.name) for i in their_images]
    script.assert_done()


def test_list_images_of_one_owner_pages(mode: str) -> None:
    expected, _ = libcloud_params("list_images", ex_owner="amazon", ex_executableby="self")
    script = Script()
    script.expect("GET", API, params=[("Action", "DescribeImages"), VERSION,
                                      ("Owner.1", "amazon"), ("ExecutableBy.1", "self"),
                                      ("MaxResults", "1000")]).reply(
        200, text=answer("DescribeImages", IMAGES))
    images = call(mode, driver(script), "list_images", ex_owner="amazon",
                  ex_executableby="self")
    assert [i.id for i in images] == [IMAGE.id]
    assert {k: expected[k] for k in ("Owner.1", "ExecutableBy.1")} == {
        "Owner.1": "amazon", "ExecutableBy.1": "self"}
    with pytest.raises(InvalidInput, match="not both"):
        call(mode, driver(script), "list_images", ex_owner="amazon", ex_owners=["self"])
    script.assert_done()


def test_size_bandwidth_is_libclouds_figure_for_every_instance_type() -> None:
    from libcloud.compute.constants.ec2_instance_types import INSTANCE_TYPES

    from overcast.compute.drivers.ec2.nodes import _bandwidth

    assert {name: _bandwidth(entry["extra"].get("networkPerformance"))
            for name, entry in INSTANCE_TYPES.items()} == {
        name: entry["bandwidth"] for name, entry in INSTANCE_TYPES.items()}
