"""``driver.supports()`` is computed from the code: operations and the hooks the
base classes' flows are built on."""

from __future__ import annotations

from typing import Any
from typing import ClassVar

import pytest

from overcast.errors import NotSupported
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.storage.base import Object
from overcast.storage.base import Prefix
from overcast.storage.base import StorageDriver


class Bare(StorageDriver):
    """A storage driver that implements nothing."""

    name: ClassVar[str] = "bare"


class ListsOnly(StorageDriver):
    """A storage driver that fills only the listing hook."""

    name: ClassVar[str] = "lists-only"

    def _listing(self, container: str, prefix: str, delimiter: str | None
                 ) -> Iter[Object | Prefix]:
        yield Emit(Object("a", 1, None, driver=self))


def test_a_flow_is_supported_only_with_the_hooks_it_is_built_on() -> None:
    assert not any(Bare.operations().values())
    supported = {name for name, ok in ListsOnly.operations().items() if ok}
    assert supported == {"iterate_container_objects", "list_container_objects",
                         "iterate_container_entries", "list_container_entries"}
    assert ListsOnly().supports("list_container_objects")
    assert not ListsOnly().supports("upload_object")


@pytest.mark.parametrize("call", [
    lambda d: d.upload_object_via_stream(iter([b"x"]), "c", "o"),
    lambda d: list(d.iterate_container_objects("c")),
    lambda d: d.download_object_range_as_stream(Object("o", 1, None, driver=d), 0),
])
def test_a_flow_without_its_hook_raises_not_supported_before_any_effect(call: Any) -> None:
    with pytest.raises(NotSupported, match="Bare does not support"):
        call(Bare())
