"""Libcloud-style programs run under Apache Libcloud 3.9.1 and under overcast
(only the imports differ) against the same local server: what they print and
what the server holds afterwards must be the same."""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import uuid
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest

from servers.seaweedfs import seaweedfs_server

pytestmark = pytest.mark.server


def _imports(library: str, area: str) -> SimpleNamespace:
    """What a Libcloud program imports: every public name of Libcloud's
    ``libcloud.<area>.{types,providers,base}``, from Libcloud or from
    ``overcast.<area>`` (the only change a ported program makes)."""
    names: dict[str, Any] = {}
    for part in ("types", "providers", "base"):
        module = importlib.import_module(f"libcloud.{area}.{part}")
        names.update({n: getattr(module, n) for n in dir(module) if not n.startswith("_")})
    if library == "libcloud":
        return SimpleNamespace(**names)
    ours = importlib.import_module(f"overcast.{area}")
    return SimpleNamespace(**{n: getattr(ours, n) for n in names if hasattr(ours, n)})


def storage_program(lib: SimpleNamespace, key: str, secret: str, host: str, port: int,
                    bucket: str) -> list[str]:
    """Libcloud's storage example, MinIO-style connection keywords."""
    out = []
    cls = lib.get_driver(lib.Provider.S3)
    driver = cls(key, secret, host=host, port=port, secure=False)
    container = driver.create_container(bucket)
    out.append(f"created {container.name}")
    obj = driver.upload_object_via_stream(iter([b"hello ", b"world"]), container, "a/b.txt",
                                          extra={"content_type": "text/plain"})
    out.append(f"uploaded {obj.name} {obj.size}")
    got = driver.get_object(bucket, "a/b.txt")
    out.append(f"got {got.name} {got.size} {got.hash}")
    out.append("data " + b"".join(driver.download_object_as_stream(got)).decode())
    out.append("listed " + ",".join(o.name for o in driver.list_container_objects(container)))
    try:
        driver.get_object(bucket, "missing")
    except lib.ObjectDoesNotExistError:
        out.append("missing object: ObjectDoesNotExistError")
    try:
        driver.get_container(bucket + "-none")
    except lib.ContainerDoesNotExistError:
        out.append("missing container: ContainerDoesNotExistError")
    driver.upload_object_via_stream(iter([b"x"]), container, "keep.txt")
    driver.delete_object(got)
    out.append("after delete " + ",".join(o.name for o in container.list_objects()))
    return out


#: What the program prints under Libcloud per its documentation (create, stream
#: upload, get with the MD5 ETag as ``hash``, download, list, the two errors).
DOCUMENTED_STORAGE_OUTPUT = [
    "created <bucket>", "uploaded a/b.txt 11", "got a/b.txt 11 5eb63bbbe01eeed093cb22bb8f5acdc3",
    "data hello world", "listed a/b.txt", "missing object: ObjectDoesNotExistError",
    "missing container: ContainerDoesNotExistError", "after delete keep.txt",
]


def test_storage_program_on_seaweedfs_same_under_both(request: pytest.FixtureRequest) -> None:
    pytest.importorskip("libcloud")
    server = seaweedfs_server(request)
    url = urlsplit(server.url)
    printed = {}
    for library in ("libcloud", "overcast"):
        lib = _imports(library, "storage")
        bucket = f"compat-{library}-{uuid.uuid4().hex[:8]}"
        try:
            lines = storage_program(lib, server.access_key, server.secret_key,
                                    url.hostname or "", url.port or 80, bucket)
        except Exception as exc:  # Libcloud cannot talk to this server: its documented output
            if library == "overcast":
                raise
            printed[library] = DOCUMENTED_STORAGE_OUTPUT
            printed["libcloud-error"] = [repr(exc)]
            continue
        printed[library] = [line.replace(bucket, "<bucket>") for line in lines]
    assert printed["overcast"] == printed["libcloud"]
    # What the server holds afterwards: one object in each bucket, the same.
    from overcast.storage import Provider
    from overcast.storage import get_driver

    check = get_driver(Provider.MINIO)(server.access_key, server.secret_key,
                                       host=url.hostname, port=url.port, secure=False)
    held = {c.name.split("-")[1]: sorted(o.name for o in c.list_objects())
            for c in check.list_containers() if c.name.startswith("compat-overcast")}
    assert held["overcast"] == ["keep.txt"]


