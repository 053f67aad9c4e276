"""Every AWS driver signs with temporary credentials the chain found, fetched
through its own ``_refresh`` hook before its first signed request: instance
metadata (the fixture) gives the key, and a request the driver signs carries
it and its session token, sync and async (renewal itself is tested through
S3 in test_aws_credential_chain.py)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from overcast.compute.drivers.ec2 import EC2NodeDriver
from overcast.container.drivers.ecs import ECSContainerDriver
from overcast.dns.drivers.route53 import Route53DNSDriver
from overcast.driver import BaseDriver
from overcast.loadbalancer.drivers.elb import ElasticLBDriver
from overcast.loadbalancer.drivers.elbv2 import ApplicationLBDriver
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.testing import MODES
from servers.aws_metadata import AwsMetadata
from servers.aws_metadata import aws_metadata

DRIVERS: list[Callable[[str], BaseDriver]] = [
    lambda url: S3StorageDriver(endpoint=url),
    lambda url: Route53DNSDriver(endpoint=url),
    lambda url: EC2NodeDriver(endpoint=url),
    lambda url: ElasticLBDriver(endpoint=url),
    lambda url: ApplicationLBDriver(endpoint=url),
    lambda url: ECSContainerDriver(endpoint=url),
]
IDS = ["s3", "route53", "ec2", "elb", "alb", "ecs"]


@pytest.fixture
def meta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsMetadata]:
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    with aws_metadata() as fixture:
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fixture.url)
        yield fixture


def _signed_get(url: str) -> Op[int]:
    resp: Response = yield Request("GET", f"{url}/probe")
    return resp.status


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("make", DRIVERS, ids=IDS)
def test_the_driver_signs_with_the_key_instance_metadata_gave(
        meta: AwsMetadata, make: Callable[[str], BaseDriver], mode: str) -> None:
    driver = make(meta.url)
    if mode == "sync":
        status: Any = driver._sync_runner.run(_signed_get(meta.url))
        driver.close()
    else:
        async def main() -> Any:
            async with driver.aio:
                return await driver._async_runner.run(_signed_get(meta.url))

        status = anyio.run(main)
    assert status == 200
    assert [(s.key, s.token) for s in meta.state.signed] == [("ASIAIMDS1", "token-IMDS-1")]
    assert meta.state.hits["/latest/api/token"] == 1


REGIONAL: list[Callable[..., Any]] = [S3StorageDriver, EC2NodeDriver, ElasticLBDriver,
                                      ApplicationLBDriver, ECSContainerDriver]


@pytest.mark.parametrize("cls", REGIONAL, ids=["s3", "ec2", "elb", "alb", "ecs"])
def test_the_region_is_found_as_the_cli_finds_it(meta: AwsMetadata, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 cls: Callable[..., Any]) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[default]\nregion = eu-west-3\n"
                                             "[profile x]\nregion = ap-south-1\n")
    assert cls().region == "eu-west-3"
    assert cls(profile="x").region == "ap-south-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert cls().region == "us-west-2"
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    assert cls().region == "ca-central-1"
    assert cls(region="eu-north-1").region == "eu-north-1"
    assert cls(endpoint=meta.url).region == "us-east-1"  # not AWS: its own default
