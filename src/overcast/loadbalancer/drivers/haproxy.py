"""HAProxy (2.6 and later) on the driver's machine, in master-worker mode.

HAProxy runs as ``haproxy -W -S <master socket> -f <operator's config> -f
<driver's file>``: the operator's configuration (``global``, ``defaults``,
anything else) is left untouched; the driver owns a second file in which each
balancer is a frontend and a backend of the same name. The operator's
``global`` section must give the runtime socket ``level admin`` and
``expose-fd listeners`` (so a reload is hitless), and, for members' drain and
weight to survive a reload, ``server-state-file <state_file>`` with
``load-server-state-from-file global`` in ``defaults``::

    global
        master-worker
        stats socket /run/haproxy/admin.sock level admin expose-fd listeners
        server-state-file /var/lib/haproxy/overcast.state
    defaults
        mode http
        timeout connect 5s
        timeout client 30s
        timeout server 30s
        load-server-state-from-file global

How changes are made:

* **Balancers** (create, update, destroy) change the file: the driver writes
  a temporary file beside it, checks it with ``haproxy -c`` (with the
  operator's files before it), renames it into place and reloads through the
  master CLI (``reload``), confirmed by ``show proc`` (the master's reload
  count goes up, its failed count does not). A file ``haproxy -c`` refuses is
  never applied: :class:`~overcast.errors.InvalidInput` carries HAProxy's
  message and the running configuration is unchanged. Before a reload the
  servers' state is saved to the state file, so live members keep their
  weight, drain and maintenance state.
* **Members** are added, drained, re-weighted, disabled and removed live
  through the runtime API (``add server`` then ``enable server`` and
  ``enable health``; ``set server ... state drain|maint|ready``; ``set server
  ... weight``; ``disable server`` and ``del server``, retried while the
  server still finishes requests), with no reload; each change is also
  written to the file and the state file, so the next reload keeps it.
* **Health** comes from ``show servers state``: a server in maintenance is
  ``disabled``, one draining ``draining``, one up ``healthy``, one down
  ``unhealthy``. A member's ``extra["condition"]`` is its
  :class:`~overcast.loadbalancer.base.MemberCondition`, ``extra["weight"]``
  its weight, ``extra["check"]`` whether HAProxy checks it.

Every program run and socket exchange is a runtime effect
(:class:`~overcast.runtime.process.Run`,
:class:`~overcast.runtime.process.Converse`), file work a
:class:`~overcast.runtime.effects.Call`: the driver works sync and async alike.
One driver instance at a time should change a given file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.compute.base import NodeLike
from overcast.errors import AlreadyExists
from overcast.errors import BalancerNotFound
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import TransportError
from overcast.loadbalancer.base import Algorithm
from overcast.loadbalancer.base import Health
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import LoadBalancerDriver
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import MemberCondition
from overcast.loadbalancer.base import State
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Sleep
from overcast.runtime.files import create_temp
from overcast.runtime.files import write_atomic
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.process import Converse
from overcast.runtime.process import Run
from overcast.runtime.process import converse_op
from overcast.runtime.process import run_op

__all__ = ["HAProxyDriver"]

#: ``balance`` keywords of the algorithms offered (all dynamic: ``add server`` works).
BALANCE: Final = {
    Algorithm.ROUND_ROBIN: "roundrobin",
    Algorithm.WEIGHTED_ROUND_ROBIN: "roundrobin",
    Algorithm.LEAST_CONNECTIONS: "leastconn",
    Algorithm.WEIGHTED_LEAST_CONNECTIONS: "leastconn",
    Algorithm.RANDOM: "random",
}
#: The bits of ``srv_admin_state`` meaning maintenance (forced, inherited,
#: configured, resolution, health-check) and drain (forced, inherited).
_MAINT: Final = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
_DRAIN: Final = 0x08 | 0x10
_OP_STATES: Final = {"0": "stopped", "1": "starting", "2": "running", "3": "stopping"}
_NAME: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}\Z")
_MARK: Final = "# overcast-balancer "
_HEADER: Final = ("# Written by overcast's haproxy driver: each balancer is a frontend and a\n"
                  "# backend of one name. Changes made here by hand are overwritten.\n")
#: Seconds between two looks at a reload, or at a server still finishing requests.
POLL: Final = 0.05


@dataclass(slots=True)
class _Server:
    name: str
    ip: str
    port: int
    weight: int = 1
    check: bool = True
    disabled: bool = False


@dataclass(slots=True)
class _Balancer:
    name: str
    port: int
    protocol: str
    algorithm: Algorithm
    servers: list[_Server] = field(default_factory=list)

    def server(self, name: str | None) -> _Server | None:
        return next((s for s in self.servers if s.name == name), None)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        return ""


def _write_temp(path: str, content: str) -> str:
    """Write ``content`` to a new temporary file beside ``path``; its path."""
    directory = os.path.dirname(path) or "."
    fd, name = create_temp(f".{os.path.basename(path)}.", directory=directory, mode=0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    return os.path.join(directory, name)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class HAProxyDriver(LoadBalancerDriver):
    """HAProxy 2.6+, through its master and runtime CLIs and a file it owns.

    ``config_path`` is the driver's file (loaded after the operator's,
    ``base_configs``, which ``haproxy -c`` reads before it); ``master_socket``
    is the master CLI (``-S``), ``runtime_socket`` the ``stats socket ...
    level admin``; ``state_file`` the ``server-state-file`` the operator's
    configuration names (``None``: state is not saved). Frontends bind
    ``bind_address``; checked members are checked every ``check_interval``
    seconds and marked down after ``fall`` failed checks (up after ``rise``).
    ``haproxy`` is the program. No program is run and no socket opened here.
    """

    name: ClassVar[str] = "haproxy"
    protocols: ClassVar[tuple[str, ...]] = ("http", "tcp")
    algorithms: ClassVar[tuple[Algorithm, ...]] = tuple(BALANCE)

    def __init__(self, config_path: str, *, master_socket: str, runtime_socket: str,
                 base_configs: Sequence[str] = (), state_file: str | None = None,
                 bind_address: str = "127.0.0.1", check_interval: float = 1.0, fall: int = 2,
                 rise: int = 1, haproxy: str = "haproxy", reload_timeout: float = 30.0,
                 **options: Any) -> None:
        super().__init__(**options)
        for what, value in (("config_path", config_path), ("master_socket", master_socket),
                            ("runtime_socket", runtime_socket)):
            if not isinstance(value, str) or not value:
                raise InvalidInput(f"{what} must be a path: {value!r}", driver=self)
        self.config_path = config_path
        self.master_socket = master_socket
        self.runtime_socket = runtime_socket
        self.base_configs = tuple(base_configs)
        self.state_file = state_file
        self.bind_address = bind_address
        if check_interval <= 0 or fall < 1 or rise < 1:
            raise InvalidInput("check_interval must be positive, fall and rise at least 1",
                               driver=self)
        self.check_interval = check_interval
        self.fall = fall
        self.rise = rise
        self.haproxy = haproxy
        self.reload_timeout = reload_timeout

    def _repr_fields(self) -> dict[str, object]:
        return {"config_path": self.config_path}

    # -- the file ---------------------------------------------------------------------------

    def _load(self) -> Op[list[_Balancer]]:
        text = yield Call(_read, self.config_path)
        balancers: list[_Balancer] = []
        for line in str(text).splitlines():
            stripped = line.strip()
            if line.startswith(_MARK):
                record = json.loads(line[len(_MARK):])
                balancers.append(_Balancer(record["name"], record["port"], record["protocol"],
                                           Algorithm(record["algorithm"])))
            elif stripped.startswith("server ") and balancers:
                words = stripped.split()
                host, _, port = words[2].rpartition(":")
                weight = words[words.index("weight") + 1] if "weight" in words else "1"
                balancers[-1].servers.append(_Server(
                    words[1], host, int(port), int(weight), "check" in words,
                    "disabled" in words))
        return balancers

    def _render(self, balancers: Sequence[_Balancer]) -> str:
        parts = [_HEADER]
        for b in balancers:
            record = {"name": b.name, "port": b.port, "protocol": b.protocol,
                      "algorithm": b.algorithm.value}
            parts.append(f"\n{_MARK}{json.dumps(record)}\n"
                         f"frontend {b.name}\n    bind {self.bind_address}:{b.port}\n"
                         f"    mode {b.protocol}\n    default_backend {b.name}\n"
                         f"backend {b.name}\n    mode {b.protocol}\n"
                         f"    balance {BALANCE[b.algorithm]}\n")
            if b.protocol == "http":
                # Each answer closes its server connection, so a removed server
                # has no idle connection holding it.
                parts.append("    option http-server-close\n")
            parts.extend(f"    {self._server_line(s)}\n" for s in b.servers)
        return "".join(parts)

    def _server_args(self, server: _Server) -> str:
        args = f"{server.ip}:{server.port} weight {server.weight}"
        if server.check:
            args += (f" check inter {round(self.check_interval * 1000)}ms fall {self.fall}"
                     f" rise {self.rise}")
        return args

    def _server_line(self, server: _Server) -> str:
        line = f"server {server.name} {self._server_args(server)}"
        return line + " disabled" if server.disabled else line

    def _store(self, balancers: Sequence[_Balancer], *, reload: bool) -> Op[None]:
        """Write, check, rename into place; reload if asked (state saved first)."""
        temp = yield Call(_write_temp, self.config_path, self._render(balancers))
        files = [arg for path in (*self.base_configs, temp) for arg in ("-f", path)]
        checked = yield from run_op(Run([self.haproxy, "-c", "-q", *files]))
        if not checked.ok:
            yield Call(_remove, temp)
            said = (checked.stderr or checked.stdout).decode("utf-8", "replace")
            alerts = [line for line in said.splitlines() if "ALERT" in line] or [said]
            raise InvalidInput("HAProxy refused the configuration: "
                               + " ".join(" ".join(alerts).split()), driver=self)
        yield Call(os.replace, temp, self.config_path)
        if reload:
            yield from self._save_state()
            yield from self._reload()

    # -- the CLIs ---------------------------------------------------------------------------

    def _runtime(self, command: str, *, ok: Sequence[str] = ("",)) -> Op[str]:
        """One runtime API command; its answer (ProviderError unless it is one
        of ``ok``: prefixes of the answers that mean success)."""
        raw = yield from converse_op(Converse(self.runtime_socket, f"{command}\n".encode()))
        answer = bytes(raw).decode("utf-8", "replace").strip()
        if not any(answer.startswith(expected) if expected else answer == ""
                   for expected in ok):
            raise ProviderError(f"HAProxy refused {command.split()[0]} "
                                f"{command.split()[1] if ' ' in command else ''}: {answer}",
                                driver=self)
        return answer

    def _proc(self) -> Op[tuple[int, int]]:
        """The master's reload and failed-reload counts (``show proc``)."""
        raw = yield from converse_op(Converse(self.master_socket, b"show proc\n"))
        for line in bytes(raw).decode("utf-8", "replace").splitlines():
            found = re.match(r"\s*\d+\s+master\s+(\d+)\s*(?:\[failed:\s*(\d+)\])?", line)
            if found:
                return int(found[1]), int(found[2] or 0)
        raise ProviderError("the master CLI's show proc named no master", driver=self)

    def _reload(self) -> Op[None]:
        """A hitless reload through the master CLI, confirmed by ``show proc``."""
        reloads, failed = yield from self._proc()
        yield from converse_op(Converse(self.master_socket, b"reload\n"))
        for _ in range(max(1, int(self.reload_timeout / POLL))):
            yield Sleep(POLL)
            try:
                now, now_failed = yield from self._proc()
            except (TransportError, ProviderError):  # the master is re-executing
                continue
            if now_failed > failed:
                raise ProviderError("HAProxy could not load the new configuration; the "
                                    "previous one still runs", driver=self)
            if now > reloads:
                return
        raise ProviderError(f"HAProxy did not confirm the reload within "
                            f"{self.reload_timeout:g}s", driver=self)

    def _save_state(self) -> Op[None]:
        """Save every server's state where the next reload loads it from."""
        if self.state_file is None:
            return
        state = yield from self._runtime("show servers state", ok=("1",))
        yield Call(write_atomic, self.state_file, state + "\n")

    # -- reading ----------------------------------------------------------------------------

    def _to_balancer(self, b: _Balancer) -> LoadBalancer:
        extra = {"protocol": b.protocol, "algorithm": b.algorithm, "frontend": b.name,
                 "backend": b.name}
        return LoadBalancer(b.name, b.name, State.RUNNING, self.bind_address, b.port, self,
                            extra)

    def _find(self, balancers: list[_Balancer], balancer_id: object) -> _Balancer:
        found = next((b for b in balancers if b.name == balancer_id), None)
        if found is None:
            raise BalancerNotFound(str(balancer_id), driver=self)
        return found

    def _check_name(self, name: object, what: str = "a balancer name") -> str:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput(f"{what} is 1 to 64 letters, digits and _.:-: {name!r}",
                               driver=self)
        return name

    @iterator
    def iterate_balancers(self) -> Iter[LoadBalancer]:
        """The balancers of the driver's file."""
        for balancer in (yield from self._load()):
            yield Emit(self._to_balancer(balancer))

    @operation
    def get_balancer(self, balancer_id: str) -> Op[LoadBalancer]:
        """A balancer of the driver's file by name; BalancerNotFound if absent."""
        return self._to_balancer(self._find((yield from self._load()), balancer_id))

    # -- balancers (a reload each) ----------------------------------------------------------

    @operation
    def create_balancer(self, name: str, port: int, protocol: str = "http",
                        algorithm: Algorithm = Algorithm.ROUND_ROBIN,
                        members: Sequence[Member] = ()) -> Op[LoadBalancer]:
        """Add a frontend on ``bind_address:port`` and its backend with
        ``members``; checked with ``haproxy -c``, applied by a hitless reload."""
        self._check_name(name)
        self._check_port(port)
        chosen_protocol = self._check_protocol(protocol)
        chosen = self._check_algorithm(algorithm)
        servers = [self._to_server(m, None) for m in self._check_members(members)]
        balancers = yield from self._load()
        if any(b.name == name for b in balancers):
            raise AlreadyExists(f"a balancer named {name!r} exists", driver=self)
        if any(b.port == port for b in balancers):
            raise InvalidInput(f"port {port} is taken by another balancer", driver=self)
        made = _Balancer(name, port, chosen_protocol, chosen)
        for server in servers:
            if made.server(server.name) is not None:
                raise InvalidInput(f"two members named {server.name!r}", driver=self)
            made.servers.append(server)
        yield from self._store([*balancers, made], reload=True)
        return self._to_balancer(made)

    @operation
    def destroy_balancer(self, balancer: LoadBalancer) -> Op[bool]:
        """Remove a balancer's frontend and backend (a reload)."""
        balancers = yield from self._load()
        gone = self._find(balancers, balancer.id)
        yield from self._store([b for b in balancers if b is not gone], reload=True)
        return True

    @operation
    def update_balancer(self, balancer: LoadBalancer, *, name: str | None = None,
                        algorithm: Algorithm | None = None, protocol: str | None = None,
                        port: int | None = None) -> Op[LoadBalancer]:
        """Change a balancer's port, protocol or algorithm (a reload); the
        name is its frontend's and backend's, and cannot change."""
        if name is not None and name != balancer.id:
            raise NotSupported("an HAProxy balancer's name is its id: it cannot change",
                               driver=self)
        changes: dict[str, Any] = {}
        if port is not None:
            changes["port"] = self._check_port(port)
        if protocol is not None:
            changes["protocol"] = self._check_protocol(protocol)
        if algorithm is not None:
            changes["algorithm"] = self._check_algorithm(algorithm)
        balancers = yield from self._load()
        current = self._find(balancers, balancer.id)
        if "port" in changes and any(b.port == port for b in balancers if b is not current):
            raise InvalidInput(f"port {port} is taken by another balancer", driver=self)
        changed = replace(current, **changes)
        if changed != current:
            yield from self._store([changed if b is current else b for b in balancers],
                                   reload=True)
        return self._to_balancer(changed)

    # -- members (live, no reload) ------------------------------------------------------------

    def _to_server(self, member: Member, port: int | None) -> _Server:
        self._check_member(member)
        if not member.ip:
            raise InvalidInput(f"an HAProxy member needs an IP address: {member!r}", driver=self)
        chosen = member.port or port
        if chosen is None:
            raise InvalidInput(f"a member needs a port: {member!r}", driver=self)
        name = member.id or f"{member.ip}-{chosen}"
        weight = member.extra.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 256:
            raise InvalidInput(f"a weight is 0 to 256: {weight!r}", driver=self)
        condition = MemberCondition(member.extra.get("condition", MemberCondition.ENABLED))
        return _Server(self._check_name(name, "a member id"), member.ip, chosen, weight,
                       bool(member.extra.get("check", True)),
                       condition is MemberCondition.DISABLED)

    def _to_member(self, balancer: LoadBalancer, server: _Server, **extra: Any) -> Member:
        return Member(server.name, server.ip, server.port, balancer,
                      {"weight": server.weight, "check": server.check, **extra})

    def _record(self, balancers: list[_Balancer]) -> Op[None]:
        """Write a live change to the file and the state file (no reload)."""
        yield from self._store(balancers, reload=False)
        yield from self._save_state()

    @operation
    def balancer_attach_member(self, balancer: LoadBalancer, member: Member) -> Op[Member]:
        """Add a server live (``add server``, then ``enable server`` unless
        ``member.extra["condition"]`` is disabled, and ``enable health`` unless
        ``member.extra["check"]`` is false); ``extra["weight"]`` is its weight."""
        server = self._to_server(member, balancer.port)
        balancers = yield from self._load()
        current = self._find(balancers, balancer.id)
        if current.server(server.name) is not None:
            raise AlreadyExists(f"{balancer.id} has a member {server.name!r}", driver=self)
        path = f"{current.name}/{server.name}"
        yield from self._runtime(f"add server {path} {self._server_args(server)}",
                                 ok=("New server registered",))
        if not server.disabled:
            yield from self._runtime(f"enable server {path}")
        if server.check:
            yield from self._runtime(f"enable health {path}")
        current.servers.append(server)
        yield from self._record(balancers)
        condition = MemberCondition.DISABLED if server.disabled else MemberCondition.ENABLED
        return self._to_member(balancer, server, **{**member.extra, "condition": condition})

    @operation
    def balancer_attach_compute_node(self, balancer: LoadBalancer, node: NodeLike, *,
                                     ex_condition: MemberCondition = MemberCondition.ENABLED,
                                     ex_check: bool = True,
                                     ex_port: int | None = None) -> Op[Member]:
        """Add a compute node (its first address, the node's id as member
        id) on ``ex_port`` (default: the balancer's), in ``ex_condition``,
        checked unless ``ex_check`` is false."""
        member = self._node_member(balancer, node)
        if ex_port is not None:
            member.port = self._check_port(ex_port)
        member.extra.update(condition=MemberCondition(ex_condition), check=ex_check)
        return (yield from self.balancer_attach_member.op(balancer, member))

    def _member_of(self, balancer: LoadBalancer,
                   member: Member | str) -> Op[tuple[list[_Balancer], _Balancer, _Server]]:
        balancers = yield from self._load()
        current = self._find(balancers, balancer.id)
        wanted = member if isinstance(member, str) else member.id
        server = current.server(wanted)
        if server is None:
            raise MemberNotFound(str(wanted), driver=self)
        return balancers, current, server

    @operation
    def balancer_detach_member(self, balancer: LoadBalancer, member: Member) -> Op[bool]:
        """Take a server out of service (``disable server``) and delete it
        (``del server``) once it has finished the requests it holds."""
        balancers, current, server = yield from self._member_of(balancer, member)
        path = f"{current.name}/{server.name}"
        yield from self._runtime(f"disable server {path}")
        for _ in range(max(1, int(self.reload_timeout / POLL))):
            answer = yield from self._runtime(
                f"del server {path}", ok=("Server deleted", "Server still has connections",
                                          "No such server"))
            if not answer.startswith("Server still"):
                break
            yield Sleep(POLL)
        else:
            raise ProviderError(f"{path} still holds connections; it is disabled, not "
                                f"deleted", driver=self)
        current.servers.remove(server)
        yield from self._record(balancers)
        return True

    @iterator
    def balancer_iterate_members(self, balancer: LoadBalancer) -> Iter[Member]:
        """The servers of the balancer with their live state (``show servers state``)."""
        _, current = yield from self._current(balancer)
        answer = yield from self._runtime(f"show servers state {current.name}",
                                          ok=("1",))
        live: dict[str, list[str]] = {}
        for line in answer.splitlines()[1:]:
            words = line.split()
            if len(words) > 7 and not line.startswith("#") and words[1] == current.name:
                live[words[3]] = words
        for server in current.servers:
            found = live.get(server.name)
            if found is None:
                yield Emit(self._to_member(balancer, server, health=Health.UNKNOWN,
                                           status="absent", condition=None))
                continue
            op_state, admin, weight = found[5], int(found[6]), int(found[7])
            if admin & _MAINT:
                health, condition = Health.DISABLED, MemberCondition.DISABLED
            elif admin & _DRAIN:
                health, condition = Health.DRAINING, MemberCondition.DRAINING
            else:
                condition = MemberCondition.ENABLED
                health = {"2": Health.HEALTHY, "0": Health.UNHEALTHY}.get(op_state,
                                                                          Health.UNKNOWN)
            status = _OP_STATES.get(op_state, op_state)
            member = self._to_member(balancer, server, health=health, condition=condition,
                                     status=f"{status} admin={admin:#x}")
            member.extra["weight"] = weight
            yield Emit(member)

    def _current(self, balancer: LoadBalancer) -> Op[tuple[list[_Balancer], _Balancer]]:
        balancers = yield from self._load()
        return balancers, self._find(balancers, balancer.id)

    @operation
    def ex_set_member_condition(self, balancer: LoadBalancer, member: Member | str,
                                condition: MemberCondition) -> Op[Member]:
        """Enable, drain or disable a member live (``set server ... state
        ready|drain|maint``): a draining member finishes what it holds and gets
        no new request."""
        wanted = MemberCondition(condition)
        balancers, current, server = yield from self._member_of(balancer, member)
        state = {MemberCondition.ENABLED: "ready", MemberCondition.DRAINING: "drain",
                 MemberCondition.DISABLED: "maint"}[wanted]
        yield from self._runtime(f"set server {current.name}/{server.name} state {state}")
        server.disabled = wanted is MemberCondition.DISABLED
        yield from self._record(balancers)
        return self._to_member(balancer, server, condition=wanted)

    @operation
    def ex_set_member_weight(self, balancer: LoadBalancer, member: Member | str,
                             weight: int) -> Op[Member]:
        """Change a member's weight live (0 to 256)."""
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 256:
            raise InvalidInput(f"a weight is 0 to 256: {weight!r}", driver=self)
        balancers, current, server = yield from self._member_of(balancer, member)
        yield from self._runtime(f"set server {current.name}/{server.name} weight {weight}")
        server.weight = weight
        yield from self._record(balancers)
        return self._to_member(balancer, server)
