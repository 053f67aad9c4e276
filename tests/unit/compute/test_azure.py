"""The Azure compute driver on the scripted transport: the requests it sends and
how it reads the answers, in both modes, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.compute.base import Node
from overcast.compute.base import NodeState
from overcast.compute.drivers.azure import AzureNodeDriver
from overcast.compute.drivers.azure import _state
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call
from servers.pauses import record_pauses

TENANT = "tenant-1"
ARM = "https://management.azure.com"
SUB = f"{ARM}/subscriptions/sub-1"
VMS = f"{SUB}/resourceGroups/rg-1/providers/Microsoft.Compute/virtualMachines"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> AzureNodeDriver:
    options.setdefault("retry", RetryPolicy(max_attempts=2, base=0, cap=0))
    options.setdefault("poll_interval", 0.001)
    return AzureNodeDriver(TENANT, "sub-1", "client-1", "client-secret-1",
                           resource_group="rg-1", region="eastus", **options,
                           **script.options())


def token(script: Script) -> None:
    script.expect("POST", TOKEN_URL).reply(
        200, json={"token_type": "Bearer", "expires_in": 3600, "access_token": "tok-1"})


def vm(name: str) -> dict[str, Any]:
    return {"id": f"/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Compute/"
                  f"virtualMachines/{name}", "name": name, "location": "eastus",
            "properties": {"provisioningState": "Succeeded",
                           "hardwareProfile": {"vmSize": "Standard_B1s"},
                           "networkProfile": {"networkInterfaces": []}}}


def node(name: str) -> Node:
    return Node(id=vm(name)["id"], name=name, state=NodeState.RUNNING)


def test_a_repeated_next_link_is_refused(mode: str) -> None:
    script = Script()
    token(script)
    link = f"{VMS.replace('/resourceGroups/rg-1', '')}?api-version=2024-07-01&$skipToken=a"
    script.expect("GET", f"{SUB}/providers/Microsoft.Compute/virtualMachines",
                  params={"api-version": "2024-07-01"}).reply(
        200, json={"value": [vm("a")], "nextLink": link})
    script.expect("GET", link).reply(200, json={"value": [vm("b")], "nextLink": link})
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, driver(script), "list_nodes", ex_fetch_nic=False, ex_fetch_power_state=False)


def test_a_next_link_off_the_endpoint_is_not_followed(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{SUB}/providers/Microsoft.Compute/virtualMachines",
                  params={"api-version": "2024-07-01"}).reply(
        200, json={"value": [vm("a")], "nextLink": "https://attacker.example/x?y=1"})
    with pytest.raises(ProviderError, match="refusing to follow"):
        call(mode, driver(script), "list_nodes", ex_fetch_nic=False, ex_fetch_power_state=False)
    script.assert_done()


def begun(script: Script, action: str, header: str, status: str) -> None:
    """The VM ``web`` answers ``action`` with a long-running operation that
    ``header`` (``Location`` or ``Azure-AsyncOperation``) points to."""
    script.expect("POST", f"{VMS}/web/{action}", params={"api-version": "2024-07-01"}).reply(
        202, headers={header: status, "Retry-After": "0"})


def test_an_action_follows_location_until_it_stops_answering_202(mode: str) -> None:
    script = Script()
    token(script)
    status = f"{SUB}/providers/Microsoft.Compute/locations/eastus/operationResults/op1"
    begun(script, "deallocate", "Location", status)
    script.expect("GET", status).reply(202, headers={"Location": status})
    script.expect("GET", status).reply(200)
    assert call(mode, driver(script), "stop_node", node("web")) is True
    script.assert_done()


def test_each_pause_is_what_the_answer_asks_cut_at_wait_timeout(
        mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry-After 0 pauses the poll interval; Retry-After 1 with 0.05 s of
    wait_timeout left pauses those 0.05 s, then looks a last time."""
    paused = record_pauses(monkeypatch)
    script = Script()
    token(script)
    status = f"{SUB}/providers/Microsoft.Compute/locations/eastus/operations/op2"
    begun(script, "restart", "Azure-AsyncOperation", status)
    script.expect("GET", status).reply(200, json={"status": "InProgress"},
                                       headers={"Retry-After": "1"})
    script.expect("GET", status).reply(200, json={"status": "InProgress"})
    with pytest.raises(OperationTimeout, match=r"still running after 0\.05s"):
        call(mode, driver(script, poll_interval=0.01, wait_timeout=0.05), "reboot_node",
             node("web"))
    assert paused == pytest.approx([0.01, 0.04])
    script.assert_done()


def test_a_failed_operation_raises_its_own_error(mode: str) -> None:
    script = Script()
    token(script)
    status = f"{SUB}/providers/Microsoft.Compute/locations/eastus/operations/op3"
    begun(script, "restart", "Azure-AsyncOperation", status)
    script.expect("GET", status).reply(200, json={
        "status": "Failed", "error": {"code": "VMAgentStatusCommunicationError",
                                      "message": "The VM agent did not answer."}})
    with pytest.raises(ProviderError, match="failed: The VM agent did not answer") as caught:
        call(mode, driver(script), "reboot_node", node("web"))
    assert caught.value.code == "VMAgentStatusCommunicationError"
    script.assert_done()


def test_a_missing_vm_is_node_not_found(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{VMS}/gone", params={"api-version": "2024-07-01",
                                              "$expand": "instanceView"}).reply(
        404, json={"error": {"code": "ResourceNotFound", "message": "The Resource was not found."}})
    with pytest.raises(NodeNotFound):
        call(mode, driver(script), "get_node", "gone")


def test_bad_ids_send_nothing(mode: str) -> None:
    script = Script()
    for bad in ("a/b", "/subscriptions/../x", ""):
        with pytest.raises(InvalidInput):
            call(mode, driver(script), "get_node", bad)
    assert script.received == []


def test_states_read_as_libcloud_does() -> None:
    def codes(*found: str) -> list[dict[str, str]]:
        return [{"code": c} for c in found]

    assert _state(codes("ProvisioningState/succeeded", "PowerState/running"), None) == \
        NodeState.RUNNING
    assert _state(codes("ProvisioningState/succeeded", "PowerState/deallocated"), None) == \
        NodeState.STOPPED
    assert _state(codes("ProvisioningState/creating"), None) == NodeState.PENDING
    assert _state(codes("ProvisioningState/failed/AllocationFailed"), None) == NodeState.ERROR
    assert _state([], "Deleting") == NodeState.TERMINATED
    assert _state([], None) == NodeState.UNKNOWN


def test_constructor_checks_and_libcloud_positions() -> None:
    with pytest.raises(InvalidInput, match="api_version"):
        AzureNodeDriver("t", "s", "k", "secret", True, None, None, "2015-06-15")
    with pytest.raises(InvalidInput, match="tenant_id"):
        AzureNodeDriver(None, "s", "k", "secret")
    made = AzureNodeDriver("t", "s", "k", "secret", False, "arm.example", 8443)
    assert made.endpoint == "http://arm.example:8443" and made._identity is None
    assert "secret" not in repr(made)
