"""The create flow every compute driver runs (``NodeDriver._create_node`` and
``NodeDriver._create``), on a small in-memory provider, in both modes: the
shared checks before anything is sent, one create per request token however
often its answer is lost, and the driver's hooks in their order."""

from __future__ import annotations

import itertools
from typing import Any
from typing import ClassVar

import pytest

from overcast.compute.base import Node
from overcast.compute.base import NodeAuth
from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeSpec
from overcast.compute.base import NodeState
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OutcomeUnknown
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.operation import operation
from overcast.testing import call

SIZE = NodeSize("small", "Small", 1024, 20)
IMAGE = NodeImage("debian", "Debian")


class TokenCloud(NodeDriver):
    """Makes nodes through the create hooks; ``lose`` says what happens to the
    next sends' answers: ``"after"`` (made, answer lost), ``"before"`` (lost
    before anything was made) or ``None`` (answered)."""

    name = "token-cloud"
    max_name_length: ClassVar[int] = 16
    auth_kinds: ClassVar[tuple[type[NodeAuthSSHKey] | type[NodeAuthPassword], ...]] = (
        NodeAuthSSHKey,
    )
    auth_hint: ClassVar[str] = "; use an SSH key"

    def __init__(self, *lose: str | None) -> None:
        super().__init__()
        self.lose = list(lose)
        self.by_token: dict[str, Node] = {}
        self.events: list[tuple[str, ...]] = []
        self._ids = itertools.count(1)

    def _make(self, spec: NodeSpec, token: str) -> Node:
        self.events.append(("send", token, spec.options["ex_color"], spec.options["key"]))
        lose = self.lose.pop(0) if self.lose else None
        if lose == "before":
            raise OutcomeUnknown("lost before the provider saw it")
        node = Node(f"n-{next(self._ids)}", spec.name, NodeState.PENDING, driver=self)
        self.by_token[token] = node
        if lose == "after":
            raise OutcomeUnknown("made, but the answer was lost")
        return node

    def _lookup(self, token: str) -> Node | None:
        self.events.append(("find", token))
        return self.by_token.get(token)

    @operation
    def create_node(
        self, name: str, size: NodeSize, image: NodeImage, location: NodeLocation | None = None,
        auth: NodeAuth | None = None, *, ex_color: str = "blue",
    ) -> Op[Node]:
        """Create a node through the flow."""
        return (yield from self._create_node(name, size, image, location, auth,
                                             ex_color=ex_color))

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        if spec.options["ex_color"] not in ("blue", "red"):
            raise InvalidInput("ex_color must be blue or red", driver=self)
        return spec.but(ex_color=spec.options["ex_color"].upper())

    def _prepare_node(self, spec: NodeSpec) -> Op[NodeSpec]:
        key: str = yield Call(lambda: "key-1" if spec.auth is not None else "none")
        self.events.append(("prepare", key))
        return spec.but(key=key)

    def _send_node(self, spec: NodeSpec, token: str) -> Op[Node]:
        node: Node = yield Call(self._make, spec, token)
        return node

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        found: Node | None = yield Call(self._lookup, token)
        return found


def test_a_create_runs_the_hooks_in_order_with_one_token(mode: str) -> None:
    cloud = TokenCloud()
    node = call(mode, cloud, "create_node", "web", SIZE, IMAGE, None,
                NodeAuthSSHKey("ssh-ed25519 AAAA me"), ex_color="red")
    [prepare, send] = cloud.events
    assert prepare == ("prepare", "key-1")
    assert send[0] == "send" and send[2:] == ("RED", "key-1")  # checked, then prepared
    assert cloud.by_token[send[1]] == node and node.name == "web"


def test_an_answer_lost_after_the_create_is_found_by_its_token(mode: str) -> None:
    cloud = TokenCloud("after")
    node = call(mode, cloud, "create_node", "web", SIZE, IMAGE)
    kinds = [event[0] for event in cloud.events]
    assert kinds == ["prepare", "send", "find"]  # found: not sent again
    assert cloud.events[2][1] == cloud.events[1][1] and list(cloud.by_token.values()) == [node]


def test_an_answer_lost_before_the_create_is_sent_again_with_the_same_token(mode: str) -> None:
    cloud = TokenCloud("before")
    node = call(mode, cloud, "create_node", "web", SIZE, IMAGE)
    sends = [event for event in cloud.events if event[0] == "send"]
    assert len(sends) == 2 and sends[0][1] == sends[1][1]
    assert list(cloud.by_token.values()) == [node]


def test_an_outcome_that_stays_unknown_is_raised_after_three_sends(mode: str) -> None:
    cloud = TokenCloud("before", "before", "before")
    with pytest.raises(OutcomeUnknown):
        call(mode, cloud, "create_node", "web", SIZE, IMAGE)
    assert [event[0] for event in cloud.events].count("send") == 3
    assert cloud.by_token == {}


def test_each_create_has_its_own_token(mode: str) -> None:
    cloud = TokenCloud()
    call(mode, cloud, "create_node", "a", SIZE, IMAGE)
    call(mode, cloud, "create_node", "b", SIZE, IMAGE)
    assert len(cloud.by_token) == 2


@pytest.mark.parametrize(("args", "error", "words"), [
    (("", SIZE, IMAGE), InvalidInput, "non-empty"),
    (("   ", SIZE, IMAGE), InvalidInput, "non-empty"),
    ((42, SIZE, IMAGE), InvalidInput, "non-empty"),
    (("x" * 17, SIZE, IMAGE), InvalidInput, "at most 16 characters"),
    (("bad\nname", SIZE, IMAGE), InvalidInput, "control characters"),
    (("web", "small", IMAGE), InvalidInput, "size must be a NodeSize"),
    (("web", SIZE, "debian"), InvalidInput, "image must be a NodeImage"),
    (("web", SIZE, IMAGE, "eu-1"), InvalidInput, "location must be a NodeLocation"),
    (("web", SIZE, IMAGE, None, "hunter2"), InvalidInput, "auth must be"),
    (("web", SIZE, IMAGE, None, NodeAuthPassword("pw")), NotSupported, "use an SSH key"),
])
def test_invalid_input_is_refused_before_anything_is_done(
    mode: str, args: tuple[Any, ...], error: type[Exception], words: str
) -> None:
    cloud = TokenCloud()
    with pytest.raises(error, match=words):
        call(mode, cloud, "create_node", *args)
    with pytest.raises(InvalidInput, match="blue or red"):  # the driver's own checks
        call(mode, cloud, "create_node", "web", SIZE, IMAGE, ex_color="green")
    assert cloud.events == []


def test_create_settles_any_create_by_its_token(mode: str) -> None:
    made: dict[str, str] = {}
    attempts: list[str] = []

    def send(token: str) -> Op[str]:
        attempts.append(token)
        made[token] = "volume-1"
        yield Call(lambda: None)
        raise OutcomeUnknown("the answer was lost")

    def find(token: str) -> Op[str | None]:
        return (yield Call(made.get, token))

    class Volumes(TokenCloud):
        @operation
        def create_volume(self, size: int, name: str, location: NodeLocation | None = None,
                          snapshot: Any = None) -> Op[str]:
            """Create a "volume" through ``_create``."""
            return (yield from self._create(send, find))

    assert call(mode, Volumes(), "create_volume", 1, "v") == "volume-1"
    assert len(attempts) == 1
