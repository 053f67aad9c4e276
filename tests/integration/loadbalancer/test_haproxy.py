"""The HAProxy driver with real traffic: a real HAProxy in front of HTTP
servers in this process, each answering with its own name.

Nothing here waits for time to pass: requests are counted, slow requests are
held by events, and health is polled (bounded) until HAProxy reports it.
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from overcast.errors import InvalidInput
from overcast.loadbalancer.base import Health
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import MemberCondition
from overcast.loadbalancer.drivers.haproxy import HAProxyDriver
from servers.haproxy import HAProxyServer
from servers.haproxy import NameServer
from servers.haproxy import ask
from servers.haproxy import haproxy_server
from servers.modes import call
from servers.procs import free_port

pytestmark = pytest.mark.server


def get(port: int, path: str = "/") -> str:
    """One request on a new connection; the body (an exception if it failed)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode()
        if response.status != 200:
            raise AssertionError(f"status {response.status}: {body}")
        return body
    finally:
        connection.close()


def spread(port: int, count: int) -> Counter[str]:
    return Counter(get(port) for _ in range(count))


@pytest.fixture
def haproxy(request: pytest.FixtureRequest) -> HAProxyServer:
    return haproxy_server(request)


@pytest.fixture
def backends() -> Iterator[dict[str, NameServer]]:
    servers = {name: NameServer(name) for name in ("a", "b", "c")}
    yield servers
    for server in servers.values():
        server.stop()


def member(server: NameServer, **extra: object) -> Member:
    return Member(server.name, "127.0.0.1", server.port, extra=dict(extra))


def health_of(driver: HAProxyDriver, balancer: LoadBalancer, name: str) -> Health:
    return next(m.extra["health"] for m in driver.balancer_list_members(balancer)
                if m.id == name)


def wait_for_health(driver: HAProxyDriver, balancer: LoadBalancer, name: str,
                    wanted: Health) -> None:
    """Poll the driver until the member reports ``wanted`` (bounded by a count of looks)."""
    event = threading.Event()
    for _ in range(600):
        if health_of(driver, balancer, name) == wanted:
            return
        event.wait(0.05)
    raise AssertionError(f"{name} never became {wanted}")


def test_three_members_share_traffic_evenly_and_a_detached_one_gets_none(
        haproxy: HAProxyServer, backends: dict[str, NameServer], mode: str) -> None:
    driver = haproxy.driver()
    port = free_port()
    balancer = call(mode, driver, "create_balancer", "web", port, "http")
    reloads = haproxy.reloads()
    for server in backends.values():
        call(mode, driver, "balancer_attach_member", balancer, member(server))
    for name in backends:
        wait_for_health(driver, balancer, name, Health.HEALTHY)
    counts = spread(port, 300)
    assert sum(counts.values()) == 300
    assert all(abs(counts[name] - 100) <= 2 for name in backends), counts
    detached = call(mode, driver, "balancer_detach_member", balancer, member(backends["b"]))
    assert detached is True
    after = spread(port, 300)
    assert after["b"] == 0 and sum(after.values()) == 300, after
    assert haproxy.reloads() == reloads  # members changed live
    assert [m.id for m in driver.balancer_list_members(balancer)] == ["a", "c"]


def test_a_drained_member_finishes_its_request_and_gets_no_new_one(
        haproxy: HAProxyServer, backends: dict[str, NameServer], mode: str) -> None:
    driver = haproxy.driver()
    port = free_port()
    a, b = backends["a"], backends["b"]
    balancer = call(mode, driver, "create_balancer", "web", port, "http", members=[member(a)])
    wait_for_health(driver, balancer, "a", Health.HEALTHY)
    slow: list[str] = []
    holder = threading.Thread(target=lambda: slow.append(get(port, "/slow")))
    holder.start()
    assert a.slow_started.wait(30)
    call(mode, driver, "balancer_attach_member", balancer, member(b))
    wait_for_health(driver, balancer, "b", Health.HEALTHY)
    drained = call(mode, driver, "ex_set_member_condition", balancer, "a",
                   MemberCondition.DRAINING)
    assert drained.extra["condition"] is MemberCondition.DRAINING
    assert health_of(driver, balancer, "a") == Health.DRAINING
    assert spread(port, 30) == Counter({"b": 30})
    a.release.set()
    holder.join(30)
    assert slow == ["a"]


def test_a_stopped_server_is_reported_unhealthy_and_gets_no_traffic(
        haproxy: HAProxyServer, backends: dict[str, NameServer], mode: str) -> None:
    driver = haproxy.driver()
    port = free_port()
    balancer = call(mode, driver, "create_balancer", "web", port, "http",
                    members=[member(s) for s in backends.values()])
    for name in backends:
        wait_for_health(driver, balancer, name, Health.HEALTHY)
    backends["c"].stop()
    wait_for_health(driver, balancer, "c", Health.UNHEALTHY)
    listed = {m.id: m for m in call(mode, driver, "balancer_list_members", balancer)}
    assert listed["c"].extra["status"].startswith("stopped")
    counts = spread(port, 60)
    assert counts == Counter({"a": 30, "b": 30})


