"""The public API, pinned: async views, Apache Libcloud compatibility, the support matrix."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from overcast.registry import AREAS
from overcast.registry import available
from overcast.registry import get_driver
from overcast.runtime.operation import AsyncIteratorMethod
from overcast.runtime.operation import AsyncMethod
from overcast.runtime.operation import AsyncStreamMethod
from overcast.runtime.operation import IteratorOperation
from overcast.runtime.operation import Operation
from overcast.runtime.operation import StreamOperation
from overcast.runtime.operation import _AsyncMember
from overcast.runtime.operation import operations_of
from overcast.support import base_driver
from overcast.support import support_matrix

LIBCLOUD_BASES = {
    "compute": "libcloud.compute.base:NodeDriver",
    "storage": "libcloud.storage.base:StorageDriver",
    "dns": "libcloud.dns.base:DNSDriver",
    "loadbalancer": "libcloud.loadbalancer.base:Driver",
    "container": "libcloud.container.base:ContainerDriver",
    "backup": "libcloud.backup.base:BackupDriver",
}


def _view_members(view: type) -> set[str]:
    return {
        name
        for klass in view.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, _AsyncMember)
    }


def all_driver_classes() -> list[type]:
    classes = [base_driver(area) for area in AREAS]
    classes += [get_driver(area, name) for area in AREAS for name in available(area)]
    return classes


@pytest.mark.parametrize("area", AREAS)
def test_every_operation_of_an_area_has_a_typed_twin_on_its_view(area: str) -> None:
    """The area's view declares (so types) every operation of the area's base class."""
    cls = base_driver(area)
    ops = operations_of(cls)
    missing = set(ops) - _view_members(cls.async_view)
    assert not missing, f"{cls.async_view.__name__} lacks {sorted(missing)}"


@pytest.mark.parametrize("cls", all_driver_classes(), ids=lambda c: c.__name__)
def test_every_operation_has_an_async_twin(cls: type) -> None:
    """Every operation of every driver, its ``ex_`` ones included, is on
    ``driver.aio`` (the area's view, extended for the class), as the right kind
    of member; and each is typed through its own ``driver.op.aio`` face."""
    view = cls._view_class()
    kinds = {IteratorOperation: AsyncIteratorMethod, StreamOperation: AsyncStreamMethod,
             Operation: AsyncMethod}
    for name, op in operations_of(cls).items():
        twin = inspect.getattr_static(view, name)
        assert isinstance(twin, kinds[type(op)]), f"{cls.__name__}.{name}: {type(twin)}"
        assert twin.operation.name == name
        bound = inspect.getattr_static(type(op.__get__(object(), cls)), "aio")
        assert callable(bound), f"{cls.__name__}.{name} has no aio face"


@pytest.mark.parametrize("cls", all_driver_classes(), ids=lambda c: c.__name__)
def test_every_public_operation_is_documented(cls: type) -> None:
    for name, op in operations_of(cls).items():
        assert inspect.getdoc(op.fn), f"{cls.__name__}.{name} has no docstring"


@pytest.mark.parametrize("area", AREAS)
def test_libcloud_names_and_positional_parameters_are_kept(area: str) -> None:
    """Where Apache Libcloud 3.x has a method, ours has its name and, in order,
    its positional parameters, so Libcloud users port code by changing imports:
    on the area's base class and on every registered driver of the area (an
    override keeps them too)."""
    module, _, name = LIBCLOUD_BASES[area].partition(":")
    try:
        theirs_cls = getattr(importlib.import_module(module), name)
    except ImportError:  # pragma: no cover - apache-libcloud is a test dependency
        pytest.fail("apache-libcloud is needed for this test (pip install '.[test]')")
    drivers = [base_driver(area), *(get_driver(area, n) for n in available(area))]
    for ours_cls in drivers:
        ours_ops = operations_of(ours_cls)
        checked = 0
        for method, theirs in inspect.getmembers(theirs_cls, inspect.isfunction):
            if method.startswith("_") or method.startswith("ex_") or method not in ours_ops:
                continue
            their_params = [
                p.name for p in list(inspect.signature(theirs).parameters.values())[1:]
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            our_params = [
                p.name
                for p in list(inspect.signature(ours_ops[method].fn).parameters.values())[1:]
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            assert our_params[: len(their_params)] == their_params, (
                f"{ours_cls.__name__}.{method}: Libcloud {their_params}, overcast {our_params}"
            )
            checked += 1
        assert checked >= 5, f"only {checked} Libcloud methods matched in {ours_cls.__name__}"


def test_support_matrix_doc_is_current() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "support-matrix.md"
    assert doc.read_text() == support_matrix(), (
        "docs/support-matrix.md is stale: run `python -m overcast.support > docs/support-matrix.md`"
    )


# -- Apache Libcloud's names, constructors and ex_ methods ---------------------------------

LIBCLOUD_AREAS = ("compute", "storage", "dns")


def _libcloud_exports(area: str) -> list[tuple[str, str]]:
    """Every name Libcloud 3.x exports from ``libcloud.<area>.{types,providers,base}``
    (its ``__all__``, else its public names that are not typing helpers)."""
    found = []
    for part in ("types", "providers", "base"):
        module = importlib.import_module(f"libcloud.{area}.{part}")
        names = getattr(module, "__all__", None)
        if names is None:
            names = [n for n, v in vars(module).items() if not n.startswith("_")
                     and not inspect.ismodule(v)
                     and getattr(v, "__module__", module.__name__) not in ("typing", "types",
                                                                           "builtins")
                     and n not in ("TYPE_CHECKING",)]
        found += [(part, name) for name in names]
    return found


@pytest.mark.parametrize("area", LIBCLOUD_AREAS)
def test_every_libcloud_name_imports_from_the_area(area: str) -> None:
    """``from libcloud.<area>.types/providers/base import X`` ports to
    ``from overcast.<area> import X`` for every X Libcloud exports."""
    package = importlib.import_module(f"overcast.{area}")
    missing = [f"{part}.{name}" for part, name in _libcloud_exports(area)
               if not hasattr(package, name)]
    assert not missing, f"overcast.{area} lacks Libcloud's {missing}"


@pytest.mark.parametrize("area", LIBCLOUD_AREAS)
def test_libcloud_exceptions_are_overcast_classes(area: str) -> None:
    """Each Libcloud exception name is an overcast error class (so ``except``
    clauses written for Libcloud catch what overcast raises)."""
    from overcast.errors import OvercastError

    package = importlib.import_module(f"overcast.{area}")
    for part, name in _libcloud_exports(area):
        theirs = getattr(importlib.import_module(f"libcloud.{area}.{part}"), name)
        if isinstance(theirs, type) and issubclass(theirs, BaseException):
            ours = getattr(package, name)
            assert issubclass(ours, OvercastError), f"{area}.{name}"


def test_libcloud_exception_aliases_catch_overcast_errors() -> None:
    from overcast import errors
    from overcast.compute import InvalidCredsError
    from overcast.dns import ZoneDoesNotExistError
    from overcast.dns import ZoneError
    from overcast.storage import ContainerDoesNotExistError
    from overcast.storage import ContainerError
    from overcast.storage import ObjectDoesNotExistError

    assert ContainerDoesNotExistError is errors.ContainerNotFound
    assert ObjectDoesNotExistError is errors.ObjectNotFound
    assert InvalidCredsError is errors.InvalidCredentials
    assert ZoneDoesNotExistError is errors.ZoneNotFound
    with pytest.raises(ContainerError):
        raise errors.ContainerIsNotEmpty("full")
    with pytest.raises(ZoneError):
        raise errors.ZoneAlreadyExists("a.com.")


@pytest.mark.parametrize("area", LIBCLOUD_AREAS)
def test_every_libcloud_provider_constant_is_served_or_refused(area: str) -> None:
    """Every constant of Libcloud's ``Provider`` exists in overcast's; its
    driver loads, or ``get_driver`` raises NotSupported saying what to use."""
    from overcast.compat import Unserved
    from overcast.errors import NotSupported

    theirs = importlib.import_module(f"libcloud.{area}.types").Provider
    package = importlib.import_module(f"overcast.{area}")
    constants = [n for n in vars(theirs) if n.isupper() and not n.startswith("_")]
    assert len(constants) > 10
    for name in constants:
        value = getattr(package.Provider, name)
        if isinstance(value, Unserved):
            with pytest.raises(NotSupported, match=r"Apache Libcloud.s .*: .*use"):
                package.get_driver(value)
            assert value == getattr(theirs, name)
        else:
            assert isinstance(package.get_driver(value), type), name


# Libcloud's driver classes and overcast's serving the same constant, whose
# constructors' positional parameters must agree.
CONSTRUCTORS = {
    "storage": ["s3", "minio", "digitalocean_spaces", "scaleway", "auroraobjects", "s3_rgw",
                "s3_rgw_outscale", "s3_us_west", "s3_eu_central", "azure_blobs",
                "google_storage", "openstack_swift", "cloudfiles"],
    "compute": ["ec2", "libvirt", "digitalocean", "linode", "azure_arm", "cloudstack", "gce",
                "vultr"],
    "dns": ["powerdns", "google"],
    "backup": ["ebs"],
}


def _positional(fn: object) -> list[str]:
    return [p.name for p in list(inspect.signature(fn).parameters.values())[1:]  # type: ignore[arg-type]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


@pytest.mark.parametrize(("area", "name"), [(a, n) for a, names in CONSTRUCTORS.items()
                                            for n in names])
def test_constructors_take_libcloud_positional_parameters(area: str, name: str) -> None:
    theirs = importlib.import_module(f"libcloud.{area}.providers").get_driver(name)
    ours = get_driver(area, name)
    their_params = _positional(theirs.__init__)
    our_params = _positional(ours.__init__)
    if area == "dns" and name == "google":  # Libcloud names them (user_id, key, project)
        their_params = ["key", "secret", *their_params[2:]]
    if area == "backup" and name == "ebs":  # Libcloud's access_id is key (access_id= works too)
        their_params = ["key", *their_params[1:]]
    # Where both take a positional parameter, it is the same one; Libcloud's
    # trailing ones overcast lacks are a TypeError (docs/libcloud-compat.md).
    shared = min(len(our_params), len(their_params))
    assert shared >= 2 and our_params[:shared] == their_params[:shared], (
        f"{area}.{name}: Libcloud {their_params}, overcast {our_params}"
    )


EX_PAIRS = {
    "backup": [("ebs", "libcloud.backup.drivers.ebs:EBSBackupDriver")],
    "compute": [("ec2", "libcloud.compute.drivers.ec2:EC2NodeDriver"),
                ("azure_arm", "libcloud.compute.drivers.azure_arm:AzureNodeDriver"),
                ("digitalocean",
                 "libcloud.compute.drivers.digitalocean:DigitalOcean_v2_NodeDriver"),
                ("linode", "libcloud.compute.drivers.linode:LinodeNodeDriverV4"),
                ("openstack", "libcloud.compute.drivers.openstack:OpenStack_2_NodeDriver"),
                ("cloudstack", "libcloud.compute.drivers.cloudstack:CloudStackNodeDriver"),
                ("gce", "libcloud.compute.drivers.gce:GCENodeDriver"),
                ("vultr", "libcloud.compute.drivers.vultr:VultrNodeDriverV2")],
    "storage": [("s3", "libcloud.storage.drivers.s3:S3StorageDriver"),
                ("azure_blobs", "libcloud.storage.drivers.azure_blobs:AzureBlobsStorageDriver"),
                ("google_storage",
                 "libcloud.storage.drivers.google_storage:GoogleStorageDriver"),
                ("swift", "libcloud.storage.drivers.cloudfiles:OpenStackSwiftStorageDriver")],
}


#: ``ex_`` methods whose positional parameters differ from Libcloud's, each
#: failing loudly when called Libcloud's way (docs/libcloud-compat.md says why).
KNOWN_EX_DIFFERENCES = {
    # group id or SecurityGroup first; Libcloud's 5th positional (group_pairs)
    # reaches ``protocol``, which refuses a list (InvalidInput).
    "ec2.ex_authorize_security_group_ingress",
    # overcast deletes by id or SecurityGroup; a Libcloud group *name* is not
    # an id and is refused (InvalidInput/SecurityGroupNotFound), never another group.
    "ec2.ex_delete_security_group",
    # a network name or id where Libcloud takes a pool name: the same string.
    "openstack.ex_create_floating_ip",
}


@pytest.mark.parametrize(("area", "name", "target"), [(a, n, t) for a, pairs in EX_PAIRS.items()
                                                      for n, t in pairs])
def test_shared_ex_methods_keep_libcloud_positional_parameters(area: str, name: str,
                                                                target: str) -> None:
    """Every ``ex_`` method both libraries have takes Libcloud's positional
    parameters, in order (overcast may add keyword-only ones)."""
    module, _, cls_name = target.partition(":")
    theirs_cls = getattr(importlib.import_module(module), cls_name)
    ours_cls = get_driver(area, name)
    wrong = []
    for method, theirs in inspect.getmembers(theirs_cls, inspect.isfunction):
        if not method.startswith("ex_") or not hasattr(ours_cls, method) \
                or f"{name}.{method}" in KNOWN_EX_DIFFERENCES:
            continue
        ours = getattr(ours_cls, method)
        ours = getattr(ours, "fn", ours)
        their_params, our_params = _positional(theirs), _positional(ours)
        if our_params[: len(their_params)] != their_params:
            wrong.append(f"{method}: Libcloud {their_params}, overcast {our_params}")
    assert not wrong, f"{name}: " + "; ".join(wrong)


@pytest.mark.parametrize("area", LIBCLOUD_AREAS)
def test_every_libcloud_exception_class_imports_even_outside_all(area: str) -> None:
    """Libcloud programs import exception classes its ``types`` modules define
    without listing in ``__all__`` (``KeyPairDoesNotExistError``): those too."""
    from overcast.errors import OvercastError

    package = importlib.import_module(f"overcast.{area}")
    theirs = importlib.import_module(f"libcloud.{area}.types")
    names = [n for n, v in vars(theirs).items()
             if isinstance(v, type) and issubclass(v, BaseException) and not n.startswith("_")]
    missing = [n for n in names if not hasattr(package, n)]
    assert not missing, f"overcast.{area} lacks Libcloud's {missing}"
    assert all(issubclass(getattr(package, n), OvercastError) for n in names)
