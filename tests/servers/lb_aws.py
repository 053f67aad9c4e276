"""The Elastic Load Balancing drivers in tests: answers and form checks for the
scripted transport, and drivers pointed at this process's moto server.

moto (5.2) serves classic ELB and ELBv2 beside EC2, sharing EC2's state: an
instance registered with a balancer is ``InService``/``healthy`` while it
runs and ``OutOfService``/``unused`` once stopped. It pages
``DescribeLoadBalancers`` by ``PageSize`` (not target groups) and forwards
no traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest

from overcast.compute.drivers.ec2 import EC2NodeDriver
from overcast.loadbalancer.base import Member
from overcast.runtime.policy import Hooks
from overcast.testing import Sent
from servers.compute_ec2 import ACCESS_KEY
from servers.compute_ec2 import IMAGE_ID
from servers.compute_ec2 import REGION
from servers.compute_ec2 import SECRET_KEY
from servers.compute_ec2 import make_driver as make_ec2
from servers.lb_target import LBTarget
from servers.moto_server import moto_server

API = "https://elasticloadbalancing.us-east-1.amazonaws.com/"
ELB_NS = "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/"
ELBV2_NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"


def answer(action: str, inner: str = "", namespace: str = ELB_NS) -> str:
    """An ELB answer document for ``action``."""
    return (f'<{action}Response xmlns="{namespace}"><{action}Result>{inner}</{action}Result>'
            f"<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
            f"</{action}Response>")


def fault(code: str, message: str = "no", status_type: str = "Sender") -> str:
    """An ELB error document."""
    return (f"<ErrorResponse><Error><Type>{status_type}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>req-err</RequestId></ErrorResponse>")


def form(action: str, **wanted: str) -> Callable[[Sent], bool]:
    """A ``match=`` predicate: the form body names ``action`` and holds each
    ``wanted`` pair (dots in names are written as ``__``)."""

    def check(sent: Sent) -> bool:
        fields = dict(parse_qsl(sent.text, keep_blank_values=True))
        if fields.get("Action") != action:
            return False
        return all(fields.get(name.replace("__", ".")) == value for name, value in wanted.items())

    return check


def fields(sent: Sent) -> dict[str, str]:
    """A sent form body as a dict."""
    return dict(parse_qsl(sent.text, keep_blank_values=True))


def make_instances(request: pytest.FixtureRequest, count: int = 1) -> list[str]:
    """Start ``count`` EC2 instances on moto; their ids."""
    ec2 = make_ec2(request)
    with ec2:
        size = next(s for s in ec2.list_sizes() if s.id == "t2.micro")
        image = ec2.get_image(IMAGE_ID)
        return [ec2.create_node(f"lb-member-{n}", size, image).id for n in range(count)]


def ec2_driver(request: pytest.FixtureRequest) -> EC2NodeDriver:
    """EC2 on the same moto server."""
    return make_ec2(request)


def make_elb(request: pytest.FixtureRequest, **kwargs: Any) -> Any:
    """A classic ELB driver for this process's moto server."""
    from overcast.loadbalancer.drivers.elb import ElasticLBDriver

    server = moto_server(request)
    kwargs.setdefault("timeout", 60)
    return ElasticLBDriver(ACCESS_KEY, SECRET_KEY, REGION, endpoint=server.url, **kwargs)


def elb_target(request: pytest.FixtureRequest, tmp_path: Any) -> LBTarget:
    """The contract's target: classic ELB on moto, pages of 50."""
    requests: list[object] = []
    driver = make_elb(request, page_size=50, hooks=Hooks(on_request=[requests.append]))
    ec2 = ec2_driver(request)

    def member() -> Member:
        return Member(make_instances(request)[0], None, 8080)

    def node() -> Any:
        size = next(s for s in ec2.list_sizes() if s.id == "t2.micro")
        return ec2.create_node("lb-node", size, ec2.get_image(IMAGE_ID))

    return LBTarget(driver=driver, member=member, node=node, requests=requests, many=120,
                    close=[ec2])


def moto_subnets(request: pytest.FixtureRequest) -> list[str]:
    """Two subnets of moto's default VPC, in different zones (an ALB needs them)."""
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=moto_server(request).url, region_name=REGION,
                       aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    return [s["SubnetId"] for s in subnets[:2]]


def make_elbv2(request: pytest.FixtureRequest, name: str = "alb", **kwargs: Any) -> Any:
    """An ALB or NLB driver for this process's moto server, with its subnets."""
    from overcast.loadbalancer import get_driver

    server = moto_server(request)
    kwargs.setdefault("timeout", 60)
    kwargs.setdefault("subnets", moto_subnets(request))
    return get_driver(name)(ACCESS_KEY, SECRET_KEY, REGION, endpoint=server.url, **kwargs)


def _elbv2_target(request: pytest.FixtureRequest, name: str) -> LBTarget:
    requests: list[object] = []
    driver = make_elbv2(request, name, page_size=50, hooks=Hooks(on_request=[requests.append]))
    ec2 = ec2_driver(request)

    def member() -> Member:
        return Member(make_instances(request)[0], None, 8080)

    def node() -> Any:
        size = next(s for s in ec2.list_sizes() if s.id == "t2.micro")
        return ec2.create_node("lb-node", size, ec2.get_image(IMAGE_ID))

    missing = (f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/"
               f"{'app' if name == 'alb' else 'net'}/missing/0123456789abcdef")
    return LBTarget(driver=driver, member=member, node=node, requests=requests, many=120,
                    close=[ec2], missing_id=missing)


def alb_target(request: pytest.FixtureRequest, tmp_path: Any) -> LBTarget:
    """The contract's target: an ALB on moto, pages of 50."""
    return _elbv2_target(request, "alb")


def nlb_target(request: pytest.FixtureRequest, tmp_path: Any) -> LBTarget:
    """The contract's target: an NLB on moto, pages of 50."""
    return _elbv2_target(request, "nlb")