def test_a_reload_during_traffic_fails_nothing_and_keeps_live_member_state(
        haproxy: HAProxyServer, backends: dict[str, NameServer], mode: str) -> None:
    driver = haproxy.driver()
    port = free_port()
    balancer = call(mode, driver, "create_balancer", "web", port, "http",
                    members=[member(backends["a"]), member(backends["b"])])
    call(mode, driver, "balancer_attach_member", balancer, member(backends["c"]))
    call(mode, driver, "ex_set_member_weight", balancer, "a", 7)
    call(mode, driver, "ex_set_member_condition", balancer, "b", MemberCondition.DRAINING)
    before = {m.id: (m.extra["weight"], m.extra["condition"])
              for m in driver.balancer_list_members(balancer)}
    assert before == {"a": (7, MemberCondition.ENABLED), "b": (1, MemberCondition.DRAINING),
                      "c": (1, MemberCondition.ENABLED)}
    done, failures = [0], []
    stop = threading.Event()
    progress = threading.Condition()

    def loop() -> None:
        while not stop.is_set():
            try:
                get(port)
            except Exception as exc:  # every failure is the test's verdict
                failures.append(repr(exc))
            with progress:
                done[0] += 1
                progress.notify_all()

    def reach(count: int) -> None:
        with progress:
            assert progress.wait_for(lambda: done[0] >= count, 60)

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        reach(50)
        reloads = haproxy.reloads()
        call(mode, driver, "create_balancer", "api", free_port(), "http",
             members=[member(backends["a"])])
        assert haproxy.reloads() == reloads + 1
        reach(done[0] + 100)
    finally:
        stop.set()
        worker.join(60)
    assert failures == []
    after = {m.id: (m.extra["weight"], m.extra["condition"])
             for m in driver.balancer_list_members(balancer)}
    assert after == before
    assert spread(port, 40)["b"] == 0


def test_a_config_haproxy_refuses_leaves_the_running_one_unchanged(
        haproxy: HAProxyServer, backends: dict[str, NameServer], mode: str) -> None:
    driver = haproxy.driver()
    port = free_port()
    call(mode, driver, "create_balancer", "web", port, "http", members=[member(backends["a"])])
    wait_for_health(driver, driver.get_balancer("web"), "a", Health.HEALTHY)
    text, reloads = haproxy.config.read_text(), haproxy.reloads()
    broken = haproxy.driver(bind_address="999.0.0.1")
    with pytest.raises(InvalidInput, match="HAProxy refused the configuration"):
        call(mode, broken, "create_balancer", "api", free_port(), "http")
    assert haproxy.config.read_text() == text
    assert haproxy.reloads() == reloads
    assert [p.name for p in haproxy.directory.iterdir() if p.name.endswith(".part")] == []
    assert [b.id for b in driver.list_balancers()] == ["web"]
    assert get(port) == "a"


def test_a_libvirt_node_is_attached_disabled_and_unchecked(
        request: pytest.FixtureRequest, haproxy: HAProxyServer,
        backends: dict[str, NameServer], mode: str) -> None:
    from overcast.compute.drivers.libvirt import LibvirtNodeDriver
    from servers.compute_libvirt import URI
    from servers.compute_libvirt import anchor

    anchor(request)
    with LibvirtNodeDriver(URI) as kvm:
        node = kvm.list_nodes()[0]
    driver = haproxy.driver()
    port = free_port()
    balancer = call(mode, driver, "create_balancer", "web", port, "http",
                    members=[member(backends["a"])])
    attached = call(mode, driver, "balancer_attach_compute_node", balancer, node,
                    ex_condition=MemberCondition.DISABLED, ex_check=False, ex_port=80)
    assert (attached.id, attached.ip, attached.port) == (node.id, node.private_ips[0], 80)
    assert attached.extra["condition"] is MemberCondition.DISABLED
    assert attached.extra["check"] is False
    listed = {m.id: m for m in call(mode, driver, "balancer_list_members", balancer)}
    assert listed[node.id].extra["health"] == Health.DISABLED
    assert spread(port, 20) == Counter({"a": 20})
    stats = ask(haproxy.runtime, "show stat").splitlines()
    fields = stats[0].lstrip("# ").split(",")
    row = next(line.split(",") for line in stats if line.startswith(f"web,{node.id},"))
    assert row[fields.index("stot")] == "0"  # not one session reached it
    assert row[fields.index("check_status")] == ""  # and it is not checked
