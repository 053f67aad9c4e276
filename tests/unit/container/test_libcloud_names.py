"""Apache Libcloud's container names and positional parameters in overcast."""

from __future__ import annotations

import importlib
import inspect

import pytest

from overcast.compat import Unserved
from overcast.errors import NotSupported


def _libcloud_exports() -> list[tuple[str, str]]:
    found = []
    for part in ("types", "providers", "base"):
        module = importlib.import_module(f"libcloud.container.{part}")
        names = getattr(module, "__all__", None)
        if names is None:
            names = [n for n, v in vars(module).items() if not n.startswith("_")
                     and not inspect.ismodule(v)
                     and getattr(v, "__module__", module.__name__) not in ("typing", "types",
                                                                           "builtins")
                     and n not in ("TYPE_CHECKING",)]
        found += [(part, name) for name in names]
    return found


def test_every_libcloud_container_name_imports_from_overcast_container() -> None:
    package = importlib.import_module("overcast.container")
    exports = _libcloud_exports()
    assert {"Provider", "ContainerState", "DRIVERS", "get_driver", "set_driver",
            "Container", "ContainerImage", "ContainerCluster", "ClusterLocation",
            "ContainerDriver"} <= {name for _, name in exports}
    missing = [f"{part}.{name}" for part, name in exports if not hasattr(package, name)]
    assert not missing, f"overcast.container lacks Libcloud's {missing}"


def test_every_libcloud_provider_constant_is_served_or_refused() -> None:
    from libcloud.container.types import Provider as Theirs

    from overcast.container import Provider
    from overcast.container import get_driver

    constants = [n for n in vars(Theirs) if n.isupper() and not n.startswith("_")]
    assert len(constants) >= 7
    served = []
    for name in constants:
        value = getattr(Provider, name)
        assert value == getattr(Theirs, name), name
        if isinstance(value, Unserved):
            with pytest.raises(NotSupported, match=r"Apache Libcloud's .*: .*use"):
                get_driver(value)
            with pytest.raises(NotSupported, match="Apache Libcloud's"):
                get_driver(str(value))
        else:
            assert isinstance(get_driver(value), type), name
            served.append(name)
    assert served == ["DOCKER", "ECS", "KUBERNETES"]


def test_drivers_table_and_set_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    from overcast import registry
    from overcast.container import DRIVERS

    # The registration lasts for this test only (the support matrix lists drivers).
    monkeypatch.setattr(registry, "_registered", dict(registry._registered))
    from overcast.container import set_driver

    assert DRIVERS["docker"] == ("overcast.container.drivers.docker", "DockerContainerDriver")
    cls = set_driver("my_docker", "overcast.container.drivers.docker", "DockerContainerDriver")
    assert "my_docker" in DRIVERS and cls.__name__ == "DockerContainerDriver"


def _positional(fn: object) -> list[str]:
    return [p.name for p in list(inspect.signature(fn).parameters.values())[1:]  # type: ignore[arg-type]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def test_the_docker_driver_keeps_libcloud_constructor_and_ex_methods() -> None:
    from libcloud.container.drivers.docker import DockerContainerDriver as Theirs

    from overcast.container.drivers.docker import DockerContainerDriver as Ours

    assert _positional(Ours.__init__) == _positional(Theirs.__init__)
    assert _positional(Ours.ex_get_logs.fn) == _positional(Theirs.ex_get_logs)
    for name in ("get_container", "start_container", "stop_container", "restart_container",
                 "destroy_container", "install_image", "list_images"):
        assert _positional(getattr(Ours, name).fn) == _positional(getattr(Theirs, name)), name


def test_the_ecs_driver_keeps_libcloud_positional_constructor() -> None:
    from libcloud.container.drivers.ecs import ElasticContainerDriver as Theirs

    from overcast.container.drivers.ecs import ECSContainerDriver as Ours

    assert len(_positional(Ours.__init__)) == len(_positional(Theirs.__init__)) == 3
    assert _positional(Ours.__init__)[2] == _positional(Theirs.__init__)[2] == "region"
    for name in ("create_cluster", "destroy_cluster", "get_cluster", "get_container",
                 "stop_container", "destroy_container", "restart_container"):
        assert _positional(getattr(Ours, name).fn) == _positional(getattr(Theirs, name)), name
