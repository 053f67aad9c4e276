"""The CloudStack driver on the scripted transport: what it sends (compared with
Libcloud 3.9.1's parameters for the same call), paging by ``count``, jobs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from libcloud.compute.drivers.cloudstack import CloudStackNodeDriver as Theirs

from overcast.auth.cloudstack import CloudStackCredentials
from overcast.auth.cloudstack import sign_params
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.drivers.cloudstack import CloudStackNetwork
from overcast.compute.drivers.cloudstack import CloudStackNodeDriver
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import ProviderError
from overcast.runtime.redact import Secret
from overcast.testing import Script
from overcast.testing import call

API = "https://cloud.example/client/api"
CREDS = CloudStackCredentials("KEY", Secret("s3cr3t"))


def signed(command: str, **params: str) -> list[tuple[str, str]]:
    return sign_params([("command", command), *params.items(), ("response", "json")], CREDS, 0)


def driver(script: Script, **options: Any) -> CloudStackNodeDriver:
    return CloudStackNodeDriver("KEY", "s3cr3t", url=API, poll_interval=0.5,
                                **script.options(), **options)


def vm(vm_id: str, name: str, state: str = "Running") -> dict[str, Any]:
    return {"id": vm_id, "name": name, "state": state,
            "nic": [{"ipaddress": "10.1.1.5"}, {"ipaddress": "203.0.113.7"}]}


def test_a_deploy_sends_what_libcloud_sends_for_the_same_call(mode: str) -> None:
    size = NodeSize("so-1", "Small", 2048, 0)
    image = NodeImage("tpl-1", "Debian")
    zone = NodeLocation("zone-1", "Zone 1")
    network = CloudStackNetwork("net", "net", "no-1", "net-1", "zone-1")
    options: dict[str, Any] = dict(networks=[network], ex_keyname="mykey",
                                   ex_userdata="#!/bin/sh\necho hi\n",
                                   ex_security_groups=["default", "web"],
                                   ex_displayname="Web One", ex_rootdisksize="20")
    theirs = Theirs("KEY", "s3cr3t", url=API)._create_args_to_params(
        None, "web1", SimpleNamespace(id="so-1"), SimpleNamespace(id="tpl-1"),
        SimpleNamespace(id="zone-1"), ex_start_vm=True, **options)
    # Libcloud's parameters, as text (it sends True as "True", CloudStack reads
    # any case), are exactly what the deploy must carry, signed.
    expected = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in theirs.items()}
    script = Script()
    script.expect("GET", API, params=signed("listVirtualMachines", name="web1", page="1",
                                            pagesize="500")).reply(json={
                                                "listvirtualmachinesresponse": {}})
    script.expect("GET", API, params=signed("deployVirtualMachine", **expected)).reply(
        json={"deployvirtualmachineresponse": {"jobid": "job-1", "id": "vm-1"}})
    script.expect("GET", API, params=signed("queryAsyncJobResult", jobid="job-1")).reply(
        json={"queryasyncjobresultresponse": {"jobid": "job-1", "jobstatus": 1,
                                              "jobresult": {"virtualmachine": vm("vm-1",
                                                                                 "web1")}}})
    node = call(mode, driver(script), "create_node", "web1", size, image, zone, **options)
    script.assert_done()
    assert node.id == "vm-1" and node.private_ips == ["10.1.1.5"]
    assert node.public_ips == ["203.0.113.7"]
    assert set(expected) >= {"networkids", "keypair", "userdata", "securitygroupnames",
                             "displayname", "rootdisksize", "zoneid", "startvm"}


def test_listings_follow_count_and_stop_at_an_empty_page(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=signed("listVirtualMachines", page="1", pagesize="2")
                  ).reply(json={"listvirtualmachinesresponse": {
                      "count": 5, "virtualmachine": [vm("a", "a"), vm("b", "b")]}})
    script.expect("GET", API, params=signed("listVirtualMachines", page="2", pagesize="2")
                  ).reply(json={"listvirtualmachinesresponse": {
                      "count": 5, "virtualmachine": [vm("c", "c"), vm("d", "d")]}})
    # The fifth VM went away between pages: the empty third page ends the listing.
    script.expect("GET", API, params=signed("listVirtualMachines", page="3", pagesize="2")
                  ).reply(json={"listvirtualmachinesresponse": {}})
    nodes = call(mode, driver(script, page_size=2), "list_nodes")
    assert [n.id for n in nodes] == ["a", "b", "c", "d"]
    script.assert_done()


def test_a_server_that_ignores_page_is_an_error_not_a_listing_twice(mode: str) -> None:
    script = Script()
    for number in ("1", "2"):
        script.expect("GET", API, params=signed("listVirtualMachines", page=number,
                                                pagesize="2")).reply(json={
            "listvirtualmachinesresponse": {"count": 4,
                                            "virtualmachine": [vm("a", "a"), vm("b", "b")]}})
    with pytest.raises(ProviderError, match="ignores 'page'"):
        call(mode, driver(script, page_size=2), "list_nodes")
    script.assert_done()


def test_a_failed_job_and_an_error_answer_are_read_from_their_shapes(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=signed("rebootVirtualMachine", id="vm-1")).reply(
        json={"rebootvirtualmachineresponse": {"jobid": "job-9"}})
    script.expect("GET", API, params=signed("queryAsyncJobResult", jobid="job-9")).reply(
        json={"queryasyncjobresultresponse": {"jobid": "job-9", "jobstatus": 0}})
    script.expect("GET", API, params=signed("queryAsyncJobResult", jobid="job-9")).reply(
        json={"queryasyncjobresultresponse": {
            "jobid": "job-9", "jobstatus": 2, "jobresultcode": 530,
            "jobresult": {"errorcode": 530, "errortext": "Failed to reboot vm instance"}}})
    script.expect("GET", API, params=signed("listVirtualMachines", id="vm-2")).reply(
        431, json={"listvirtualmachinesresponse": {
            "uuidList": [], "errorcode": 431, "cserrorcode": 4350,
            "errortext": "Invalid parameter id value=vm-2 due to incorrect long value format, "
                         "or entity does not exist"}})
    cs = driver(script)
    with pytest.raises(ProviderError, match="Failed to reboot") as caught:
        call(mode, cs, "reboot_node", _node(cs, "vm-1"))
    assert caught.value.status == 530
    with pytest.raises(NodeNotFound):
        call(mode, cs, "get_node", "vm-2")
    script.assert_done()


def _node(cs: CloudStackNodeDriver, node_id: str) -> Any:
    from overcast.compute.base import Node
    from overcast.compute.base import NodeState

    return Node(node_id, node_id, NodeState.RUNNING, driver=cs)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(InvalidInput):
        CloudStackNodeDriver("KEY", "s3cr3t")
    with pytest.raises(InvalidInput):
        CloudStackNodeDriver("KEY", "", url=API)
    with pytest.raises(InvalidInput):
        CloudStackNodeDriver("KEY", "s3cr3t", url=API, endpoint=API)
    with pytest.raises(InvalidInput):
        CloudStackNodeDriver("KEY", "s3cr3t", url=API, poll_interval=0)
    assert CloudStackNodeDriver("KEY", "s3cr3t", True, "cloud.example").endpoint == API
    assert "s3cr3t" not in repr(CloudStackNodeDriver("KEY", "s3cr3t", url=API))
