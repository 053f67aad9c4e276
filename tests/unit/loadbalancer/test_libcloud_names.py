"""Apache Libcloud's load balancer names, from apache-libcloud 3.9.1 itself:
every name of its types, providers and base modules is importable from
overcast.loadbalancer, and every Provider constant is served or NotSupported
with advice."""

from __future__ import annotations

import importlib

import pytest

import overcast.loadbalancer as ours
from overcast.errors import NotSupported
from overcast.loadbalancer import Algorithm
from overcast.loadbalancer import MemberCondition
from overcast.loadbalancer import Provider
from overcast.loadbalancer import get_driver

MODULES = ("libcloud.loadbalancer.types", "libcloud.loadbalancer.providers",
           "libcloud.loadbalancer.base")


def public_names(module: str) -> list[str]:
    return [name for name in dir(importlib.import_module(module))
            if not name.startswith("_") and name not in ("annotations",)]


@pytest.mark.parametrize("module", MODULES)
def test_every_libcloud_name_is_importable(module: str) -> None:
    missing = [name for name in public_names(module) if not hasattr(ours, name)]
    assert not missing, f"overcast.loadbalancer lacks {missing} of {module}"
    for name in public_names(module):
        assert name in ours.__all__, name


def test_algorithm_and_condition_names() -> None:
    from libcloud.loadbalancer.base import Algorithm as TheirAlgorithm
    from libcloud.loadbalancer.types import MemberCondition as TheirCondition

    theirs = [n for n in vars(TheirAlgorithm) if n.isupper()]
    assert all(hasattr(Algorithm, name) for name in theirs)
    assert len(theirs) == 13
    assert [n for n in vars(TheirCondition) if n.isupper()] == [c.name for c in MemberCondition]
    assert ours.DEFAULT_ALGORITHM is Algorithm.ROUND_ROBIN
    assert issubclass(ours.LibcloudLBImmutableError, ours.LibcloudLBError)


def libcloud_constants() -> dict[str, str]:
    from libcloud.loadbalancer.types import Provider as TheirProvider

    return {n: v for n, v in vars(TheirProvider).items() if n.isupper()}


@pytest.mark.parametrize("constant", sorted(libcloud_constants()))
def test_every_provider_constant_is_served_or_says_what_to_use(constant: str) -> None:
    value = getattr(Provider, constant)
    assert value == libcloud_constants()[constant]
    if value in Provider:
        assert get_driver(value).name == value
        return
    with pytest.raises(NotSupported, match=f"Provider.{constant}") as raised:
        get_driver(value)
    advice = str(raised.value).partition(f"({value!r}): ")[2]
    assert advice.startswith(("use ", "overcast has no driver", "Libcloud retired", "the service"))


def test_drivers_table_and_old_constants() -> None:
    assert set(Provider) <= set(ours.DRIVERS)
    assert ours.OLD_CONSTANT_TO_NEW_MAPPING == {"rackspace_us": "rackspace",
                                                 "rackspace_uk": "rackspace"}
    with pytest.raises(NotSupported):
        ours.ConnectionKey("key")
