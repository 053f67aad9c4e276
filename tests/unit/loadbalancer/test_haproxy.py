"""The HAProxy driver's operations driven on scripted effects: no HAProxy, no
socket. Each operation's generator is run here; its Run and Converse effects
get scripted answers, its Call effects (the file work) run on a temporary
directory, its Sleeps are only counted. (The same generators run on both
runners against a real HAProxy in tests/integration/loadbalancer and the
conformance suite.)"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Generator
from pathlib import Path
from typing import Any
from typing import ClassVar

import pytest

from overcast.driver import BaseDriver
from overcast.errors import AlreadyExists
from overcast.errors import BalancerNotFound
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.loadbalancer.base import Algorithm
from overcast.loadbalancer.base import Health
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import MemberCondition
from overcast.loadbalancer.base import State
from overcast.loadbalancer.drivers.haproxy import HAProxyDriver
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Op
from overcast.runtime.effects import Sleep
from overcast.runtime.operation import operation
from overcast.runtime.process import Completed
from overcast.runtime.process import Converse
from overcast.runtime.process import Run
from overcast.runtime.process import converse_op
from overcast.runtime.process import run_op
from overcast.testing import call

STATE_HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state "
                "srv_uweight srv_iweight srv_time_since_last_change srv_check_status "
                "srv_check_result srv_check_health srv_check_state srv_agent_state")


def proc(reloads: int, failed: int = 0) -> str:
    return ("#<PID>          <type>          <reloads>       <uptime>        <version>\n"
            f"100             master          {reloads} [failed: {failed}]   0d00h00m01s  2.6\n"
            "# workers\n101             worker          0               0d00h00m01s  2.6\n")


class Effects:
    """Answers a generator's effects from a script of (command prefix, answer)."""

    def __init__(self, check: Completed | None = None) -> None:
        self.answers: list[tuple[str, str]] = []
        self.commands: list[str] = []
        self.runs: list[list[str]] = []
        self.sleeps = 0
        self.check = check or Completed(0, b"", b"")

    def on(self, prefix: str, answer: str = "") -> Effects:
        self.answers.append((prefix, answer))
        return self

    def reload(self, before: int = 0) -> Effects:
        """A save of the state, then a confirmed reload."""
        return (self.on("show servers state", STATE_HEADER).on("show proc", proc(before))
                .on("reload").on("show proc", proc(before + 1)))

    def answer(self, effect: Any) -> Any:
        if isinstance(effect, Call):
            return effect.fn(*effect.args, **effect.kwargs)
        if isinstance(effect, Run):
            self.runs.append(list(effect.argv))
            return self.check
        if isinstance(effect, Sleep):
            self.sleeps += 1
            return None
        if isinstance(effect, Converse):
            command = effect.data.decode().strip()
            self.commands.append(command)
            prefix, answer = self.answers.pop(0) if self.answers else ("(none)", "")
            assert command.startswith(prefix), f"sent {command!r}, expected {prefix!r}"
            return answer.encode()
        raise AssertionError(f"unexpected effect {effect!r}")

    def run(self, op: Generator[Any, Any, Any]) -> Any:
        """Run an operation (or an iterator operation: its items, as a list)."""
        value: Any = None
        error: BaseException | None = None
        emitted: list[Any] = []
        while True:
            try:
                effect = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return emitted if emitted or stop.value is None else stop.value
            value, error = None, None
            if isinstance(effect, Emit):
                emitted.append(effect.item)
                continue
            try:
                value = self.answer(effect)
            except Exception as exc:  # the effect failed: the operation sees it
                error = exc

    def done(self) -> None:
        assert self.answers == [], f"never sent: {self.answers}"


@pytest.fixture
def driver(tmp_path: Path) -> HAProxyDriver:
    return HAProxyDriver(str(tmp_path / "overcast.cfg"), master_socket="/run/m.sock",
                         runtime_socket="/run/a.sock", base_configs=["/etc/base.cfg"],
                         state_file=str(tmp_path / "state"), reload_timeout=1.0)


