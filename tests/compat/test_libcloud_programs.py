"""Libcloud-style programs run under Apache Libcloud 3.9.1 and under overcast
(only the imports differ) against the same local server: what they print and
what the server holds afterwards must be the same."""

from __future__ import annotations

import base64
import importlib
import uuid
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