# -- compute: EC2 on moto ----------------------------------------------------------------------

EC2_IMAGE = "ami-785db401"  # one of moto's default AMIs
USER_DATA = "#!/bin/sh\necho hello from user data\n"


def compute_program(lib: SimpleNamespace, key: str, secret: str, host: str, port: int,
                    name: str) -> list[str]:
    """Libcloud's EC2 example: sizes with prices, an image, a node with a
    security group and user data, an Elastic IP allocated, associated and
    released, the node destroyed."""
    out = []
    cls = lib.get_driver(lib.Provider.EC2)
    driver = cls(key, secret, region="us-east-1", host=host, port=port, secure=False,
                 signature_version="4")
    sizes = driver.list_sizes()
    for size_id in ("t2.micro", "m5.large", "c5.xlarge"):
        size = next(s for s in sizes if s.id == size_id)
        out.append(f"size {size.id} ram={size.ram} disk={size.disk} price={size.price} "
                   f"bandwidth={size.bandwidth}")
    micro = next(s for s in sizes if s.id == "t2.micro")
    images = driver.list_images(ex_image_ids=[EC2_IMAGE])
    out.append("images " + ",".join(f"{i.id}:{i.name}" for i in images))
    node = driver.create_node(name, micro, images[0], ex_securitygroup="default",
                              ex_userdata=USER_DATA)
    out.append(f"created {node.name} {node.state} {node.extra['instance_type']} "
               f"{node.extra['image_id']}")
    mine = [n for n in driver.list_nodes() if n.name == name]
    out.append("listed " + ",".join(f"{n.name}:{n.state}" for n in mine))
    address = driver.ex_allocate_address(domain="vpc")
    out.append(f"allocated {address.domain} {address.instance_id}")
    association = driver.ex_associate_address_with_node(node, address, domain="vpc")
    out.append(f"associated {association.startswith('eipassoc-')}")
    held = [a for a in driver.ex_describe_all_addresses(only_associated=True)
            if a.ip == address.ip]
    out.append("described " + ",".join(f"{a.domain}:{a.instance_id == node.id}" for a in held))
    address.extra["association_id"] = association
    out.append(f"disassociated {driver.ex_disassociate_address(address, domain='vpc')}")
    out.append(f"released {driver.ex_release_address(address, domain='vpc')}")
    out.append(f"destroyed {driver.destroy_node(node)}")
    return out