def create(driver: HAProxyDriver, effects: Effects, name: str = "web", port: int = 8080,
           members: tuple[Member, ...] = ()) -> LoadBalancer:
    made: LoadBalancer = effects.run(driver.create_balancer.op(
        name, port, "http", Algorithm.LEAST_CONNECTIONS, list(members)))
    return made


def test_create_checks_renames_saves_state_and_reloads(driver: HAProxyDriver,
                                                        tmp_path: Path) -> None:
    effects = Effects().reload(3)
    made = create(driver, effects, members=(Member("a", "127.0.0.1", 8001,
                                                   extra={"weight": 5}),))
    assert (made.id, made.port, made.ip, made.state) == ("web", 8080, "127.0.0.1",
                                                         State.RUNNING)
    [argv] = effects.runs
    assert argv[:4] == ["haproxy", "-c", "-q", "-f"] and argv[4] == "/etc/base.cfg"
    assert argv[5] == "-f" and argv[6] != str(tmp_path / "overcast.cfg")
    text = (tmp_path / "overcast.cfg").read_text()
    assert "frontend web\n    bind 127.0.0.1:8080\n    mode http\n" in text
    assert "balance leastconn" in text and "option http-server-close" in text
    assert "server a 127.0.0.1:8001 weight 5 check inter 1000ms fall 2 rise 1" in text
    assert (tmp_path / "state").read_text() == STATE_HEADER + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overcast.cfg", "state"]
    effects.done()
    listed = Effects().run(driver.iterate_balancers.op())
    assert [(b.id, b.port, b.extra["algorithm"]) for b in listed] == [
        ("web", 8080, Algorithm.LEAST_CONNECTIONS)]


def test_a_refused_config_is_never_applied(driver: HAProxyDriver, tmp_path: Path) -> None:
    create(driver, Effects().reload())
    before = (tmp_path / "overcast.cfg").read_text()
    refused = Effects(Completed(1, b"", b"[NOTICE] x\n[ALERT] (1) : config : parsing "
                                        b"[x.cfg:9] : 'bind 999.0.0.1:1' : invalid address\n"))
    with pytest.raises(InvalidInput, match=r"HAProxy refused the configuration: .*invalid "
                                           r"address"):
        create(driver, refused, "api", 8081)
    assert refused.commands == []  # no reload, no state saved
    assert (tmp_path / "overcast.cfg").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overcast.cfg", "state"]


def test_a_failed_reload_is_a_provider_error(driver: HAProxyDriver) -> None:
    effects = (Effects().on("show servers state", STATE_HEADER).on("show proc", proc(1))
               .on("reload").on("show proc", proc(2, failed=1)))
    with pytest.raises(ProviderError, match="could not load"):
        create(driver, effects)


def test_an_unconfirmed_reload_is_a_provider_error(driver: HAProxyDriver) -> None:
    effects = Effects().on("show servers state", STATE_HEADER).on("show proc", proc(1))
    effects.on("reload")
    for _ in range(20):
        effects.on("show proc", proc(1))
    with pytest.raises(ProviderError, match="did not confirm"):
        create(driver, effects)
    assert effects.sleeps == 20


@pytest.mark.parametrize(("args", "error"), [
    (("web", 0, "http"), InvalidInput),
    (("web", 80, "gopher"), InvalidInput),
    (("web", 80, "http", "fastest"), InvalidInput),
    (("web", 80, "http", Algorithm.SHORTEST_RESPONSE), NotSupported),
    (("web", 80, "http", Algorithm.ROUND_ROBIN, [Member(None, None, 80)]), InvalidInput),
    (("web", 80, "http", Algorithm.ROUND_ROBIN, [Member("i-1", None, 80)]), InvalidInput),
    (("we b", 80), InvalidInput),
])
def test_invalid_input_does_nothing(driver: HAProxyDriver, tmp_path: Path,
                                    args: tuple[Any, ...], error: type[Exception]) -> None:
    effects = Effects()
    with pytest.raises(error):
        effects.run(driver.create_balancer.op(*args))
    assert effects.runs == [] and effects.commands == []
    assert not (tmp_path / "overcast.cfg").exists()


