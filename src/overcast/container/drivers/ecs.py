"""Amazon Elastic Container Service (ECS), through its JSON 1.1 API.

``ECSContainerDriver(key, secret, region)`` (Apache Libcloud's order) signs
with AWS Signature V4; ``key``/``secret`` may be omitted to use the standard
AWS environment and profile (``profile=``).

How overcast's model maps onto ECS:

* Locations are AWS regions; a driver works in its ``region``. Clusters are
  ECS clusters, their id the cluster ARN.
* A container is an ECS **task** (its id the task ARN; ``extra["containers"]``
  holds the task's containers). ``deploy_container(name, image, cluster,
  parameters)`` registers a task definition of family ``name`` with one
  container and runs it (``RunTask``); with ``start=False`` it only registers
  the definition, and the container returned is the definition (id its ARN,
  state ``STOPPED``), which ``start_container`` runs. ``parameters`` keys:
  ``command``, ``env``, ``ports`` (``{80: 8080}``), ``memory`` (MiB), ``cpu``
  (units), ``launch_type``, ``network_configuration``. Each ``RunTask`` carries
  a token in ``startedBy``, so a run whose answer is lost is looked up before
  it is sent again.
* ``stop_container`` stops the task; ``restart_container`` stops it and runs
  its definition again (a new task, a new id); ``destroy_container`` stops it
  (ECS keeps stopped tasks for a while and then forgets them).
* Services are ``ex_`` operations (``ex_list_services``, ``ex_create_service``,
  ``ex_destroy_service``).
* Listings follow ``nextToken`` (``page_size`` is ``maxResults``).
* Images live in a registry (ECR), not in ECS: the image operations are not
  supported; a :class:`~overcast.container.base.ContainerImage`'s ``name`` is
  the image reference the task definition names.

Where moto 5 stops: it records clusters, task definitions and services, but
runs nothing. No container starts, its listings ignore ``maxResults``,
``RunTask`` without a registered container instance is a bare 500, and
``containers[].taskArn`` holds the task definition's ARN. Clusters and
definitions are tested on moto; tasks, paging past page 1 and the errors on the
scripted transport.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.auth.aws_credentials import region_or_default
from overcast.auth.aws_sigv4 import AwsCredentials
from overcast.auth.aws_sigv4 import SigV4Hooks
from overcast.container.base import ClusterLocation
from overcast.container.base import Container
from overcast.container.base import ContainerCluster
from overcast.container.base import ContainerDriver
from overcast.container.base import ContainerImage
from overcast.container.base import ContainerState
from overcast.container.base import DeployParameters
from overcast.container.base import check_cluster_argument
from overcast.errors import ClusterNotFound
from overcast.errors import DeployedContainerNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import HttpApi
from overcast.runtime.api import When
from overcast.runtime.api import json_fault
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Response
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret

__all__ = ["ECSContainerDriver"]

TARGET: Final = "AmazonEC2ContainerServiceV20141113"
_JSON: Final = "application/x-amz-json-1.1"
#: ``Describe*`` calls take at most this many names.
_DESCRIBE_BATCH: Final = 100
_PARAMETERS: Final = frozenset({"command", "env", "ports", "memory", "cpu", "launch_type",
                                "network_configuration"})
_STATES: Final = {
    "PROVISIONING": ContainerState.PENDING, "PENDING": ContainerState.PENDING,
    "ACTIVATING": ContainerState.PENDING, "RUNNING": ContainerState.RUNNING,
    "DEACTIVATING": ContainerState.PENDING, "STOPPING": ContainerState.PENDING,
    "DEPROVISIONING": ContainerState.PENDING, "STOPPED": ContainerState.STOPPED,
}
#: ECS regions and their countries.
REGIONS: Final = {
    "us-east-1": ("US East (N. Virginia)", "US"), "us-east-2": ("US East (Ohio)", "US"),
    "us-west-1": ("US West (N. California)", "US"), "us-west-2": ("US West (Oregon)", "US"),
    "ca-central-1": ("Canada (Central)", "CA"), "eu-west-1": ("Europe (Ireland)", "IE"),
    "eu-west-2": ("Europe (London)", "GB"), "eu-west-3": ("Europe (Paris)", "FR"),
    "eu-central-1": ("Europe (Frankfurt)", "DE"), "eu-north-1": ("Europe (Stockholm)", "SE"),
    "ap-northeast-1": ("Asia Pacific (Tokyo)", "JP"),
    "ap-northeast-2": ("Asia Pacific (Seoul)", "KR"),
    "ap-southeast-1": ("Asia Pacific (Singapore)", "SG"),
    "ap-southeast-2": ("Asia Pacific (Sydney)", "AU"),
    "ap-south-1": ("Asia Pacific (Mumbai)", "IN"), "sa-east-1": ("South America (Sao Paulo)", "BR"),
}


def new_token() -> str:
    """A run's token (its ``startedBy``, at most 36 characters)."""
    return uuid.uuid4().hex