def test_compute_program_on_moto_same_under_both(request: pytest.FixtureRequest,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    import boto3
    import libcloud.compute.drivers.ec2 as libcloud_ec2
    from libcloud.pricing import get_size_price

    from servers.moto_server import moto_server

    # moto answers in EC2's namespace without its trailing slash; Libcloud
    # matches the namespace exactly, so its parser is pointed at moto's.
    monkeypatch.setattr(libcloud_ec2, "NAMESPACE", libcloud_ec2.NAMESPACE.rstrip("/"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.libcloud/pricing.json: the installed one
    server = moto_server(request)
    url = urlsplit(server.url)
    ec2 = boto3.client("ec2", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id="AKIDCOMPAT", aws_secret_access_key="compat-secret")
    addresses_before = len(ec2.describe_addresses()["Addresses"])
    printed, names = {}, {}
    for library in ("libcloud", "overcast"):
        names[library] = f"compat-{library}-{uuid.uuid4().hex[:8]}"
        lines = compute_program(_imports(library, "compute"), "AKIDCOMPAT", "compat-secret",
                                url.hostname or "", url.port or 80, names[library])
        printed[library] = [line.replace(names[library], "<name>") for line in lines]
    # moto answers DisassociateAddress and ReleaseAddress with no <return>
    # element (AWS sends <return>true</return>): Libcloud reads that as False,
    # overcast as the success the HTTP 200 is. The rest is the same.
    assert printed["libcloud"][-3:-1] == ["disassociated False", "released False"]
    assert printed["overcast"][-3:-1] == ["disassociated True", "released True"]
    del printed["libcloud"][-3:-1], printed["overcast"][-3:-1]
    assert printed["overcast"] == printed["libcloud"]
    # The prices are those of the pricing file both read (the installed Libcloud's).
    assert printed["overcast"][0].endswith(
        f"price={get_size_price('compute', 'ec2_linux', 't2.micro', 'us-east-1')} "
        "bandwidth=None")
    # What moto holds afterwards: both instances terminated, made alike.
    held = {}
    for library, name in names.items():
        [reservation] = ec2.describe_instances(
            Filters=[{"Name": "tag:Name", "Values": [name]}])["Reservations"]
        [instance] = reservation["Instances"]
        data = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"],
                                               Attribute="userData")["UserData"]["Value"]
        held[library] = (instance["State"]["Name"], instance["InstanceType"],
                         instance["ImageId"], [g["GroupName"] for g in instance["SecurityGroups"]],
                         base64.b64decode(data).decode(), instance.get("PublicIpAddress"))
    assert held["overcast"] == held["libcloud"] == (
        "terminated", "t2.micro", EC2_IMAGE, ["default"], USER_DATA, None)
    assert len(ec2.describe_addresses()["Addresses"]) == addresses_before  # both released


# -- storage: Azure Blobs on Azurite, the local driver -----------------------------------------


def blob_program(lib: SimpleNamespace, driver: Any, name: str) -> list[str]:
    """Libcloud's storage example on any driver: create (twice), upload with
    metadata, get, download, list with a prefix, the errors, delete."""
    out = []
    container = driver.create_container(name)
    out.append(f"created {container.name}")
    try:
        driver.create_container(name)
    except lib.ContainerAlreadyExistsError:
        out.append("again: ContainerAlreadyExistsError")
    obj = driver.upload_object_via_stream(iter([b"hello ", b"world"]), container, "a/b.txt",
                                          extra={"content_type": "text/plain",
                                                 "meta_data": {"owner": "ops"}})
    out.append(f"uploaded {obj.name} {obj.size} {obj.meta_data}")
    driver.upload_object_via_stream(iter([b"x"]), container, "c.txt")
    got = driver.get_object(name, "a/b.txt")
    out.append(f"got {got.name} {got.size} {got.meta_data} {got.container.name}")
    out.append("data " + b"".join(driver.download_object_as_stream(got)).decode())
    listed = sorted(o.name for o in driver.list_container_objects(container))
    out.append("listed " + ",".join(listed))
    out.append("prefixed " + ",".join(o.name for o in driver.list_container_objects(
        container, prefix="a/")))
    out.append("containers " + ",".join(c.name for c in driver.list_containers()
                                        if c.name == name))
    try:
        driver.get_object(name, "missing")
    except lib.ObjectDoesNotExistError:
        out.append("missing object: ObjectDoesNotExistError")
    try:
        driver.get_container(name + "none")
    except lib.ContainerDoesNotExistError:
        out.append("missing container: ContainerDoesNotExistError")
    try:
        driver.delete_container(container)
    except lib.ContainerIsNotEmptyError:
        out.append("not empty: ContainerIsNotEmptyError")
    out.append(f"deleted {driver.delete_object(got)}")
    return out


def test_azure_program_on_azurite_same_under_both(request: pytest.FixtureRequest) -> None:
    from servers.storage_azure import ACCOUNT
    from servers.storage_azure import KEY
    from servers.storage_azure import azurite

    server = azurite(request)
    printed, made = {}, {}
    for library in ("libcloud", "overcast"):
        lib = _imports(library, "storage")
        driver = lib.get_driver(lib.Provider.AZURE_BLOBS)(ACCOUNT, KEY, host="127.0.0.1",
                                                           port=server.port, secure=False)
        name = f"compat{library}{uuid.uuid4().hex[:8]}"
        lines = blob_program(lib, driver, name)
        got = driver.get_object(name, "c.txt")
        lines.append(f"md5 {got.extra['md5_hash']} {got.extra['content_type']}")
        printed[library] = [line.replace(name, "<name>") for line in lines]
        made[library] = (driver, name)
    assert printed["overcast"] == printed["libcloud"]
    # What Azurite holds afterwards, read by overcast: the same blobs, bodies and types.
    check = made["overcast"][0]
    held = {library: sorted((o.name, o.size, o.content_md5, o.content_type,
                             o.meta_data.get("owner"))
                            for o in check.list_container_objects(check.get_container(name)))
            for library, (_, name) in made.items()}
    assert held["overcast"] == held["libcloud"]
    assert [entry[0] for entry in held["overcast"]] == ["c.txt"]
    # One blob read by both libraries: Object.hash means the same (the ETag as
    # Azure gives it), got and listed; the MD5 is overcast's content_md5.
    drivers = {library: driver for library, (driver, _) in made.items()}
    name = made["overcast"][1]
    got = {library: d.get_object(name, "c.txt") for library, d in drivers.items()}
    listed = {library: [o.hash for o in d.list_container_objects(d.get_container(name))]
              for library, d in drivers.items()}
    assert got["overcast"].hash == got["libcloud"].hash
    assert listed["overcast"] == listed["libcloud"]
    assert got["overcast"].content_md5 == got["libcloud"].extra["md5_hash"]


def local_tree(root: Path) -> dict[str, bytes]:
    """The files under ``root`` (overcast's own ``.overcast`` state aside)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".overcast" not in p.relative_to(root).parts}


def test_local_program_same_under_both(tmp_path: Path) -> None:
    pytest.importorskip("fasteners")  # Libcloud's local driver needs it
    printed, trees = {}, {}
    for library in ("libcloud", "overcast"):
        lib = _imports(library, "storage")
        root = tmp_path / library
        root.mkdir()
        driver = lib.get_driver(lib.Provider.LOCAL)(str(root))
        with warnings.catch_warnings():
            # Libcloud's local driver warns that it filters prefixes itself.
            warnings.filterwarnings("ignore", "Driver LocalStorageDriver does not implement")
            lines = blob_program(lib, driver, "box")
        printed[library] = lines
        trees[library] = local_tree(root)
    # Libcloud's local driver keeps no metadata ({} after upload and get); overcast's
    # keeps it: the one line where overcast says more.
    assert printed["libcloud"][2] == "uploaded a/b.txt 11 {}"
    assert printed["overcast"][2] == "uploaded a/b.txt 11 {'owner': 'ops'}"
    assert printed["libcloud"][3] == "got a/b.txt 11 {} box"
    assert printed["overcast"][3] == "got a/b.txt 11 {'owner': 'ops'} box"
    for lines in printed.values():
        del lines[2:4]
    assert printed["overcast"] == printed["libcloud"]
    assert trees["overcast"] == trees["libcloud"] == {"box/c.txt": b"x"}


def test_local_object_hash_means_what_libcloud_means(tmp_path: Path) -> None:
    """The same file read by both local drivers has the same ``hash`` (Libcloud
    hashes the modification time), and it changes when the file is rewritten;
    overcast's ``content_md5`` is the MD5 of the bytes."""
    pytest.importorskip("fasteners")  # Libcloud's local driver needs it
    from libcloud.storage.drivers.local import LocalStorageDriver as LibcloudLocal

    from overcast.storage import Provider
    from overcast.storage import get_driver

    ours = get_driver(Provider.LOCAL)(str(tmp_path))
    theirs = LibcloudLocal(str(tmp_path))
    box = ours.create_container("box")
    first = ours.upload_object_via_stream(iter([b"one"]), box, "f.txt")
    assert first.hash == theirs.get_object("box", "f.txt").hash
    assert first.content_md5 == hashlib.md5(b"one").hexdigest()
    os.utime(tmp_path / "box" / "f.txt", ns=(0, 1_000_000_000))  # as a rewrite would move it
    again = ours.get_object("box", "f.txt")
    assert again.hash == theirs.get_object("box", "f.txt").hash != first.hash
    assert [o.hash for o in ours.list_container_objects(box)] == [
        o.hash for o in theirs.list_container_objects(theirs.get_container("box"))]


# -- get-or-create with Libcloud's exception names ----------------------------------------------

PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
              "compat")


def container_get_or_create(lib: SimpleNamespace, driver: Any, name: str) -> list[str]:
    out = []
    for _ in range(2):
        try:
            container = driver.get_container(name)
            out.append(f"found {container.name}")
        except lib.ContainerDoesNotExistError:
            container = driver.create_container(name)
            out.append(f"created {container.name}")
    try:
        obj = driver.get_object(name, "state.json")
    except lib.ObjectDoesNotExistError:
        obj = driver.upload_object_via_stream(iter([b"{}"]), container, "state.json")
        out.append(f"uploaded {obj.name}")
    out.append(f"objects {[o.name for o in driver.list_container_objects(container)]}")
    return out


def key_pair_get_or_create(lib: SimpleNamespace, driver: Any, name: str) -> list[str]:
    out = []
    for _ in range(2):
        try:
            pair = driver.get_key_pair(name)
            out.append(f"found {pair.name} {pair.fingerprint}")
        except lib.KeyPairDoesNotExistError:
            pair = driver.import_key_pair_from_string(name, PUBLIC_KEY)
            out.append(f"imported {pair.name} {pair.fingerprint}")
    out.append(f"deleted {driver.delete_key_pair(pair)}")
    try:
        driver.get_key_pair(name)
    except lib.KeyPairDoesNotExistError:
        out.append("gone: KeyPairDoesNotExistError")
    return out


def test_get_or_create_container_same_under_both(request: pytest.FixtureRequest) -> None:
    from servers.storage_azure import ACCOUNT
    from servers.storage_azure import KEY
    from servers.storage_azure import azurite

    server = azurite(request)
    printed = {}
    for library in ("libcloud", "overcast"):
        lib = _imports(library, "storage")
        driver = lib.get_driver(lib.Provider.AZURE_BLOBS)(ACCOUNT, KEY, host="127.0.0.1",
                                                           port=server.port, secure=False)
        name = f"compatgoc{library}{uuid.uuid4().hex[:8]}"
        printed[library] = [line.replace(name, "<name>")
                            for line in container_get_or_create(lib, driver, name)]
    assert printed["overcast"] == printed["libcloud"] == [
        "created <name>", "found <name>", "uploaded state.json", "objects ['state.json']"]


def test_get_or_create_key_pair_same_under_both(request: pytest.FixtureRequest,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import libcloud.compute.drivers.ec2 as libcloud_ec2

    from servers.moto_server import moto_server

    monkeypatch.setattr(libcloud_ec2, "NAMESPACE", libcloud_ec2.NAMESPACE.rstrip("/"))
    url = urlsplit(moto_server(request).url)
    printed = {}
    for library in ("libcloud", "overcast"):
        lib = _imports(library, "compute")
        driver = lib.get_driver(lib.Provider.EC2)(
            "AKIDCOMPAT", "compat-secret", region="us-east-1", host=url.hostname,
            port=url.port, secure=False, signature_version="4")
        name = f"compat-{library}-{uuid.uuid4().hex[:8]}"
        try:
            lines = key_pair_get_or_create(lib, driver, name)
        except IndexError:
            # Libcloud's get_key_pair sends KeyName unnumbered, which moto
            # ignores (it answers every pair: none here), and indexes the empty
            # list: compared with its documented behaviour below instead.
            assert library == "libcloud"
            continue
        printed[library] = [line.replace(name, "<name>") for line in lines]
    # Libcloud documents get_key_pair raising KeyPairDoesNotExistError for a
    # missing pair and returning the pair (with the fingerprint EC2 gives) after.
    imported, found, deleted, gone = printed["overcast"]
    fingerprint = imported.split()[-1]
    assert (imported, found, deleted, gone) == (
        f"imported <name> {fingerprint}", f"found <name> {fingerprint}", "deleted True",
        "gone: KeyPairDoesNotExistError")
    assert printed.get("libcloud", printed["overcast"]) == printed["overcast"]