def test_duplicates_and_missing(driver: HAProxyDriver) -> None:
    web = create(driver, Effects().reload())
    with pytest.raises(AlreadyExists):
        create(driver, Effects())
    with pytest.raises(InvalidInput, match="taken"):
        create(driver, Effects(), "api")
    with pytest.raises(BalancerNotFound):
        Effects().run(driver.get_balancer.op("nope"))
    ghost = LoadBalancer("nope", "nope", State.RUNNING, None, 1)
    with pytest.raises(BalancerNotFound):
        Effects().run(driver.destroy_balancer.op(ghost))
    with pytest.raises(MemberNotFound):
        Effects().run(driver.balancer_detach_member.op(web, Member("x", "127.0.0.1", 1)))
    with pytest.raises(NotSupported):
        Effects().run(driver.update_balancer.op(web, name="renamed"))


def test_attach_is_live_and_written_down(driver: HAProxyDriver, tmp_path: Path) -> None:
    web = create(driver, Effects().reload())
    effects = (Effects().on("add server web/b 127.0.0.1:8002 weight 1 check inter 1000ms",
                            "New server registered.")
               .on("enable server web/b").on("enable health web/b")
               .on("show servers state", STATE_HEADER))
    attached = effects.run(driver.balancer_attach_member.op(web, Member("b", "127.0.0.1", 8002)))
    assert attached.extra["condition"] is MemberCondition.ENABLED
    effects.done()
    quiet = Effects().on("add server web/n 10.0.0.9:80 weight 1", "New server registered.")
    quiet.on("show servers state", STATE_HEADER)
    node = type("Node", (), {"id": "n", "public_ips": [], "private_ips": ["10.0.0.9"]})()
    quiet.run(driver.balancer_attach_compute_node.op(
        web, node, ex_condition=MemberCondition.DISABLED, ex_check=False, ex_port=80))
    assert quiet.commands[0] == "add server web/n 10.0.0.9:80 weight 1"
    quiet.done()
    text = (tmp_path / "overcast.cfg").read_text()
    assert "server b 127.0.0.1:8002 weight 1 check" in text
    assert "server n 10.0.0.9:80 weight 1 disabled" in text
    refused = Effects().on("add server", "Already exists a server with the same name.")
    with pytest.raises(ProviderError, match="HAProxy refused add"):
        refused.run(driver.balancer_attach_member.op(web, Member("c", "127.0.0.1", 1)))


def test_detach_waits_for_in_flight_requests(driver: HAProxyDriver, tmp_path: Path) -> None:
    web = create(driver, Effects().reload(), members=(Member("a", "127.0.0.1", 8001),))
    effects = (Effects().on("disable server web/a")
               .on("del server web/a", "Server still has connections attached to it.")
               .on("del server web/a", "Server still has connections attached to it.")
               .on("del server web/a", "Server deleted.")
               .on("show servers state", STATE_HEADER))
    assert effects.run(driver.balancer_detach_member.op(web, Member("a", None, None))) is True
    assert effects.sleeps == 2
    effects.done()
    assert "server a " not in (tmp_path / "overcast.cfg").read_text()


