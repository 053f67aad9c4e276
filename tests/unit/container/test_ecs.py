"""The ECS driver on the scripted transport: the JSON 1.1 actions it sends
and how it reads the answers, in both modes, without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from overcast.container.base import Container
from overcast.container.base import ContainerCluster
from overcast.container.base import ContainerImage
from overcast.container.base import ContainerState
from overcast.container.drivers.ecs import ECSContainerDriver
from overcast.errors import ClusterNotFound
from overcast.errors import DeployedContainerNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "https://ecs.eu-west-1.amazonaws.com/"
ACCOUNT = "arn:aws:ecs:eu-west-1:123456789012"
CLUSTER = f"{ACCOUNT}:cluster/web"
DEFINITION = f"{ACCOUNT}:task-definition/app:1"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> ECSContainerDriver:
    options.setdefault("retry", RetryPolicy(max_attempts=2, base=0.001, cap=0.002))
    return ECSContainerDriver("AKIDECS", "ecs-secret", "eu-west-1", page_size=2, **options,
                              **script.options())


def action(script: Script, name: str, body: dict[str, Any] | None = None) -> Any:
    """Expect one action (its target header, and its JSON body if given)."""
    def same(sent: Any) -> bool:
        return body is None or json.loads(sent.body) == body

    return script.expect("POST", API, headers={
        "X-Amz-Target": f"AmazonEC2ContainerServiceV20141113.{name}",
        "Content-Type": "application/x-amz-json-1.1"}, match=same)


def task(n: int, status: str = "RUNNING", **fields: Any) -> dict[str, Any]:
    return {"taskArn": f"{ACCOUNT}:task/web/t{n}", "clusterArn": CLUSTER,
            "taskDefinitionArn": DEFINITION, "lastStatus": status, "desiredStatus": status,
            "containers": [{"name": "app", "image": "busybox:latest", **fields}]}


def cluster_item(name: str) -> dict[str, Any]:
    return {"clusterArn": f"{ACCOUNT}:cluster/{name}", "clusterName": name, "status": "ACTIVE"}


def image() -> ContainerImage:
    return ContainerImage("busybox:latest", "busybox:latest", "busybox", "latest")


def test_requests_are_signed_for_ecs_in_the_region(mode: str) -> None:
    script = Script()

    def signed(sent: Any) -> bool:
        auth = sent.headers["Authorization"]
        return "/eu-west-1/ecs/aws4_request" in auth and "AKIDECS" in auth

    script.expect("POST", API, match=signed).reply(200, json={"clusterArns": []})
    assert call(mode, driver(script), "list_clusters") == []


def test_clusters_are_listed_past_page_one_and_described(mode: str) -> None:
    script = Script()
    arns = [f"{ACCOUNT}:cluster/c{i}" for i in range(5)]
    action(script, "ListClusters", {"maxResults": 2}).reply(
        200, json={"clusterArns": arns[:2], "nextToken": "p2"})
    action(script, "ListClusters", {"maxResults": 2, "nextToken": "p2"}).reply(
        200, json={"clusterArns": arns[2:4], "nextToken": "p3"})
    action(script, "ListClusters", {"maxResults": 2, "nextToken": "p3"}).reply(
        200, json={"clusterArns": arns[4:]})
    action(script, "DescribeClusters", {"clusters": arns}).reply(
        200, json={"clusters": [cluster_item(f"c{i}") for i in range(5)], "failures": []})
    got = call(mode, driver(script), "list_clusters")
    assert [c.name for c in got] == ["c0", "c1", "c2", "c3", "c4"]
    script.assert_done()


def test_a_repeated_next_token_is_an_error(mode: str) -> None:
    script = Script()
    action(script, "ListClusters").reply(200, json={"clusterArns": ["a"], "nextToken": "same"})
    action(script, "ListClusters").reply(200, json={"clusterArns": ["b"], "nextToken": "same"})
    with pytest.raises(ProviderError, match=r"repeat|twice|same"):
        call(mode, driver(script), "list_clusters")


def test_clusters_are_created_read_and_deleted(mode: str) -> None:
    script = Script()
    action(script, "CreateCluster", {"clusterName": "web"}).reply(
        200, json={"cluster": cluster_item("web")})
    action(script, "DescribeClusters", {"clusters": ["web"]}).reply(
        200, json={"clusters": [cluster_item("web")], "failures": []})
    action(script, "DescribeClusters", {"clusters": ["gone"]}).reply(
        200, json={"clusters": [], "failures": [{"arn": "gone", "reason": "MISSING"}]})
    action(script, "DeleteCluster", {"cluster": CLUSTER}).reply(
        200, json={"cluster": cluster_item("web")})
    action(script, "DeleteCluster", {"cluster": CLUSTER}).reply(
        400, json={"__type": "ClusterNotFoundException", "message": "Cluster not found."})
    d = driver(script)
    made = call(mode, d, "create_cluster", "web")
    assert made.id == CLUSTER
    assert call(mode, d, "get_cluster", "web") == made
    with pytest.raises(ClusterNotFound):
        call(mode, d, "get_cluster", "gone")
    assert call(mode, d, "destroy_cluster", made) is True
    with pytest.raises(ClusterNotFound):
        call(mode, d, "destroy_cluster", made)
    script.assert_done()


def test_locations_are_regions_and_another_region_is_refused(mode: str) -> None:
    script = Script()
    d = driver(script)
    locations = call(mode, d, "list_locations")
    assert "eu-west-1" in [loc.id for loc in locations]
    tokyo = call(mode, d, "get_location", "ap-northeast-1")
    with pytest.raises(InvalidInput, match="eu-west-1"):
        call(mode, d, "create_cluster", "web", tokyo)
    script.assert_done()


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("overcast.container.drivers.ecs.new_token", lambda: "t0k3n")


@pytest.mark.usefixtures("token")
def test_deploy_registers_a_definition_and_runs_it(mode: str) -> None:
    script = Script()
    action(script, "RegisterTaskDefinition", {"family": "app", "containerDefinitions": [{
        "name": "app", "image": "busybox:latest", "memory": 128, "cpu": 256,
        "essential": True, "command": ["sleep", "60"],
        "environment": [{"name": "A", "value": "1"}],
        "portMappings": [{"containerPort": 80, "protocol": "tcp", "hostPort": 8080}]}]}).reply(
        200, json={"taskDefinition": {"taskDefinitionArn": DEFINITION, "family": "app",
                                      "containerDefinitions": [{"name": "app",
                                                                "image": "busybox:latest"}]}})
    action(script, "RunTask", {"taskDefinition": DEFINITION, "count": 1, "startedBy": "t0k3n",
                               "cluster": CLUSTER}).reply(
        200, json={"tasks": [task(1, "PENDING")], "failures": []})
    cluster = ContainerCluster(CLUSTER, "web")
    got = call(mode, driver(script), "deploy_container", "app", image(), cluster, {
        "command": ["sleep", "60"], "env": {"A": "1"}, "ports": {80: 8080}, "memory": 128})
    assert got.id == f"{ACCOUNT}:task/web/t1" and got.state is ContainerState.PENDING
    assert got.extra["task_definition"] == DEFINITION
    script.assert_done()


@pytest.mark.usefixtures("token")
def test_a_lost_run_answer_is_looked_up_by_its_token(mode: str) -> None:
    script = Script()
    defn = Container(DEFINITION, "app", image(), ContainerState.STOPPED, [],
                     extra={"task_definition": DEFINITION, "cluster": CLUSTER})
    action(script, "RunTask").fail(sent=True)
    action(script, "ListTasks", {"cluster": CLUSTER, "startedBy": "t0k3n", "maxResults": 2}
           ).reply(200, json={"taskArns": [f"{ACCOUNT}:task/web/t7"]})
    action(script, "DescribeTasks", {"cluster": CLUSTER, "tasks": [f"{ACCOUNT}:task/web/t7"]}
           ).reply(200, json={"tasks": [task(7)], "failures": []})
    got = call(mode, driver(script), "start_container", defn)
    assert got.id.endswith("/t7") and got.state is ContainerState.RUNNING
    script.assert_done()


def test_run_task_that_starts_nothing_says_why(mode: str) -> None:
    script = Script()
    defn = Container(DEFINITION, "app", image(), ContainerState.STOPPED, [],
                     extra={"task_definition": DEFINITION, "cluster": CLUSTER})
    action(script, "RunTask").reply(200, json={"tasks": [], "failures": [
        {"reason": "RESOURCE:MEMORY"}]})
    with pytest.raises(ProviderError, match="RESOURCE:MEMORY"):
        call(mode, driver(script), "start_container", defn)


def test_tasks_are_listed_past_page_one_running_and_stopped(mode: str) -> None:
    script = Script()
    where = {"cluster": CLUSTER}
    running = [f"{ACCOUNT}:task/web/t{i}" for i in range(3)]
    action(script, "ListTasks", {**where, "desiredStatus": "RUNNING", "maxResults": 2}).reply(
        200, json={"taskArns": running[:2], "nextToken": "n2"})
    action(script, "ListTasks", {**where, "desiredStatus": "RUNNING", "maxResults": 2,
                                 "nextToken": "n2"}).reply(200, json={"taskArns": running[2:]})
    action(script, "DescribeTasks", {**where, "tasks": running}).reply(
        200, json={"tasks": [task(i) for i in range(3)]})
    action(script, "ListTasks", {**where, "desiredStatus": "STOPPED", "maxResults": 2}).reply(
        200, json={"taskArns": [f"{ACCOUNT}:task/web/t9"]})
    action(script, "DescribeTasks", {**where, "tasks": [f"{ACCOUNT}:task/web/t9"]}).reply(
        200, json={"tasks": [task(9, "STOPPED", exitCode=0)]})
    got = call(mode, driver(script), "list_containers", None, ContainerCluster(CLUSTER, "web"))
    assert [(c.id.rpartition("/")[2], c.state) for c in got] == [
        ("t0", ContainerState.RUNNING), ("t1", ContainerState.RUNNING),
        ("t2", ContainerState.RUNNING), ("t9", ContainerState.STOPPED)]
    script.assert_done()


def test_get_stop_restart_and_destroy_a_task(mode: str) -> None:
    script = Script()
    arn = f"{ACCOUNT}:task/web/t1"
    c = Container(arn, "app", image(), ContainerState.RUNNING, [],
                  extra={"cluster": CLUSTER, "task_definition": DEFINITION})
    action(script, "DescribeTasks", {"cluster": "web", "tasks": [arn]}).reply(
        200, json={"tasks": [task(1)]})
    action(script, "StopTask", {"task": arn, "cluster": CLUSTER}).reply(
        200, json={"task": task(1, "STOPPED", exitCode=143)})
    action(script, "StopTask", {"task": arn, "cluster": CLUSTER}).reply(
        200, json={"task": task(1, "STOPPED")})
    action(script, "RunTask").reply(200, json={"tasks": [task(2, "PENDING")]})
    action(script, "StopTask", {"task": arn, "cluster": CLUSTER}).reply(
        400, json={"__type": "InvalidParameterException",
                   "message": "The referenced task was not found."})
    d = driver(script)
    assert call(mode, d, "get_container", arn).state is ContainerState.RUNNING
    stopped = call(mode, d, "stop_container", c)
    assert stopped.state is ContainerState.STOPPED and stopped.extra["exit_code"] == 143
    assert call(mode, d, "restart_container", c).id.endswith("/t2")
    with pytest.raises(DeployedContainerNotFound):
        call(mode, d, "destroy_container", c)
    script.assert_done()


def test_a_missing_task_is_deployed_container_not_found(mode: str) -> None:
    script = Script()
    arn = f"{ACCOUNT}:task/web/gone"
    action(script, "DescribeTasks").reply(200, json={"tasks": [], "failures": [
        {"arn": arn, "reason": "MISSING"}]})
    with pytest.raises(DeployedContainerNotFound):
        call(mode, driver(script), "get_container", arn)


def test_errors_are_mapped(mode: str) -> None:
    script = Script()
    action(script, "ListClusters").reply(400, json={
        "__type": "com.amazon.coral.service#UnrecognizedClientException",
        "message": "The security token included in the request is invalid."})
    action(script, "ListClusters").reply(400, json={"__type": "ThrottlingException",
                                                    "message": "Rate exceeded"})
    action(script, "ListClusters").reply(400, json={"__type": "ThrottlingException",
                                                    "message": "Rate exceeded"})
    action(script, "ListClusters").reply(400, json={"__type": "ClientException",
                                                    "message": "odd"})
    d = driver(script)
    with pytest.raises(InvalidCredentials):
        call(mode, d, "list_clusters")
    with pytest.raises(RateLimited):
        call(mode, d, "list_clusters")
    with pytest.raises(ProviderError) as info:
        call(mode, d, "list_clusters")
    assert info.value.code == "ClientException"
    script.assert_done()


@pytest.mark.parametrize(("args", "words"), [
    (("bad name!", "IMAGE"), "family"),
    (("app", "IMAGE", None, {"ports": {80: 70000}}), "port"),
    (("app", "IMAGE", None, {"ports": {"http": 80}}), "port"),
    (("app", "IMAGE", None, {"memory": -1}), "memory"),
    (("app", "IMAGE", None, {"colour": "red"}), "unknown"),
    (("app", "IMAGE", "sleep 5", True), "cluster"),
])
def test_invalid_deploys_send_nothing(mode: str, args: tuple[Any, ...], words: str) -> None:
    script = Script()
    args = tuple(image() if a == "IMAGE" else a for a in args)
    with pytest.raises(InvalidInput, match=words):
        call(mode, driver(script), "deploy_container", *args)
    script.assert_done()


def test_services(mode: str) -> None:
    script = Script()
    cluster = ContainerCluster(CLUSTER, "web")
    svc = f"{ACCOUNT}:service/web/svc"
    action(script, "ListServices", {"cluster": CLUSTER, "maxResults": 2}).reply(
        200, json={"serviceArns": [svc]})
    action(script, "DescribeServices", {"cluster": CLUSTER, "services": [svc]}).reply(
        200, json={"services": [{"serviceArn": svc, "serviceName": "svc"}]})
    action(script, "UpdateService", {"cluster": CLUSTER, "service": svc, "desiredCount": 0}
           ).reply(200, json={"service": {}})
    action(script, "DeleteService", {"cluster": CLUSTER, "service": svc}).reply(
        200, json={"service": {}})
    d = driver(script)
    assert [s["serviceName"] for s in call(mode, d, "ex_list_services", cluster)] == ["svc"]
    assert call(mode, d, "ex_destroy_service", svc, cluster=cluster) is True
    script.assert_done()
