"""The EC2 compute driver against a real moto server, beyond the compute contract.

* a create whose answer is lost (a proxy forwards ``RunInstances`` to moto and
  then drops the connection, or drops it before moto sees it) leaves exactly
  one instance, found by its ``overcast:token`` tag; the same for volumes and
  key pairs;
* listings cross pages, counted on the wire: instances (moto honours
  ``MaxResults``) and instance types (moto returns them all at once, so the
  proxy pages its answer the way AWS does, 100 at most per page);
* security groups, images (create, copy within and across regions, delete),
  volumes with tags, SSH keys installed through ``auth=``;
* throttling (``RequestLimitExceeded``) is retried, auth failures map to
  InvalidCredentials (the proxy answers those: moto checks no credentials);
* the secret key never reaches DEBUG logs, reprs or errors;
* boto3, pointed at the same moto, sees what overcast made and overcast sees
  what boto3 made.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import math
import threading
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

import boto3
import pytest

from overcast.compute.base import KeyPair
from overcast.compute.base import Node
from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.drivers.ec2 import TOKEN_TAG
from overcast.compute.drivers.ec2 import EC2NodeDriver
from overcast.compute.drivers.ec2 import SecurityGroup
from overcast.compute.drivers.ec2 import SecurityGroupNotFound
from overcast.errors import AlreadyExists
from overcast.errors import ImageNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import KeyPairNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import SizeNotFound
from overcast.errors import VolumeNotFound
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from overcast.runtime.policy import RetryPolicy
from overcast.runtime.redact import Secret
from servers.compute_ec2 import ACCESS_KEY
from servers.compute_ec2 import IMAGE_ID
from servers.compute_ec2 import SECRET_KEY
from servers.compute_ec2 import SIZE_ID
from servers.compute_ec2 import make_driver
from servers.modes import call
from servers.moto_server import MotoServer
from servers.moto_server import moto_server

pytestmark = pytest.mark.server

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl overcast"
)
ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>req-{code}</RequestID></Response>"
)


def unique(prefix: str = "ec2") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def moto(request: pytest.FixtureRequest) -> MotoServer:
    return moto_server(request)


def boto_client(moto: MotoServer, region: str = "us-east-1") -> Any:
    return boto3.client(
        "ec2",
        endpoint_url=moto.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=region,
    )


@pytest.fixture
def boto(moto: MotoServer) -> Any:
    return boto_client(moto)


SIZE = NodeSize(SIZE_ID, SIZE_ID, 1024, 0)
IMAGE = NodeImage(IMAGE_ID, "ubuntu")


def instances_tagged(boto: Any, key: str, value: str) -> list[dict[str, Any]]:
    pages = boto.get_paginator("describe_instances").paginate(
        Filters=[{"Name": f"tag:{key}", "Values": [value]}]
    )
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


# -- a proxy in front of moto ---------------------------------------------------------------------


class MotoProxy:
    """Forwards EC2 requests to moto, recording each one's action and parameters.

    * ``drop={"RunInstances": "after"}`` drops the connection of the first such
      request after moto answered it (moto made the resource; the client never
      hears), ``"before"`` drops it without forwarding (moto never saw it);
    * ``throttle={"DescribeInstances": 2}`` answers the first two such requests
      with HTTP 503 ``RequestLimitExceeded``; ``fail={"X": (403, "AuthFailure")}``
      answers every such request with that error;
    * ``page_types=True`` pages ``DescribeInstanceTypes`` by ``MaxResults`` /
      ``NextToken`` as AWS does (moto returns every type in one answer).
    """

    def __init__(
        self,
        target: str,
        *,
        drop: dict[str, str] | None = None,
        throttle: dict[str, int] | None = None,
        fail: dict[str, tuple[int, str]] | None = None,
        page_types: bool = False,
    ) -> None:
        self.target = urlsplit(target)
        self.drop = dict(drop or {})
        self.throttle = dict(throttle or {})
        self.fail = dict(fail or {})
        self.page_types = page_types
        self.type_pages: TypePages | None = None
        self.received: list[tuple[str, str, dict[str, str]]] = []
        self.forwarded: list[str] = []
        self.dropped: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.handle(self, body)

            do_GET = do_POST = handle_one  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        url = urlsplit(handler.path)
        pairs = parse_qsl(url.query if handler.command == "GET" else body.decode(),
                          keep_blank_values=True)
        params = dict(pairs)
        action = params.get("Action", "")
        with self.lock:
            self.received.append((handler.command, action, dict(params)))
            mode = self.drop.pop(action, None)
            if mode:
                self.dropped.append(action)
            throttled = self.throttle.get(action, 0) > 0
            if throttled:
                self.throttle[action] -= 1
        if mode == "before":
            handler.close_connection = True
            return
        if throttled:
            self.answer(handler, 503, [], ERROR.format(
                code="RequestLimitExceeded", message="Request limit exceeded.").encode())
            return
        if action in self.fail:
            status, code = self.fail[action]
            self.answer(handler, status, [], ERROR.format(
                code=code, message=f"refused by the test proxy ({code})").encode())
            return
        path = handler.path
        start = limit = 0
        paging = self.page_types and action == "DescribeInstanceTypes" and "MaxResults" in params
        if paging:
            limit = int(params.pop("MaxResults"))
            start = int(params.pop("NextToken", "0"))
            path = f"{url.path}?{urlencode(params)}"
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
        if paging and self.type_pages is not None:
            status, response_headers, data = 200, [], b""  # moto was asked once
        else:
            status, response_headers, data = self.forward(handler.command, path, headers, body)
        with self.lock:
            self.forwarded.append(action)
            if paging and status == 200 and self.type_pages is None:
                self.type_pages = TypePages(data)
        if mode == "after":
            handler.close_connection = True  # moto answered; the client never hears it
            return
        if paging and status == 200 and self.type_pages is not None:
            data = self.type_pages.page(start, limit)
        self.answer(handler, status, response_headers, data)

    @staticmethod
    def answer(
        handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], data: bytes
    ) -> None:
        handler.send_response(status)
        for key, value in headers:
            if key.lower() not in ("content-length", "connection", "transfer-encoding",
                                   "server", "date"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(
            self.target.hostname or "127.0.0.1", self.target.port, timeout=60
        )
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def actions(self, action: str) -> list[dict[str, str]]:
        """The parameters of every request for ``action`` the proxy received."""
        with self.lock:
            return [params for _m, a, params in self.received if a == action]

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> MotoProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class TypePages:
    """moto's full DescribeInstanceTypes answer, parsed once, served in pages of
    ``limit`` types from ``start`` with a ``nextToken`` when more follow (the way
    AWS pages it)."""

    def __init__(self, data: bytes) -> None:
        root = ET.fromstring(data)
        self.namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
        prefix = f"{{{self.namespace}}}" if self.namespace else ""
        container = root.find(f"{prefix}instanceTypeSet")
        assert container is not None
        self.items = [ET.tostring(item, encoding="unicode") for item in container]

    def page(self, start: int, limit: int) -> bytes:
        xmlns = f' xmlns="{self.namespace}"' if self.namespace else ""
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n'
                 f"<DescribeInstanceTypesResponse{xmlns}><instanceTypeSet>"]
        parts.extend(self.items[start:start + limit])
        parts.append("</instanceTypeSet>")
        if start + limit < len(self.items):
            parts.append(f"<nextToken>{start + limit}</nextToken>")
        parts.append("<requestId>paged-by-proxy</requestId></DescribeInstanceTypesResponse>")
        return "".join(parts).encode("utf-8")


def proxied_driver(proxy: MotoProxy, **kwargs: Any) -> EC2NodeDriver:
    kwargs.setdefault("timeout", 60)
    return EC2NodeDriver(ACCESS_KEY, SECRET_KEY, endpoint=proxy.url, **kwargs)


# -- creates whose answer is lost -----------------------------------------------------------------


@pytest.mark.parametrize("when", ["after", "before"], ids=["lost-after-moto", "lost-before-moto"])
def test_lost_run_instances_answer_leaves_one_instance(
    moto: MotoServer, boto: Any, mode: str, when: str
) -> None:
    name = unique("lost")
    with MotoProxy(moto.url, drop={"RunInstances": when}) as proxy:
        with proxied_driver(proxy) as driver:
            node = call(mode, driver, "create_node", name, SIZE, IMAGE)
        assert proxy.dropped == ["RunInstances"]
        sent = proxy.actions("RunInstances")
        # Lost after moto made it: found by its token tag, not sent again.
        # Lost before moto saw it: nothing found, so sent once more (same token).
        assert len(sent) == (1 if when == "after" else 2)
        assert proxy.forwarded.count("RunInstances") == 1
        assert len({p["ClientToken"] for p in sent}) == 1
        assert len(proxy.actions("DescribeInstances")) == 1  # the lookup by tag
        lookup = proxy.actions("DescribeInstances")[0]
        assert lookup["Filter.1.Name"] == f"tag:{TOKEN_TAG}"
    try:
        token = node.extra["tags"][TOKEN_TAG]
        assert token == sent[0]["ClientToken"]
        assert sent[0][_tag_key_param(sent[0], TOKEN_TAG)] == token
        made = instances_tagged(boto, TOKEN_TAG, token)
        assert [i["InstanceId"] for i in made] == [node.id]
        assert len(instances_tagged(boto, "Name", name)) == 1
        assert node.name == name
    finally:
        boto.terminate_instances(InstanceIds=[node.id])


def _tag_key_param(params: dict[str, str], key: str) -> str:
    """The ``TagSpecification.1.Tag.N.Value`` parameter holding tag ``key``."""
    for name, value in params.items():
        if name.startswith("TagSpecification.1.Tag.") and name.endswith(".Key") and value == key:
            return name[: -len("Key")] + "Value"
    raise AssertionError(f"no tag {key!r} in {params}")


@pytest.mark.parametrize("when", ["after", "before"], ids=["lost-after-moto", "lost-before-moto"])
def test_lost_create_volume_answer_leaves_one_volume(
    moto: MotoServer, boto: Any, mode: str, when: str
) -> None:
    name = unique("vol")
    with MotoProxy(moto.url, drop={"CreateVolume": when}) as proxy:
        with proxied_driver(proxy) as driver:
            volume = call(mode, driver, "create_volume", 2, name)
        assert len(proxy.actions("CreateVolume")) == (1 if when == "after" else 2)
        assert proxy.forwarded.count("CreateVolume") == 1
    try:
        found = boto.describe_volumes(Filters=[{"Name": "tag:Name", "Values": [name]}])["Volumes"]
        assert [v["VolumeId"] for v in found] == [volume.id]
        assert volume.name == name and volume.size == 2
    finally:
        boto.delete_volume(VolumeId=volume.id)


@pytest.mark.parametrize("when", ["after", "before"], ids=["lost-after-moto", "lost-before-moto"])
def test_lost_create_key_pair_answer_still_returns_the_private_key(
    moto: MotoServer, boto: Any, mode: str, when: str
) -> None:
    name = unique("kp")
    with MotoProxy(moto.url, drop={"CreateKeyPair": when}) as proxy:
        with proxied_driver(proxy) as driver:
            key = call(mode, driver, "create_key_pair", name)
        # Either way the pair is (re)made once more: a lost answer took the
        # private key with it, so the driver deletes its own pair and creates again.
        assert len(proxy.actions("CreateKeyPair")) == 2
        assert len(proxy.actions("DeleteKeyPair")) == (1 if when == "after" else 0)
    try:
        assert key.private_key is not None
        assert "PRIVATE KEY" in key.private_key.reveal()
        pairs = boto.describe_key_pairs(KeyNames=[name])["KeyPairs"]
        assert len(pairs) == 1
        assert pairs[0]["KeyFingerprint"] == key.fingerprint
    finally:
        boto.delete_key_pair(KeyName=name)


def test_create_key_pair_does_not_take_over_someone_elses_pair(
    moto: MotoServer, boto: Any
) -> None:
    name = unique("theirs")
    boto.create_key_pair(KeyName=name)
    try:
        with MotoProxy(moto.url, drop={"CreateKeyPair": "before"}) as proxy:
            with proxied_driver(proxy) as driver, pytest.raises(KeyPairAlreadyExists):
                driver.create_key_pair(name)
            assert proxy.actions("DeleteKeyPair") == []
        assert len(boto.describe_key_pairs(KeyNames=[name])["KeyPairs"]) == 1
    finally:
        boto.delete_key_pair(KeyName=name)


# -- pagination -----------------------------------------------------------------------------------


class Recorder:
    """The request events of a driver."""

    def __init__(self) -> None:
        self.events: list[RequestEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: RequestEvent) -> None:
        with self.lock:
            self.events.append(event)

    def actions(self, action: str) -> list[dict[str, str]]:
        found = []
        with self.lock:
            for event in self.events:
                params = dict(parse_qsl(urlsplit(event.url).query, keep_blank_values=True))
                if params.get("Action") == action:
                    found.append(params)
        return found


def test_list_nodes_crosses_pages(request: pytest.FixtureRequest, boto: Any, mode: str) -> None:
    recorder = Recorder()
    driver = make_driver(request, page_size=2, hooks=Hooks(on_request=[recorder]))
    with driver:
        made = [driver.create_node(unique("page"), SIZE, IMAGE) for _ in range(5)]
        try:
            recorder.events.clear()
            listed = call(mode, driver, "list_nodes")
            reservations = [
                r for page in boto.get_paginator("describe_instances").paginate()
                for r in page["Reservations"]
            ]
            total = sum(len(r["Instances"]) for r in reservations)
            ids = [n.id for n in listed]
            assert len(ids) == len(set(ids)) == total
            assert {n.id for n in made} <= set(ids)
            pages = recorder.actions("DescribeInstances")
            assert len(pages) == math.ceil(len(reservations) / 2) >= 3
            assert all(p["MaxResults"] == "2" for p in pages)
            assert "NextToken" not in pages[0]
            assert all(p.get("NextToken") for p in pages[1:])  # redacted in events, but sent
            by_id = {n.id: n for n in listed}
            for node in made:
                assert by_id[node.id].name == node.name
        finally:
            for node in made:
                driver.destroy_node(node)


#: A pricing file in Libcloud's format: t2.micro's price here, none for m5.large.
PRICING = {"compute": {"ec2_linux": {"t2.micro": {"us-east-1": 0.0116, "eu-west-1": 0.0126},
                                     "m5.large": {"us-east-1": 0.0}}},
           "updated": 1700000000}


@pytest.fixture
def pricing(tmp_path: Path) -> Path:
    path = tmp_path / "pricing.json"
    path.write_text(json.dumps(PRICING))
    return path


def test_list_sizes_crosses_pages(moto: MotoServer, boto: Any, mode: str,
                                  pricing: Path) -> None:
    everything = boto.describe_instance_types()["InstanceTypes"]  # moto: one answer
    with MotoProxy(moto.url, page_types=True) as proxy:
        with proxied_driver(proxy, page_size=250, pricing=pricing) as driver:
            sizes = call(mode, driver, "list_sizes")
        pages = proxy.actions("DescribeInstanceTypes")
    ids = [s.id for s in sizes]
    assert len(ids) == len(set(ids)) == len(everything)
    assert set(ids) == {t["InstanceType"] for t in everything}
    # DescribeInstanceTypes pages hold at most 100 types, whatever page_size says.
    assert len(pages) == math.ceil(len(everything) / 100) >= 2
    assert all(p["MaxResults"] == "100" for p in pages)
    assert "NextToken" not in pages[0]
    assert [p["NextToken"] for p in pages[1:]] == [str(100 * i) for i in range(1, len(pages))]
    micro = next(s for s in sizes if s.id == "t2.micro")
    assert micro.ram == 1024 and micro.extra["vcpus"] == 1
    assert micro.disk == 0 and micro.bandwidth is None
    # Prices are exactly what the pricing file says; a 0.0 or absent one is None.
    assert micro.price == 0.0116
    assert {s.id: s.price for s in sizes if s.price is not None} == {"t2.micro": 0.0116}


def test_sizes_have_no_price_with_pricing_false(request: pytest.FixtureRequest,
                                               mode: str) -> None:
    with make_driver(request, pricing=False) as driver:
        sizes = call(mode, driver, "list_sizes")
        assert sizes and all(s.price is None for s in sizes)
        assert call(mode, driver, "get_size", "t2.micro").price is None


def test_sizes_are_priced_from_the_bundled_snapshot_by_default(
        request: pytest.FixtureRequest, mode: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from libcloud.pricing import get_size_price as libcloud_price

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.libcloud/pricing.json
    # Not read from an installed apache-libcloud: the snapshot ships with overcast.
    monkeypatch.setattr("overcast.pricing.installed_pricing_file", lambda: None)
    with make_driver(request) as driver:
        sizes = {s.id: s for s in call(mode, driver, "list_sizes")}
        assert call(mode, driver, "get_size", "t2.micro").price == sizes["t2.micro"].price
    assert {s.extra["price_date"] for s in sizes.values()} == {"2025-03-02"}
    for size_id in ("t2.micro", "m5.large", "c5.xlarge"):
        theirs = libcloud_price("compute", "ec2_linux", size_id, "us-east-1")
        assert sizes[size_id].price == (theirs or None)  # Libcloud's figure; 0.0 is no price


def test_sizes_images_locations_details(request: pytest.FixtureRequest, mode: str) -> None:
    recorder = Recorder()
    driver = make_driver(request, hooks=Hooks(on_request=[recorder]))
    with driver:
        size = call(mode, driver, "get_size", "m5.large")
        assert (size.ram, size.extra["vcpus"]) == (8192, 2)
        assert len(recorder.actions("DescribeInstanceTypes")) == 1  # a direct lookup
        with pytest.raises(SizeNotFound):
            call(mode, driver, "get_size", "zz9.bogus")
        locations = call(mode, driver, "list_locations")
        assert all(isinstance(loc, NodeLocation) for loc in locations)
        assert [loc.id for loc in locations][:2] == ["us-east-1a", "us-east-1b"]
        assert {loc.country for loc in locations} == {"US"}
        in_zone = call(mode, driver, "list_sizes", locations[0])
        assert in_zone and SIZE_ID in {s.id for s in in_zone}
        ubuntu = call(mode, driver, "list_images", ex_owners=["099720109477"],
                      ex_filters={"name": "ubuntu/images/hvm-ssd/ubuntu-xenial-*"})
        assert [i.id for i in ubuntu] == [IMAGE_ID]
        assert ubuntu[0].extra["owner_id"] == "099720109477"
        image = call(mode, driver, "get_image", IMAGE_ID)
        assert image.name.startswith("ubuntu/images/hvm-ssd/ubuntu-xenial-16.04")
        with pytest.raises(ImageNotFound):
            call(mode, driver, "get_image", "ami-00000000")


# -- nodes ----------------------------------------------------------------------------------------


def test_create_node_with_key_groups_and_userdata(
    request: pytest.FixtureRequest, boto: Any, mode: str
) -> None:
    driver = make_driver(request)
    with driver:
        group = driver.ex_create_security_group(unique("grp"), "for a node")
        nodes = []
        try:
            auth = NodeAuthSSHKey(PUBLIC_KEY)
            for _ in range(2):
                nodes.append(call(
                    mode, driver, "create_node", unique("keyed"), SIZE, IMAGE,
                    driver.get_location("us-east-1c"), auth,
                    ex_security_group_ids=[group.id], ex_userdata="#!/bin/sh\necho hi\n",
                    ex_tags={"team": "overcast"},
                ))
            key_names = {n.extra["key_name"] for n in nodes}
            assert len(key_names) == 1  # the same key is imported once
            [key_name] = key_names
            assert key_name.startswith("overcast-")
            assert driver.get_key_pair(key_name).fingerprint
            got = boto.describe_instances(InstanceIds=[nodes[0].id])
            instance = got["Reservations"][0]["Instances"][0]
            assert instance["KeyName"] == key_name
            assert instance["Placement"]["AvailabilityZone"] == "us-east-1c"
            assert {g["GroupId"] for g in instance["SecurityGroups"]} == {group.id}
            tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
            assert tags["team"] == "overcast" and tags["Name"] == nodes[0].name
            data = boto.describe_instance_attribute(InstanceId=nodes[0].id, Attribute="userData")
            assert base64.b64decode(data["UserData"]["Value"]) == b"#!/bin/sh\necho hi\n"
            with pytest.raises(NotSupported):
                call(mode, driver, "create_node", "pw", SIZE, IMAGE, None,
                     NodeAuthPassword(Secret("secret-pass")))
            with pytest.raises(InvalidInput):
                call(mode, driver, "create_node", "both", SIZE, IMAGE, None, auth,
                     ex_keyname="other")
            with pytest.raises(InvalidInput):
                call(mode, driver, "create_node", "big", SIZE, IMAGE,
                     ex_userdata=b"x" * (16 * 1024 + 1))
        finally:
            for node in nodes:
                driver.destroy_node(node)
            if nodes:
                boto.delete_key_pair(KeyName=nodes[0].extra["key_name"])
            for node in nodes:
                boto.get_waiter("instance_terminated").wait(
                    InstanceIds=[node.id], WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
            driver.ex_delete_security_group(group)


def test_node_errors(request: pytest.FixtureRequest, mode: str) -> None:
    recorder = Recorder()
    driver = make_driver(request, hooks=Hooks(on_request=[recorder]))
    with driver:
        for bad in ("i-00000000deadbeef0", "not-an-id"):
            with pytest.raises(NodeNotFound):
                call(mode, driver, "get_node", bad)
        sent = len(recorder.events)
        with pytest.raises(NodeNotFound):  # cannot be an id: nothing sent
            call(mode, driver, "get_node", "bad id\n")
        with pytest.raises(InvalidInput):
            call(mode, driver, "create_node", "ok", "t2.micro", IMAGE)
        with pytest.raises(InvalidInput):
            call(mode, driver, "create_node", "ok", SIZE, IMAGE, ex_tags={"aws:x": "y"})
        assert len(recorder.events) == sent


# -- security groups ------------------------------------------------------------------------------


def test_security_groups(request: pytest.FixtureRequest, boto: Any, mode: str) -> None:
    driver = make_driver(request, page_size=2)
    with driver:
        name = unique("web")
        group = call(mode, driver, "ex_create_security_group", name, "web servers")
        try:
            assert isinstance(group, SecurityGroup) and group.id.startswith("sg-")
            with pytest.raises(AlreadyExists):
                call(mode, driver, "ex_create_security_group", name, "again")
            assert call(mode, driver, "ex_authorize_security_group_ingress", group, 22, 22,
                        ["198.51.100.0/24"]) is True
            assert call(mode, driver, "ex_authorize_security_group_ingress", group.id, 80, 443,
                        ["0.0.0.0/0", "192.0.2.0/24"]) is True
            with pytest.raises(AlreadyExists):
                call(mode, driver, "ex_authorize_security_group_ingress", group, 22, 22,
                     ["198.51.100.0/24"])
            listed = call(mode, driver, "ex_list_security_groups")
            assert group.id in {g.id for g in listed}
            assert "default" in {g.name for g in listed}
            [found] = call(mode, driver, "ex_list_security_groups", {"group-name": name})
            assert found.description == "web servers"
            rules = sorted((r["from_port"], r["to_port"], sorted(r["cidr_ips"]))
                           for r in found.ingress_rules)
            assert rules == [(22, 22, ["198.51.100.0/24"]),
                             (80, 443, ["0.0.0.0/0", "192.0.2.0/24"])]
            seen = boto.describe_security_groups(GroupIds=[group.id])["SecurityGroups"][0]
            assert seen["GroupName"] == name
            assert {p["FromPort"] for p in seen["IpPermissions"]} == {22, 80}
            with pytest.raises(InvalidInput):
                call(mode, driver, "ex_authorize_security_group_ingress", group, 70000, 1)
        finally:
            assert call(mode, driver, "ex_delete_security_group", group) is True
        with pytest.raises(SecurityGroupNotFound):
            call(mode, driver, "ex_delete_security_group", group.id)
        assert call(mode, driver, "ex_list_security_groups", {"group-name": name}) == []


# -- images ---------------------------------------------------------------------------------------


def test_create_copy_and_delete_images(
    request: pytest.FixtureRequest, moto: MotoServer, boto: Any, mode: str
) -> None:
    driver = make_driver(request)
    west = make_driver(request, region="us-west-2")
    boto_west = boto_client(moto, "us-west-2")
    with driver, west:
        node = driver.create_node(unique("img"), SIZE, IMAGE)
        made: list[tuple[EC2NodeDriver, NodeImage]] = []
        try:
            name = unique("image")
            image = call(mode, driver, "create_image", node, name, "made by overcast")
            made.append((driver, image))
            assert image.id.startswith("ami-") and image.name == name
            fetched = call(mode, driver, "get_image", image.id)
            assert fetched.name == name
            assert fetched.extra["description"] == "made by overcast"
            mine = call(mode, driver, "list_images", ex_owners=["self"])
            assert image.id in {i.id for i in mine}
            tags = boto.describe_images(ImageIds=[image.id])["Images"][0].get("Tags", [])
            assert {t["Key"] for t in tags} == {TOKEN_TAG}
            with pytest.raises(InvalidInput):
                call(mode, driver, "create_image", node, "x")  # too short: nothing sent

            copy = call(mode, driver, "copy_image", "us-east-1", image, unique("copy"))
            made.append((driver, copy))
            assert copy.id != image.id
            assert call(mode, driver, "get_image", copy.id).name == copy.name

            across = call(mode, west, "copy_image", "us-east-1", image, unique("west"),
                          "copied west")
            made.append((west, across))
            assert boto_west.describe_images(ImageIds=[across.id])["Images"][0]["Name"] == (
                across.name)
            with pytest.raises(ImageNotFound):  # it is in us-west-2 only
                call(mode, driver, "get_image", across.id)
            with pytest.raises(InvalidInput):
                call(mode, driver, "copy_image", "not a region", image, unique("copy"))
        finally:
            for owner, made_image in made:
                assert call(mode, owner, "delete_image", made_image) is True
            driver.destroy_node(node)
        for owner, made_image in made:
            with pytest.raises(ImageNotFound):
                call(mode, owner, "get_image", made_image.id)


# -- volumes, through boto3 both ways -------------------------------------------------------------


def test_boto3_sees_what_overcast_made(
    request: pytest.FixtureRequest, boto: Any, mode: str
) -> None:
    driver = make_driver(request)
    with driver:
        name = unique("seen")
        node = call(mode, driver, "create_node", name, SIZE, IMAGE)
        try:
            instance = boto.describe_instances(InstanceIds=[node.id])["Reservations"][0][
                "Instances"][0]
            tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
            assert tags["Name"] == name
            assert tags[TOKEN_TAG] == node.extra["tags"][TOKEN_TAG]
            assert instance["InstanceType"] == SIZE_ID and instance["ImageId"] == IMAGE_ID
            assert instance["ClientToken"] == node.extra["tags"][TOKEN_TAG]
            running = driver.get_node(node.id)
            assert running.state == NodeState.RUNNING
            assert running.public_ips == [instance["PublicIpAddress"]]
            assert running.private_ips == [instance["PrivateIpAddress"]]
            zone = running.extra["availability_zone"]
            volume = call(mode, driver, "create_volume", 3, unique("disk"),
                          driver.get_location(zone))
            try:
                seen = boto.describe_volumes(VolumeIds=[volume.id])["Volumes"][0]
                assert seen["Size"] == 3 and seen["AvailabilityZone"] == zone
                assert {t["Key"]: t["Value"] for t in seen["Tags"]}["Name"] == volume.name
                assert call(mode, driver, "attach_volume", running, volume) is True
                attached = boto.describe_volumes(VolumeIds=[volume.id])["Volumes"][0]
                assert attached["Attachments"][0]["InstanceId"] == node.id
                assert attached["Attachments"][0]["Device"] == "/dev/sdf"
                assert driver.get_volume(volume.id).extra["instance_id"] == node.id
                assert call(mode, driver, "detach_volume", volume) is True
                assert boto.describe_volumes(VolumeIds=[volume.id])["Volumes"][0][
                    "Attachments"] == []
                with pytest.raises(InvalidInput):  # not attached any more
                    call(mode, driver, "detach_volume", volume)
            finally:
                call(mode, driver, "destroy_volume", volume)
            with pytest.raises(VolumeNotFound):
                call(mode, driver, "get_volume", volume.id)
        finally:
            call(mode, driver, "destroy_node", node)
        assert driver.get_node(node.id).state == NodeState.TERMINATED


def test_overcast_sees_what_boto3_made(
    request: pytest.FixtureRequest, boto: Any, mode: str
) -> None:
    name = unique("bvol")
    volume_id = boto.create_volume(
        Size=4, AvailabilityZone="us-east-1b", VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume",
                            "Tags": [{"Key": "Name", "Value": name}]}],
    )["VolumeId"]
    key_name = unique("bkey")
    boto.import_key_pair(KeyName=key_name, PublicKeyMaterial=PUBLIC_KEY.encode())
    driver = make_driver(request, page_size=2)
    try:
        with driver:
            listed = {v.id: v for v in call(mode, driver, "list_volumes")}
            volume = listed[volume_id]
            assert volume.name == name and volume.size == 4
            assert volume.extra["availability_zone"] == "us-east-1b"
            assert volume.extra["volume_type"] == "gp3"
            assert call(mode, driver, "get_volume", volume_id).name == name
            snapshot = call(mode, driver, "create_volume_snapshot", volume, "nightly")
            assert snapshot.extra["volume_id"] == volume_id
            snaps = boto.describe_snapshots(SnapshotIds=[snapshot.id])["Snapshots"]
            assert snaps[0]["VolumeId"] == volume_id
            assert {t["Key"]: t["Value"] for t in snaps[0]["Tags"]}["Name"] == "nightly"
            clone = call(mode, driver, "create_volume", 4, unique("clone"), None, snapshot)
            assert clone.extra["snapshot_id"] == snapshot.id
            call(mode, driver, "destroy_volume", clone)
            call(mode, driver, "destroy_volume_snapshot", snapshot)
            key = call(mode, driver, "get_key_pair", key_name)
            assert isinstance(key, KeyPair) and key.private_key is None
            assert key.public_key and key.public_key.startswith("ssh-ed25519 ")
            assert key_name in {k.name for k in call(mode, driver, "list_key_pairs")}
            assert call(mode, driver, "delete_key_pair", key) is True
            with pytest.raises(KeyPairNotFound):
                call(mode, driver, "get_key_pair", key_name)
    finally:
        boto.delete_volume(VolumeId=volume_id)
        boto.delete_key_pair(KeyName=key_name)


# -- throttling and refusals (answered by the proxy) ----------------------------------------------


def test_request_limit_exceeded_is_retried(moto: MotoServer, boto: Any, mode: str) -> None:
    retry = RetryPolicy(max_attempts=4, base=0.01, cap=0.05)
    name = unique("slow")
    with MotoProxy(moto.url, throttle={"DescribeAvailabilityZones": 2, "RunInstances": 1}) as proxy:
        with proxied_driver(proxy, retry=retry) as driver:
            assert call(mode, driver, "list_locations")
            # A throttled create was not processed: it is resent, and made once.
            node = call(mode, driver, "create_node", name, SIZE, IMAGE)
        assert len(proxy.actions("DescribeAvailabilityZones")) == 3
        assert len(proxy.actions("RunInstances")) == 2
        assert proxy.forwarded.count("RunInstances") == 1
    try:
        assert len(instances_tagged(boto, "Name", name)) == 1
    finally:
        boto.terminate_instances(InstanceIds=[node.id])
    with MotoProxy(moto.url, throttle={"DescribeInstances": 10}) as proxy:
        with proxied_driver(proxy, retry=retry) as driver, pytest.raises(RateLimited):
            call(mode, driver, "list_nodes")
        assert len(proxy.actions("DescribeInstances")) == 4


@pytest.mark.parametrize(("status", "code"), [(401, "AuthFailure"), (403, "UnauthorizedOperation")])
def test_refused_credentials(moto: MotoServer, mode: str, status: int, code: str) -> None:
    with (
        MotoProxy(moto.url, fail={"DescribeInstances": (status, code)}) as proxy,
        proxied_driver(proxy) as driver,
        pytest.raises(InvalidCredentials) as info,
    ):
        call(mode, driver, "list_nodes")
    assert code in str(info.value)


def test_other_errors_carry_code_and_request_id(moto: MotoServer, mode: str) -> None:
    with (
        MotoProxy(moto.url, fail={"RebootInstances": (400, "IncorrectState")}) as proxy,
        proxied_driver(proxy) as driver,
    ):
        node = Node("i-0123456789abcdef0", "ghost", NodeState.STOPPED, driver=driver)
        with pytest.raises(ProviderError) as info:
            call(mode, driver, "reboot_node", node)
    assert info.value.code == "IncorrectState"
    assert info.value.status == 400
    assert info.value.request_id == "req-IncorrectState"


# -- secrets --------------------------------------------------------------------------------------


def test_secret_never_in_logs_reprs_or_errors(
    moto: MotoServer, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    secret = "S3cr3t/" + uuid.uuid4().hex
    token = "T0ken/" + uuid.uuid4().hex
    caplog.set_level(logging.DEBUG)
    driver = EC2NodeDriver("AKIDLOGTEST", secret, token, endpoint=moto.url)
    texts = [repr(driver), str(driver), repr(driver._credentials), repr(driver.aio)]
    with driver:
        key = call(mode, driver, "create_key_pair", unique("logkey"))
        assert key.private_key is not None
        private = key.private_key.reveal()
        texts += [repr(key), str(key)]
        node = call(mode, driver, "create_node", unique("log"), SIZE, IMAGE,
                    ex_keyname=key.name)
        texts += [repr(node)]
        call(mode, driver, "list_nodes")
        for fn, args, error in (
            ("get_node", ("i-00000000deadbeef0",), NodeNotFound),
            ("get_image", ("no-such-image-0000",), ImageNotFound),
            ("get_volume", ("vol-00000000",), VolumeNotFound),
            ("get_key_pair", ("nope-" + uuid.uuid4().hex,), KeyPairNotFound),
        ):
            with pytest.raises(error) as info:
                call(mode, driver, fn, *args)
            texts += [str(info.value), repr(info.value)]
        call(mode, driver, "destroy_node", node)
        call(mode, driver, "delete_key_pair", key)
    with MotoProxy(moto.url, fail={"DescribeInstances": (403, "AuthFailure")}) as proxy:
        refused = EC2NodeDriver("AKIDLOGTEST", secret, token, endpoint=proxy.url)
        with refused, pytest.raises(InvalidCredentials) as denied:
            call(mode, refused, "list_nodes")
        texts += [str(denied.value), repr(denied.value)]
    assert "-> POST" in caplog.text and "-> GET" in caplog.text  # requests were logged
    everything = "\n".join([caplog.text, *texts])
    assert secret not in everything
    assert token not in everything
    assert private not in everything
    assert "PRIVATE KEY" not in everything


# -- constructor ----------------------------------------------------------------------------------


def test_constructor_checks_and_makes_no_request() -> None:
    driver = EC2NodeDriver("AKID", "secret", region="eu-west-1")
    assert driver.endpoint == "https://ec2.eu-west-1.amazonaws.com"
    assert "secret" not in repr(driver)
    assert EC2NodeDriver("AKID", "s", region="cn-north-1").endpoint.endswith(".amazonaws.com.cn")
    for bad in ({"region": "Moon-1"}, {"page_size": 0}, {"page_size": 1001},
                {"endpoint": "ftp://x"}):
        with pytest.raises(InvalidInput):
            EC2NodeDriver("AKID", "secret", **bad)
    with pytest.raises(InvalidCredentials):  # a key without its secret
        EC2NodeDriver("AKID", None)


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