def test_members_report_health_condition_and_weight(driver: HAProxyDriver) -> None:
    web = create(driver, Effects().reload(), members=tuple(
        Member(n, "127.0.0.1", 8000 + i) for i, n in enumerate("abcde")))
    rows = [("a", 2, 0, 7), ("b", 0, 0, 1), ("c", 2, 8, 1), ("d", 2, 1, 1), ("e", 1, 0, 1)]
    state = STATE_HEADER + "".join(f"\n3 web {i} {n} 127.0.0.1 {op} {admin} {w} {w} 0 1 0 2 0 0"
                                   for i, (n, op, admin, w) in enumerate(rows))
    listed = Effects().on("show servers state web", state).run(
        driver.balancer_iterate_members.op(web))
    assert [(m.id, m.extra["health"], m.extra["condition"], m.extra["weight"])
            for m in listed] == [
        ("a", Health.HEALTHY, MemberCondition.ENABLED, 7),
        ("b", Health.UNHEALTHY, MemberCondition.ENABLED, 1),
        ("c", Health.DRAINING, MemberCondition.DRAINING, 1),
        ("d", Health.DISABLED, MemberCondition.DISABLED, 1),
        ("e", Health.UNKNOWN, MemberCondition.ENABLED, 1)]
    assert listed[1].extra["status"] == "stopped admin=0x0"


def test_condition_and_weight_are_live(driver: HAProxyDriver, tmp_path: Path) -> None:
    web = create(driver, Effects().reload(), members=(Member("a", "127.0.0.1", 8001),))
    steps: list[tuple[Callable[[], Any], str]] = [
        (lambda: driver.ex_set_member_condition.op(web, "a", MemberCondition.DRAINING),
         "set server web/a state drain"),
        (lambda: driver.ex_set_member_condition.op(web, "a", MemberCondition.DISABLED),
         "set server web/a state maint"),
        (lambda: driver.ex_set_member_weight.op(web, "a", 9), "set server web/a weight 9"),
    ]
    for op, command in steps:
        effects = Effects().on(command).on("show servers state", STATE_HEADER)
        effects.run(op())
        effects.done()
    assert "server a 127.0.0.1:8001 weight 9 check" in (tmp_path / "overcast.cfg").read_text()
    with pytest.raises(InvalidInput):
        Effects().run(driver.ex_set_member_weight.op(web, "a", 300))


def test_update_and_destroy_reload(driver: HAProxyDriver, tmp_path: Path) -> None:
    web = create(driver, Effects().reload())
    updated = Effects().reload(1).run(driver.update_balancer.op(
        web, port=9090, algorithm=Algorithm.RANDOM))
    assert updated.port == 9090 and updated.extra["algorithm"] is Algorithm.RANDOM
    assert "balance random" in (tmp_path / "overcast.cfg").read_text()
    unchanged = Effects()
    assert unchanged.run(driver.update_balancer.op(web, port=9090)).port == 9090
    assert unchanged.commands == []
    assert Effects().reload(2).run(driver.destroy_balancer.op(web)) is True
    assert Effects().run(driver.iterate_balancers.op()) == []
    assert "frontend web" not in (tmp_path / "overcast.cfg").read_text()


# -- the typed process steps the driver is built on, on both runners --------------------------


class _Steps(BaseDriver):
    """Runs run_op and converse_op on the runners."""

    name: ClassVar[str] = "steps"
    area: ClassVar[str] = "test"

    @operation
    def both(self, program: list[str], path: str) -> Op[tuple[int, bytes, bytes]]:
        """A program's exit status and output, then a socket's answer."""
        done = yield from run_op(Run(program))
        answer = yield from converse_op(Converse(path, b"show proc\n"))
        return done.returncode, done.stdout, answer


def test_run_op_and_converse_op_on_both_runners(mode: str) -> None:
    import socketserver
    import sys
    import tempfile
    import threading

    class Echo(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"heard " + self.rfile.read())

    with tempfile.TemporaryDirectory(dir="/tmp") as home:
        path = f"{home}/cli.sock"
        server = socketserver.ThreadingUnixStreamServer(path, Echo)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            status, out, answer = call(mode, _Steps(), "both",
                                       [sys.executable, "-c", "print('ok')"], path)
        finally:
            server.shutdown()
            server.server_close()
    assert (status, out, answer) == (0, b"ok\n", b"heard show proc\n")