class ECSContainerDriver(SigV4Hooks, HttpApi, ContainerDriver):
    """ECS clusters, task definitions, tasks (as containers) and services."""

    signing_service: ClassVar[str] = "ecs"
    name: ClassVar[str] = "ecs"
    label: ClassVar[str] = "ECS"
    supports_clusters: ClassVar[bool] = True
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(ClusterNotFound, code="ClusterNotFoundException"),
        When(NotFound, code=("ServiceNotFoundException", "TargetNotFoundException")),
        When(RateLimited, code="ThrottlingException"),
        When(InvalidCredentials, code=("UnrecognizedClientException",
                                       "InvalidSignatureException", "AccessDeniedException")),
        When(InvalidInput, code="InvalidParameterException"),
    )
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-amzn-RequestId",)

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 region: str | None = None, *, token: str | Secret | None = None,
                 profile: str | None = None, endpoint: str | None = None,
                 page_size: int = 100, **options: Any) -> None:
        super().__init__(**options)
        region = region_or_default(region, profile=profile, endpoint=endpoint)
        if not isinstance(region, str) or not region or "/" in region:
            raise InvalidInput(f"not an AWS region: {region!r}", driver=self)
        self.region = region
        self._credentials = AwsCredentials.resolve(key, secret, token, profile=profile)
        self.endpoint = check_endpoint(endpoint or f"https://ecs.{region}.amazonaws.com",
                                       driver=self)
        self.page_size = check_page_size(page_size, maximum=100, driver=self)

    def _fault(self, resp: Response) -> Fault:
        """AWS JSON errors name their code in ``__type`` (``"ns#Code"``)."""
        fault = json_fault(resp, self.request_id_headers)
        try:
            data = resp.json() if resp.body.strip() else {}
        except ValueError:
            return fault
        kind = str(data.get("__type") or "").rpartition("#")[2] if isinstance(data, dict) else ""
        if not kind:
            return fault
        return Fault(fault.status, kind, fault.message, fault.request_id,
                     fault.codes | {kind})

    # -- requests ---------------------------------------------------------------------

    def _call(self, action: str, payload: Mapping[str, Any], *, idempotent: bool = True,
              what: str = "", missing: type[NotFound] | None = None) -> Op[Any]:
        """One API action; its decoded answer, or the mapped error."""
        data = yield from self._json(
            "POST", "/", json=dict(payload), idempotent=idempotent, what=what, missing=missing,
            headers={"X-Amz-Target": f"{TARGET}.{action}", "Content-Type": _JSON})
        return data or {}

    def _pages(self, action: str, payload: Mapping[str, Any], key: str) -> Iter[str]:
        """Every item of ``key`` of every ``nextToken`` page of ``action``."""

        def fetch(cursor: Cursor | None) -> Op[Page[str]]:
            body = {**payload, "maxResults": self.page_size}
            if cursor is not None:
                body["nextToken"] = cursor
            data = yield from self._call(action, body, what=str(payload.get("cluster", "")))
            return Page.token(list(data.get(key) or []), data.get("nextToken"))

        yield from paginate(fetch, what=action, driver=self)

    def _described(self, action: str, key: str, names: Sequence[str],
                   payload: Mapping[str, Any]) -> Op[tuple[list[Any], list[Any]]]:
        """``Describe*`` of ``names`` in batches: (found, failures)."""
        found: list[Any] = []
        failures: list[Any] = []
        for start in range(0, len(names), _DESCRIBE_BATCH):
            data = yield from self._call(
                action, {**payload, key: list(names[start:start + _DESCRIBE_BATCH])},
                what=str(payload.get("cluster", "")))
            found += data.get(key) or []
            failures += data.get("failures") or []
        return found, failures

    # -- locations and clusters -----------------------------------------------------------

    @iterator
    def iterate_locations(self) -> Iter[ClusterLocation]:
        """The AWS regions ECS runs in (a driver works in its own ``region``)."""
        yield from ()
        for region, (name, country) in REGIONS.items():
            yield Emit(ClusterLocation(region, name, country, driver=self))

    def _to_cluster(self, data: Mapping[str, Any]) -> ContainerCluster:
        extra = {k: data.get(k) for k in ("status", "runningTasksCount", "pendingTasksCount",
                                          "activeServicesCount")}
        return ContainerCluster(id=str(data["clusterArn"]), name=str(data["clusterName"]),
                                driver=self, extra=extra)

    def _check_location(self, location: ClusterLocation | None) -> None:
        if location is not None and location.id != self.region:
            raise InvalidInput(f"this driver works in {self.region}, not {location.id}: make "
                               "a driver for that region", driver=self)

    @iterator
    def iterate_clusters(self, location: ClusterLocation | None = None) -> Iter[ContainerCluster]:
        """The clusters of the driver's region, page by page."""
        self._check_location(location)
        arns = yield from collect(self._pages("ListClusters", {}, "clusterArns"))
        found, _ = yield from self._described("DescribeClusters", "clusters", arns, {})
        for item in found:
            yield Emit(self._to_cluster(item))

    @operation
    def get_cluster(self, id: str) -> Op[ContainerCluster]:
        """A cluster by name or ARN; :class:`~overcast.errors.ClusterNotFound` if absent."""
        found, _ = yield from self._described("DescribeClusters", "clusters", [id], {})
        live = [c for c in found if c.get("status") != "INACTIVE"]
        if not live:
            raise ClusterNotFound(id, driver=self)
        return self._to_cluster(live[0])

    @operation
    def create_cluster(self, name: str,
                       location: ClusterLocation | None = None) -> Op[ContainerCluster]:
        """Create a cluster (ECS answers an existing name with that cluster)."""
        self._check_location(location)
        if not isinstance(name, str) or not name or len(name) > 255 or not all(
                c.isalnum() or c in "-_" for c in name):
            raise InvalidInput(f"not a cluster name: {name!r}", driver=self)
        data = yield from self._call("CreateCluster", {"clusterName": name})
        return self._to_cluster(data["cluster"])

    @operation
    def destroy_cluster(self, cluster: ContainerCluster) -> Op[bool]:
        """Delete a cluster (it must hold no services or tasks)."""
        yield from self._call("DeleteCluster", {"cluster": cluster.id}, what=cluster.name,
                              missing=ClusterNotFound)
        return True

    # -- containers (tasks) -----------------------------------------------------------------

    def _to_container(self, task: Mapping[str, Any]) -> Container:
        containers = list(task.get("containers") or [])
        first = containers[0] if containers else {}
        image_name = str(first.get("image") or "")
        status = str(task.get("lastStatus") or "")
        addresses = [str(i.get("privateIpv4Address")) for c in containers
                     for i in (c.get("networkInterfaces") or []) if i.get("privateIpv4Address")]
        definition = str(task.get("taskDefinitionArn") or "")
        extra = {"cluster": task.get("clusterArn"), "task_definition": definition,
                 "desired_status": task.get("desiredStatus"), "containers": containers,
                 "exit_code": first.get("exitCode"), "stopped_reason": task.get("stoppedReason"),
                 "started_by": task.get("startedBy"), "taskArn": task.get("taskArn")}
        family = definition.rpartition("/")[2].partition(":")[0]
        return Container(id=str(task["taskArn"]), name=str(first.get("name") or family),
                         image=ContainerImage(image_name, image_name, image_name, None),
                         state=_STATES.get(status, ContainerState.UNKNOWN),
                         ip_addresses=addresses, driver=self, extra=extra)

    def _definition_container(self, definition: Mapping[str, Any]) -> Container:
        arn = str(definition["taskDefinitionArn"])
        first = (definition.get("containerDefinitions") or [{}])[0]
        image_name = str(first.get("image") or "")
        return Container(id=arn, name=str(first.get("name") or definition.get("family")),
                         image=ContainerImage(image_name, image_name, image_name, None),
                         state=ContainerState.STOPPED, ip_addresses=[], driver=self,
                         extra={"task_definition": arn, "cluster": None})

    @staticmethod
    def _cluster_of(task_arn: str) -> str | None:
        """The cluster named in a task ARN (``task/CLUSTER/ID``), if any."""
        resource = task_arn.rpartition(":")[2]
        parts = resource.split("/")
        return parts[1] if len(parts) == 3 and parts[0] == "task" else None

    @iterator
    def iterate_containers(self, image: ContainerImage | None = None,
                           cluster: ContainerCluster | None = None, *,
                           all: bool = True) -> Iter[Container]:
        """The tasks of ``cluster`` (else the default cluster), running and (with
        ``all``) stopped, page by page; of ``image`` if given."""
        check_cluster_argument(cluster, self, operation="list_containers")
        where = {"cluster": cluster.id} if cluster is not None else {}
        statuses = ("RUNNING", "STOPPED") if all else ("RUNNING",)
        for status in statuses:
            arns = yield from collect(self._pages(
                "ListTasks", {**where, "desiredStatus": status}, "taskArns"))
            tasks, _ = yield from self._described("DescribeTasks", "tasks", arns, where)
            for task in tasks:
                found = self._to_container(task)
                if image is None or found.image.name == image.name:
                    yield Emit(found)

    @operation
    def get_container(self, id: str) -> Op[Container]:
        """A task by ARN; :class:`~overcast.errors.DeployedContainerNotFound` if absent."""
        cluster = self._cluster_of(id)
        where = {"cluster": cluster} if cluster else {}
        tasks, _ = yield from self._described("DescribeTasks", "tasks", [id], where)
        if not tasks:
            raise DeployedContainerNotFound(id, driver=self)
        return self._to_container(tasks[0])

    def _definition(self, name: str, image: ContainerImage,
                    given: Mapping[str, Any]) -> dict[str, Any]:
        """The ``RegisterTaskDefinition`` body, every parameter checked."""
        unknown = set(given) - _PARAMETERS
        if unknown:
            raise InvalidInput(f"unknown deploy parameter(s): {', '.join(sorted(unknown))}",
                               driver=self)
        memory = given.get("memory", 512)
        cpu = given.get("cpu", 256)
        for what, value in (("memory", memory), ("cpu", cpu)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InvalidInput(f"{what} is a positive integer: {value!r}", driver=self)
        container: dict[str, Any] = {"name": name, "image": image.name or image.path,
                                     "memory": memory, "cpu": cpu, "essential": True}
        command = given.get("command")
        if command is not None:
            if isinstance(command, str):
                command = command.split()
            if not isinstance(command, Sequence) or not all(isinstance(w, str) for w in command):
                raise InvalidInput(f"command is a list of strings: {command!r}", driver=self)
            container["command"] = list(command)
        env = given.get("env") or {}
        if not isinstance(env, Mapping):
            raise InvalidInput(f"env is a mapping: {env!r}", driver=self)
        if env:
            container["environment"] = [{"name": str(k), "value": str(v)}
                                        for k, v in env.items()]
        ports = given.get("ports") or {}
        if not isinstance(ports, Mapping):
            raise InvalidInput(f"ports is a mapping of container port to host port: {ports!r}",
                               driver=self)
        mappings = []
        for inner, outer in ports.items():
            numbers = [inner] if outer is None else [inner, outer]
            if not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n < 65536
                       for n in numbers):
                raise InvalidInput(f"not a port mapping: {inner!r}: {outer!r}", driver=self)
            mapping = {"containerPort": inner, "protocol": "tcp"}
            if outer is not None:
                mapping["hostPort"] = outer
            mappings.append(mapping)
        if mappings:
            container["portMappings"] = mappings
        return {"family": name, "containerDefinitions": [container]}

    @operation
    def deploy_container(self, name: str, image: ContainerImage,
                         cluster: ContainerCluster | None = None,
                         parameters: DeployParameters | None = None,
                         start: bool = True) -> Op[Container]:
        """Register a task definition of family ``name`` and run it in
        ``cluster`` (else the default cluster); see the module's documentation."""
        check_cluster_argument(cluster, self, operation="deploy_container")
        if not isinstance(start, bool):
            raise InvalidInput(f"start must be True or False, not {start!r}", driver=self)
        if not isinstance(name, str) or not name or len(name) > 255 or not all(
                c.isalnum() or c in "-_" for c in name):
            raise InvalidInput(f"not a task definition family: {name!r}", driver=self)
        given: Mapping[str, Any] = (
            {} if parameters is None else {"command": parameters}
            if isinstance(parameters, str) else parameters)
        if not isinstance(given, Mapping):
            raise InvalidInput(f"parameters must be a mapping: {parameters!r}", driver=self)
        body = self._definition(name, image, given)
        run_options = {k: given[k] for k in ("launch_type", "network_configuration")
                       if k in given}
        data = yield from self._call("RegisterTaskDefinition", body, idempotent=False)
        definition = self._definition_container(data["taskDefinition"])
        if not start:
            definition.extra["cluster"] = cluster.id if cluster is not None else None
            return definition
        return (yield from self._run(definition.id, cluster.id if cluster else None,
                                     run_options))

    def _run(self, definition: str, cluster: str | None,
             options: Mapping[str, Any] | None = None) -> Op[Container]:
        """``RunTask`` of one task, exactly once (its token in ``startedBy``)."""
        token = new_token()
        body: dict[str, Any] = {"taskDefinition": definition, "count": 1, "startedBy": token}
        if cluster:
            body["cluster"] = cluster
        options = options or {}
        if "launch_type" in options:
            body["launchType"] = options["launch_type"]
        if "network_configuration" in options:
            body["networkConfiguration"] = options["network_configuration"]
        where = {"cluster": cluster} if cluster else {}

        def send() -> Op[Container]:
            data = yield from self._call("RunTask", body, idempotent=False,
                                         what=cluster or "default", missing=ClusterNotFound)
            tasks = data.get("tasks") or []
            if not tasks:
                reasons = "; ".join(str(f.get("reason")) for f in data.get("failures") or [])
                raise ProviderError(f"RunTask started no task: {reasons or 'no reason given'}",
                                    driver=self)
            return self._to_container(tasks[0])

        def find() -> Op[Container | None]:
            arns = yield from collect(self._pages(
                "ListTasks", {**where, "startedBy": token}, "taskArns"))
            if not arns:
                return None
            tasks, _ = yield from self._described("DescribeTasks", "tasks", arns[:1], where)
            return self._to_container(tasks[0]) if tasks else None

        return (yield from create_once(send, find))

    def _stop(self, container: Container) -> Op[Container]:
        cluster = container.extra.get("cluster") or self._cluster_of(container.id)
        body = {"task": container.id, **({"cluster": cluster} if cluster else {})}
        try:
            data = yield from self._call("StopTask", body, what=container.id)
        except InvalidInput as exc:  # ECS says "The referenced task was not found."
            if "not found" in str(exc).lower():
                raise DeployedContainerNotFound(container.id, driver=self) from None
            raise
        return self._to_container(data["task"])

    @operation
    def start_container(self, container: Container) -> Op[Container]:
        """Run the container's task definition (a task definition from
        ``deploy_container(start=False)``, or a stopped task's) as a new task."""
        definition = str(container.extra.get("task_definition") or "")
        if not definition:
            raise InvalidInput(f"{container.id}: no task definition to run", driver=self)
        cluster = container.extra.get("cluster") or self._cluster_of(container.id)
        return (yield from self._run(definition, cluster))

    @operation
    def stop_container(self, container: Container) -> Op[Container]:
        """Stop the task; it as ECS then reports it (``extra["exit_code"]`` once
        its containers have exited)."""
        return (yield from self._stop(container))

    @operation
    def restart_container(self, container: Container) -> Op[Container]:
        """Stop the task and run its definition again (a new task)."""
        stopped = yield from self._stop(container)
        return (yield from self.start_container.op(stopped))

    @operation
    def destroy_container(self, container: Container) -> Op[bool]:
        """Stop the task (ECS forgets stopped tasks by itself)."""
        yield from self._stop(container)
        return True

    # -- services -------------------------------------------------------------------------

    @operation
    def ex_list_services(self, cluster: ContainerCluster | None = None) -> Op[list[Any]]:
        """The services of ``cluster`` (else the default one), described."""
        where = {"cluster": cluster.id} if cluster is not None else {}
        arns = yield from collect(self._pages("ListServices", where, "serviceArns"))
        found, _ = yield from self._described("DescribeServices", "services", arns, where)
        return found

    @operation
    def ex_create_service(self, name: str, cluster: ContainerCluster, task_definition: str,
                          desired_count: int = 1) -> Op[Any]:
        """Create a service keeping ``desired_count`` tasks of ``task_definition``."""
        if not isinstance(desired_count, int) or desired_count < 0:
            raise InvalidInput(f"desired_count is an integer >= 0: {desired_count!r}",
                               driver=self)
        data = yield from self._call("CreateService", {
            "serviceName": name, "cluster": cluster.id, "taskDefinition": task_definition,
            "desiredCount": desired_count, "clientToken": new_token()},
            what=cluster.name, missing=ClusterNotFound)
        return data["service"]

    @operation
    def ex_destroy_service(self, service_arn: str, *,
                           cluster: ContainerCluster | None = None) -> Op[bool]:
        """Delete a service (scaled to zero first, as ECS requires)."""
        where = {"cluster": cluster.id} if cluster is not None else {}
        yield from self._call("UpdateService", {**where, "service": service_arn,
                                                "desiredCount": 0}, what=service_arn)
        yield from self._call("DeleteService", {**where, "service": service_arn},
                              what=service_arn)
        return True
