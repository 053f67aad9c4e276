"""A stateful fixture server of Apache CloudStack's API for compute, and the
compute conformance factory.

No CloudStack management server runs on this machine, so this is written from
the Apache CloudStack API reference (the user API's pages for each command
below) and the developer's guide ("Signing API Requests", "Asynchronous
Commands", "Error Handling", "Paging"). What it keeps of the API's behaviour:

* **One endpoint.** ``GET`` (or ``POST``, parameters in the query)
  ``/client/api?command=...&response=json&apiKey=...&signature=...``.
  Commands are case-insensitive; an unknown one is 432 "The given command
  does not exist or it is not available for user".
* **Signing.** The signature is checked as CloudStack checks it (parameters
  but ``signature``, lower-cased names, sorted, URL-encoded, lower-cased, the
  base64 HMAC-SHA1 under the account's secret key); a missing key, an unknown
  key or a wrong signature is 401 "unable to verify user credentials and/or
  request signature". With ``signatureVersion=3``, an ``expires`` in the
  past is 401 too.
* **Errors** answer with the HTTP status of their ``errorcode``, the body
  ``{"<command>response": {"uuidList": [], "errorcode", "cserrorcode",
  "errortext"}}``: 431 for a bad or unknown parameter value (``cserrorcode``
  4350), 432 unknown command, 531 permission (4365), 530 internal (4250),
  536 resource in use. (The ``cserrorcode`` numbers are unverified.)
* **Paging.** Lists take ``page``/``pagesize``; without them an answer holds
  the first ``default.page.size`` items (500 by default; settable). A
  ``pagesize`` above it is 431. Answers carry ``count``, the number of
  matching items in all, and omit the item key when there are none (``{}``).
* **Async jobs.** Deploy, start, stop, reboot, destroy, volume create, attach
  and detach, snapshots, security group rules, public IPs and port forwarding
  rules answer ``{"jobid", "id"?}`` at once; ``queryAsyncJobResult`` shows
  ``jobstatus`` 0 on the first poll and 1 (with ``jobresult``) on the second,
  or 2 with ``jobresult: {"errorcode", "errortext"}`` when a test armed a
  failure (:meth:`CloudStackServer.fail_next_job`).
* **VMs** are ``Starting`` until their deploy job ends, then ``Running`` with
  the NIC address 127.0.0.1; ``Stopped``/``Running`` after stop/start jobs;
  ``destroyVirtualMachine`` leaves them ``Destroyed`` (listed) unless
  ``expunge=true``. A VM's ``keypair``'s public key is appended to
  :attr:`CloudStackServer.authorized_keys` (the suite sshd's) when the VM
  starts: only keys sent by key pair name reach the machine.

Tests arm failures with :meth:`CloudStackServer.inject` (``after=True`` runs
the command, then answers 500: the answer is lost).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from overcast.auth.cloudstack import canonical_string
from overcast.compute.drivers.cloudstack import CloudStackNodeDriver
from overcast.runtime.policy import Hooks
from servers.compute_digitalocean import fingerprint  # the same MD5 of the key's blob
from servers.compute_target import ComputeTarget
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

__all__ = ["API_KEY", "SECRET_KEY", "CloudStackServer", "make_target", "serve"]

API_KEY = "plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMm"
SECRET_KEY = "VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0"
PATH = "/client/api"

ZONES = [
    {"id": "1b3ad6d4-6c9e-4a66-9b0e-000000000001", "name": "zone-ch-gva-2",
     "networktype": "Basic", "securitygroupsenabled": True, "allocationstate": "Enabled"},
    {"id": "1b3ad6d4-6c9e-4a66-9b0e-000000000002", "name": "zone-de-fra-1",
     "networktype": "Advanced", "securitygroupsenabled": False, "allocationstate": "Enabled"},
]
SERVICE_OFFERINGS = [
    {"id": f"5e0ea6b8-0000-4000-8000-00000000000{n}", "name": name, "displaytext": name,
     "cpunumber": cpus, "cpuspeed": 2198, "memory": memory, "storagetype": "local",
     "offerha": False, "limitcpuuse": False, "iscustomized": False}
    for n, (name, cpus, memory) in enumerate(
        [("Micro", 1, 512), ("Tiny", 1, 1024), ("Small", 2, 2048), ("Medium", 2, 4096)], 1)
]
DISK_OFFERINGS = [
    {"id": "d15c0000-0000-4000-8000-000000000005", "name": "Small", "disksize": 5,
     "iscustomized": False, "displaytext": "Small Disk, 5 GB"},
    {"id": "d15c0000-0000-4000-8000-000000000020", "name": "Medium", "disksize": 20,
     "iscustomized": False, "displaytext": "Medium Disk, 20 GB"},
    {"id": "d15c0000-0000-4000-8000-0000000000cc", "name": "Custom", "disksize": 0,
     "iscustomized": True, "displaytext": "Custom Disk"},
]
TEMPLATES = [
    {"id": f"7e3a0000-0000-4000-8000-00000000000{n}", "name": name, "displaytext": name,
     "ostypename": os_type, "isready": True, "ispublic": True, "isfeatured": True,
     "passwordenabled": password, "hypervisor": "KVM", "format": "QCOW2",
     "size": 10 * 1024**3, "templatetype": "USER", "zoneid": ZONES[0]["id"],
     "zonename": ZONES[0]["name"]}
    for n, (name, os_type, password) in enumerate(
        [("Linux Ubuntu 24.04 LTS 64-bit", "Other PV (64-bit)", False),
         ("Linux Debian 12 (Bookworm) 64-bit", "Debian GNU/Linux 12 (64-bit)", False),
         ("Windows Server 2022", "Windows Server 2022 (64-bit)", True)], 1)
]
NETWORKS = [
    {"id": "4e7b0000-0000-4000-8000-000000000001", "name": "guestNetworkForBasicZone",
     "displaytext": "guestNetworkForBasicZone", "networkofferingid": "no-basic",
     "zoneid": ZONES[0]["id"], "type": "Shared", "state": "Setup", "cidr": "10.1.0.0/16"},
    {"id": "4e7b0000-0000-4000-8000-000000000002", "name": "isolated-1",
     "displaytext": "an isolated network", "networkofferingid": "no-isolated",
     "zoneid": ZONES[1]["id"], "type": "Isolated", "state": "Implemented",
     "cidr": "10.2.0.0/24"},
]
#: Commands answered with a job.
ASYNC = frozenset({
    "deployvirtualmachine", "startvirtualmachine", "stopvirtualmachine",
    "rebootvirtualmachine", "destroyvirtualmachine", "createvolume", "attachvolume",
    "detachvolume", "createsnapshot", "deletesnapshot", "authorizesecuritygroupingress",
    "revokesecuritygroupingress", "associateipaddress", "disassociateipaddress",
    "createportforwardingrule", "deleteportforwardingrule",
})


class Refusal(Exception):
    """A CloudStack error answer, raised by a command's handler."""

    def __init__(self, errorcode: int, text: str, cserrorcode: int = 4350) -> None:
        super().__init__(text)
        self.errorcode = errorcode
        self.text = text
        self.cserrorcode = cserrorcode


def invalid(text: str) -> Refusal:
    """431: a parameter's value is wrong or names nothing."""
    return Refusal(431, text, 4350)


def no_entity(name: str, value: str) -> Refusal:
    """431 for an id that names nothing (CloudStack's wording)."""
    return invalid(f"Unable to execute API command due to invalid value. Invalid parameter "
                   f"{name} value={value} due to incorrect long value format, or entity does "
                   f"not exist or due to incorrect parameter annotation for the field in api "
                   f"cmd class.")


def stamp() -> str:
    """A time as CloudStack writes it (``2024-05-01T10:00:00+0000``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime())


@dataclass
class Job:
    """An async job: its command, how many polls it has seen, what it does when it ends."""

    jobid: str
    cmd: str
    instance_id: str | None
    apply: Callable[[], dict[str, Any]]
    looks: int = 0
    status: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    failure: tuple[int, str] | None = None


@dataclass
class Injected:
    """A failure armed for a command."""

    command: str
    status: int
    body: dict[str, Any]
    times: int = 1
    after: bool = False


class CloudStackServer(FakeAPI):
    """The CloudStack commands over one account's state."""

    def __init__(self, *, default_page_size: int = 500) -> None:
        super().__init__()
        self.default_page_size = default_page_size
        self.vms: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self.volumes: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.keypairs: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {
            "default": {"id": str(uuid.uuid4()), "name": "default",
                        "description": "Default Security Group", "ingressrule": [],
                        "egressrule": []}}
        self.addresses: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.injected: list[Injected] = []
        self.job_failures: dict[str, tuple[int, str]] = {}
        self.ip_numbers = itertools.count(10)
        #: The sshd ``AuthorizedKeysFile`` a VM's key pair is appended to when it starts.
        self.authorized_keys: Path | None = None
        self.route("GET", PATH)(self._handle)
        self.route("POST", PATH)(self._handle)

    # -- what tests arm ------------------------------------------------------------------

    def inject(self, command: str, errorcode: int = 530, text: str = "injected failure", *,
               status: int | None = None, times: int = 1, after: bool = False) -> None:
        """Make the next ``times`` calls of ``command`` fail with ``errorcode``
        (HTTP ``status``, default the same); ``after=True`` runs the command first."""
        body = {f"{command.lower()}response": {"uuidList": [], "errorcode": errorcode,
                                               "cserrorcode": 9999, "errortext": text}}
        self.injected.append(Injected(command.lower(), status or errorcode, body, times, after))

    def fail_next_job(self, command: str, errorcode: int = 530, text: str = "job failed") -> None:
        """The next job of ``command`` ends with ``jobstatus`` 2 and this error."""
        self.job_failures[command.lower()] = (errorcode, text)

    def seed_vm(self, name: str, zone: int = 0) -> dict[str, Any]:
        """A running VM made directly (no deploy, no job): for benchmarks and
        tests that need many."""
        size, image, place = SERVICE_OFFERINGS[0], TEMPLATES[0], ZONES[zone]
        vm = {"id": str(uuid.uuid4()), "name": name, "displayname": name, "state": "Starting",
              "zoneid": place["id"], "zonename": place["name"], "templateid": image["id"],
              "templatename": image["name"], "serviceofferingid": size["id"],
              "serviceofferingname": size["name"], "cpunumber": size["cpunumber"],
              "memory": size["memory"], "created": stamp(), "passwordenabled": False,
              "securitygroup": [], "nic": [], "tags": [], "hypervisor": "KVM",
              "account": "tester", "_networks": [], "_userdata": None}
        self.vms[vm["id"]] = vm
        self._boot(vm)
        return vm

    def commands(self, name: str) -> list[FakeRequest]:
        """The requests received for the command ``name``."""
        return [r for r in self.requests if (r.arg("command") or "").lower() == name.lower()]

    # -- plumbing ------------------------------------------------------------------------

    def _verify(self, req: FakeRequest) -> bool:
        params = [(k, v[0]) for k, v in req.query.items()]
        given = req.arg("signature")
        if req.arg("apiKey") != API_KEY or not given:
            return False
        expected = base64.b64encode(hmac.new(SECRET_KEY.encode(), canonical_string(params)
                                             .encode(), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(expected, given):
            return False
        expires = req.arg("expires")
        if req.arg("signatureVersion") == "3" and expires:
            moment = time.mktime(time.strptime(expires, "%Y-%m-%dT%H:%M:%S+0000")) - time.timezone
            return moment > time.time()
        return True

    @staticmethod
    def _error(command: str, errorcode: int, text: str, cserrorcode: int = 4350,
               status: int | None = None) -> FakeResponse:
        return FakeResponse.json({f"{command}response": {
            "uuidList": [], "errorcode": errorcode, "cserrorcode": cserrorcode,
            "errortext": text}}, status or errorcode)

    def _handle(self, req: FakeRequest) -> FakeResponse:
        if req.method == "POST" and req.body:  # parameters in a form body count as given
            for key, values in parse_qs(req.body.decode(), keep_blank_values=True).items():
                req.query.setdefault(key, values)
        command = (req.arg("command") or "").lower()
        if not self._verify(req):
            return self._error(command, 401, "unable to verify user credentials and/or "
                                             "request signature", 0)
        handler = getattr(self, f"_c_{command}", None)
        if handler is None:
            return self._error(command, 432, "The given command does not exist or it is not "
                                             "available for user", 9999)
        armed = next((f for f in self.injected if f.command == command and f.times > 0), None)
        if armed is not None:
            armed.times -= 1
            if not armed.after:
                return FakeResponse.json(armed.body, armed.status)
        try:
            body = handler(req)
        except Refusal as refused:
            return self._error(command, refused.errorcode, refused.text, refused.cserrorcode)
        if armed is not None:
            return FakeResponse.json(armed.body, armed.status)
        return FakeResponse.json({f"{command}response": body})

    def _job(self, command: str, instance_id: str | None,
             apply: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        job = Job(str(uuid.uuid4()), command, instance_id, apply,
                  failure=self.job_failures.pop(command, None))
        self.jobs[job.jobid] = job
        answer: dict[str, Any] = {"jobid": job.jobid}
        if instance_id is not None:
            answer["id"] = instance_id
        return answer

    def _page(self, req: FakeRequest, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        page = req.arg("page")
        size = req.arg("pagesize")
        try:
            number = int(page) if page else 1
            per = int(size) if size else self.default_page_size
        except ValueError as exc:
            raise invalid(f"Unable to execute API command due to invalid value: {exc}") from None
        if per > self.default_page_size:
            raise invalid(f"Page size can't exceed max allowed page size value: "
                          f"{self.default_page_size}")
        if number < 1 or per < 1:
            raise invalid("Page and pagesize must be positive numbers")  # unverified wording
        chunk = items[(number - 1) * per: number * per]
        return {"count": len(items), key: chunk} if chunk else {}

    @staticmethod
    def _need(req: FakeRequest, name: str) -> str:
        value = req.arg(name)
        if not value:
            raise invalid(f"Unable to execute API command due to missing parameter {name}")
        return value

    def _vm(self, req: FakeRequest, name: str = "id") -> dict[str, Any]:
        vm_id = self._need(req, name)
        vm = self.vms.get(vm_id)
        if vm is None or vm["state"] == "Expunging":
            raise no_entity(name, vm_id)
        return vm

    # -- zones, offerings, templates, networks ---------------------------------------------

    def _c_listzones(self, req: FakeRequest) -> dict[str, Any]:
        found = [z for z in ZONES if req.arg("id") in (None, z["id"])]
        return self._page(req, "zone", found)

    def _c_listserviceofferings(self, req: FakeRequest) -> dict[str, Any]:
        found = [s for s in SERVICE_OFFERINGS if req.arg("id") in (None, s["id"])]
        return self._page(req, "serviceoffering", found)

    def _c_listdiskofferings(self, req: FakeRequest) -> dict[str, Any]:
        return self._page(req, "diskoffering", DISK_OFFERINGS)

    def _c_listtemplates(self, req: FakeRequest) -> dict[str, Any]:
        kind = self._need(req, "templatefilter")
        if kind not in ("featured", "self", "selfexecutable", "sharedexecutable", "executable",
                        "community", "all"):
            raise invalid(f"templatefilter {kind} is not a valid filter")  # unverified wording
        found = [t for t in TEMPLATES if req.arg("id") in (None, t["id"])
                 and req.arg("zoneid") in (None, t["zoneid"])]
        return self._page(req, "template", found)

    def _c_listnetworks(self, req: FakeRequest) -> dict[str, Any]:
        found = [n for n in NETWORKS if req.arg("zoneid") in (None, n["zoneid"])]
        return self._page(req, "network", found)

    # -- virtual machines -------------------------------------------------------------------

    def _shown(self, vm: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in vm.items() if not k.startswith("_")}

    def _c_listvirtualmachines(self, req: FakeRequest) -> dict[str, Any]:
        found = [self._shown(vm) for vm in self.vms.values()
                 if req.arg("id") in (None, vm["id"]) and req.arg("name") in (None, vm["name"])
                 and req.arg("zoneid") in (None, vm["zoneid"])
                 and req.arg("state") in (None, vm["state"]) and vm["state"] != "Expunging"]
        return self._page(req, "virtualmachine", found)

    def _c_deployvirtualmachine(self, req: FakeRequest) -> dict[str, Any]:
        offering = self._need(req, "serviceofferingid")
        template = self._need(req, "templateid")
        zone = self._need(req, "zoneid")
        size = next((s for s in SERVICE_OFFERINGS if s["id"] == offering), None)
        image = next((t for t in TEMPLATES if t["id"] == template), None)
        place = next((z for z in ZONES if z["id"] == zone), None)
        if size is None:
            raise no_entity("serviceofferingid", offering)
        if image is None:
            raise no_entity("templateid", template)
        if place is None:
            raise no_entity("zoneid", zone)
        keypair = req.arg("keypair")
        if keypair is not None and keypair not in self.keypairs:
            raise invalid(f"A key pair with name '{keypair}' was not found.")
        groups = [g for g in (req.arg("securitygroupnames") or "").split(",") if g]
        for group in groups:
            if group not in self.groups:
                raise invalid(f"Unable to find group by name {group}")
        networks = [n for n in (req.arg("networkids") or "").split(",") if n]
        for network in networks:
            if not any(n["id"] == network for n in NETWORKS):
                raise no_entity("networkids", network)
        userdata = req.arg("userdata")
        if userdata is not None:
            try:
                base64.b64decode(userdata, validate=True)
            except ValueError:
                raise invalid("User data is not base64 encoded") from None  # unverified
        name = req.arg("name") or f"VM-{uuid.uuid4()}"
        vm_id = str(uuid.uuid4())
        start = (req.arg("startvm") or "true").lower() != "false"
        vm = {
            "id": vm_id, "name": name, "displayname": req.arg("displayname") or name,
            "state": "Starting" if start else "Stopped", "zoneid": place["id"],
            "zonename": place["name"], "templateid": image["id"],
            "templatename": image["name"], "serviceofferingid": size["id"],
            "serviceofferingname": size["name"], "cpunumber": size["cpunumber"],
            "memory": size["memory"], "created": stamp(), "passwordenabled": image[
                "passwordenabled"], "keypair": keypair,
            "securitygroup": [{"id": self.groups[g]["id"], "name": g} for g in groups],
            "nic": [], "tags": [], "hypervisor": "KVM", "account": "tester",
            "_networks": networks, "_userdata": userdata,
        }
        if keypair is None:
            del vm["keypair"]
        self.vms[vm_id] = vm

        def done() -> dict[str, Any]:
            if start:
                self._boot(vm)
            shown = self._shown(vm)
            if image["passwordenabled"]:
                shown["password"] = "Gen3rated-Pa55"
            return {"virtualmachine": shown}

        return self._job("deployvirtualmachine", vm_id, done)

    def _boot(self, vm: dict[str, Any]) -> None:
        vm["state"] = "Running"
        if not vm["nic"]:
            network = (vm["_networks"] or [NETWORKS[0]["id"]])[0]
            vm["nic"] = [{"id": str(uuid.uuid4()), "networkid": network, "isdefault": True,
                          "ipaddress": "127.0.0.1", "netmask": "255.0.0.0",
                          "gateway": "127.0.0.254", "type": "Shared"}]
        if self.authorized_keys is not None and vm.get("keypair") and not vm.get("_keyed"):
            key = self.keypairs.get(vm["keypair"])
            if key is not None and key.get("_public"):
                with open(self.authorized_keys, "a", encoding="utf-8") as f:
                    f.write(key["_public"].strip() + "\n")
            vm["_keyed"] = True

    def _power(self, req: FakeRequest, command: str, needs: str, then: str) -> dict[str, Any]:
        vm = self._vm(req)
        if vm["state"] != needs:
            raise Refusal(431, f"VM {vm['id']} is in state {vm['state']}, cannot {command}",
                          4350)  # unverified wording

        def done() -> dict[str, Any]:
            if then == "Running":
                self._boot(vm)
            else:
                vm["state"] = then
            return {"virtualmachine": self._shown(vm)}

        return self._job(command, vm["id"], done)

    def _c_startvirtualmachine(self, req: FakeRequest) -> dict[str, Any]:
        return self._power(req, "startvirtualmachine", "Stopped", "Running")

    def _c_stopvirtualmachine(self, req: FakeRequest) -> dict[str, Any]:
        return self._power(req, "stopvirtualmachine", "Running", "Stopped")

    def _c_rebootvirtualmachine(self, req: FakeRequest) -> dict[str, Any]:
        return self._power(req, "rebootvirtualmachine", "Running", "Running")

    def _c_destroyvirtualmachine(self, req: FakeRequest) -> dict[str, Any]:
        vm = self._vm(req)
        expunge = (req.arg("expunge") or "false").lower() == "true"

        def done() -> dict[str, Any]:
            vm["state"] = "Destroyed"
            shown = self._shown(vm)
            if expunge:
                del self.vms[vm["id"]]
                for volume in self.volumes.values():
                    if volume.get("virtualmachineid") == vm["id"]:
                        volume.pop("virtualmachineid")
            return {"virtualmachine": shown}

        return self._job("destroyvirtualmachine", vm["id"], done)

    # -- jobs -------------------------------------------------------------------------------

    def _c_queryasyncjobresult(self, req: FakeRequest) -> dict[str, Any]:
        jobid = self._need(req, "jobid")
        job = self.jobs.get(jobid)
        if job is None:
            raise no_entity("jobid", jobid)
        job.looks += 1
        if job.status == 0 and job.looks >= 2:
            if job.failure is not None:
                code, text = job.failure
                job.status, job.result = 2, {"errorcode": code, "errortext": text}
                if job.cmd == "deployvirtualmachine" and job.instance_id in self.vms:
                    self.vms[job.instance_id]["state"] = "Error"
            else:
                job.status, job.result = 1, job.apply()
        answer: dict[str, Any] = {"jobid": job.jobid, "cmd": job.cmd, "jobstatus": job.status,
                                  "jobprocstatus": 0, "created": stamp(),
                                  "jobresultcode": 530 if job.status == 2 else 0}
        if job.instance_id is not None:
            answer["jobinstanceid"] = job.instance_id
        if job.status:
            answer.update(jobresulttype="object", jobresult=job.result)
        return answer

    # -- volumes and snapshots --------------------------------------------------------------

    def _volume(self, req: FakeRequest, name: str = "id") -> dict[str, Any]:
        volume_id = self._need(req, name)
        volume = self.volumes.get(volume_id)
        if volume is None:
            raise no_entity(name, volume_id)
        return volume

    def _c_listvolumes(self, req: FakeRequest) -> dict[str, Any]:
        found = [v for v in self.volumes.values() if req.arg("id") in (None, v["id"])
                 and req.arg("virtualmachineid") in (None, v.get("virtualmachineid"))]
        return self._page(req, "volume", found)

    def _c_createvolume(self, req: FakeRequest) -> dict[str, Any]:
        snapshot = req.arg("snapshotid")
        offering_id = req.arg("diskofferingid")
        gib: int
        if snapshot is not None:
            if snapshot not in self.snapshots:
                raise no_entity("snapshotid", snapshot)
            gib = self.snapshots[snapshot]["_gib"]
        else:
            if offering_id is None:
                raise invalid("Either disk Offering Id or snapshot Id must be passed whilst "
                              "creating volume")
            offering = next((d for d in DISK_OFFERINGS if d["id"] == offering_id), None)
            if offering is None:
                raise no_entity("diskofferingid", offering_id)
            if offering["iscustomized"]:
                size = req.arg("size")
                if not size or not size.isdigit() or int(size) < 1:
                    raise invalid("This disk offering requires a custom size specified")
                gib = int(size)
            else:
                gib = offering["disksize"]
        zone = req.arg("zoneid") or ZONES[0]["id"]
        if not any(z["id"] == zone for z in ZONES):
            raise no_entity("zoneid", zone)
        volume_id = str(uuid.uuid4())
        volume = {"id": volume_id, "name": req.arg("name") or f"vol-{volume_id[:8]}",
                  "size": gib * 1024**3, "state": "Allocated", "type": "DATADISK",
                  "zoneid": zone, "created": stamp(), "diskofferingid": offering_id,
                  "_gib": gib}
        self.volumes[volume_id] = volume
        return self._job("createvolume", volume_id, lambda: {"volume": self._shown(volume)})

    def _c_attachvolume(self, req: FakeRequest) -> dict[str, Any]:
        volume = self._volume(req)
        vm = self._vm(req, "virtualmachineid")
        if volume.get("virtualmachineid"):
            raise invalid(f"Volume {volume['id']} is already attached")  # unverified wording

        def done() -> dict[str, Any]:
            volume.update(virtualmachineid=vm["id"], vmname=vm["name"], state="Ready",
                          deviceid=int(req.arg("deviceid") or 1))
            return {"volume": self._shown(volume)}

        return self._job("attachvolume", volume["id"], done)

    def _c_detachvolume(self, req: FakeRequest) -> dict[str, Any]:
        volume = self._volume(req)
        if not volume.get("virtualmachineid"):
            raise invalid("Please specify a volume that is attached to a VM.")

        def done() -> dict[str, Any]:
            for key in ("virtualmachineid", "vmname", "deviceid"):
                volume.pop(key, None)
            return {"volume": self._shown(volume)}

        return self._job("detachvolume", volume["id"], done)

    def _c_deletevolume(self, req: FakeRequest) -> dict[str, Any]:
        volume = self._volume(req)
        if volume.get("virtualmachineid"):
            raise Refusal(536, "Please specify a volume that is not attached to any VM.", 4535)
        del self.volumes[volume["id"]]
        return {"success": True}

    def _c_listsnapshots(self, req: FakeRequest) -> dict[str, Any]:
        found = [self._shown(s) for s in self.snapshots.values()
                 if req.arg("id") in (None, s["id"])
                 and req.arg("volumeid") in (None, s["volumeid"])]
        return self._page(req, "snapshot", found)

    def _c_createsnapshot(self, req: FakeRequest) -> dict[str, Any]:
        volume = self._volume(req, "volumeid")
        snap_id = str(uuid.uuid4())
        snapshot = {"id": snap_id, "name": req.arg("name") or f"{volume['name']}_{snap_id[:8]}",
                    "volumeid": volume["id"], "volumename": volume["name"],
                    "volumetype": volume["type"], "state": "BackedUp", "created": stamp(),
                    "snapshottype": "MANUAL", "intervaltype": "MANUAL",
                    "_gib": volume["_gib"]}

        def done() -> dict[str, Any]:
            self.snapshots[snap_id] = snapshot
            return {"snapshot": self._shown(snapshot)}

        return self._job("createsnapshot", snap_id, done)

    def _c_deletesnapshot(self, req: FakeRequest) -> dict[str, Any]:
        snap_id = self._need(req, "id")
        if snap_id not in self.snapshots:
            raise no_entity("id", snap_id)

        def done() -> dict[str, Any]:
            self.snapshots.pop(snap_id, None)
            return {"success": True}

        return self._job("deletesnapshot", None, done)

    # -- key pairs --------------------------------------------------------------------------

    def _c_listsshkeypairs(self, req: FakeRequest) -> dict[str, Any]:
        found = [self._shown(k) for k in self.keypairs.values()
                 if req.arg("name") in (None, k["name"])
                 and req.arg("fingerprint") in (None, k["fingerprint"])]
        return self._page(req, "sshkeypair", found)

    def _c_createsshkeypair(self, req: FakeRequest) -> dict[str, Any]:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        name = self._need(req, "name")
        if name in self.keypairs:
            raise invalid(f"A key pair with name '{name}' already exists.")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        entry = {"name": name, "fingerprint": fingerprint(public) or "", "account": "tester",
                 "_public": public}
        self.keypairs[name] = entry
        return {"keypair": {**self._shown(entry), "privatekey": private}}

    def _c_registersshkeypair(self, req: FakeRequest) -> dict[str, Any]:
        name = self._need(req, "name")
        public = self._need(req, "publickey")
        if name in self.keypairs:
            raise invalid(f"A key pair with name '{name}' already exists.")
        print_ = fingerprint(public)
        if print_ is None:
            raise invalid("Public key is invalid")
        if any(k["fingerprint"] == print_ for k in self.keypairs.values()):
            raise invalid(f"A key pair with key '{public}' already exists.")
        entry = {"name": name, "fingerprint": print_, "account": "tester", "_public": public}
        self.keypairs[name] = entry
        return {"keypair": self._shown(entry)}

    def _c_deletesshkeypair(self, req: FakeRequest) -> dict[str, Any]:
        name = self._need(req, "name")
        if self.keypairs.pop(name, None) is None:
            raise invalid(f"A key pair with name '{name}' does not exist for account tester "
                          f"in specified domain id")
        return {"success": "true"}

    # -- security groups --------------------------------------------------------------------

    def _c_listsecuritygroups(self, req: FakeRequest) -> dict[str, Any]:
        found = [g for g in self.groups.values()
                 if req.arg("securitygroupname") in (None, g["name"])
                 and req.arg("id") in (None, g["id"])]
        return self._page(req, "securitygroup", found)

    def _c_createsecuritygroup(self, req: FakeRequest) -> dict[str, Any]:
        name = self._need(req, "name")
        if name in self.groups:
            raise invalid(f"Unable to create security group, a group with name {name} "
                          f"already exists.")
        group = {"id": str(uuid.uuid4()), "name": name,
                 "description": req.arg("description") or "", "ingressrule": [],
                 "egressrule": [], "account": "tester"}
        self.groups[name] = group
        return {"securitygroup": group}

    def _c_deletesecuritygroup(self, req: FakeRequest) -> dict[str, Any]:
        name = req.arg("name")
        group = self.groups.get(name or "") if name else next(
            (g for g in self.groups.values() if g["id"] == req.arg("id")), None)
        if group is None:
            raise invalid(f"Unable to find group by name {name or req.arg('id')}")
        if any(group["name"] in [g["name"] for g in vm["securitygroup"]]
               for vm in self.vms.values() if vm["state"] != "Destroyed"):
            raise Refusal(536, "Cannot delete group when it's in use by virtual machines",
                          4535)
        del self.groups[group["name"]]
        return {"success": "true"}

    def _c_authorizesecuritygroupingress(self, req: FakeRequest) -> dict[str, Any]:
        name = req.arg("securitygroupname")
        group = self.groups.get(name or "")
        if group is None:
            raise invalid(f"Unable to find group by name {name}")
        protocol = (req.arg("protocol") or "tcp").lower()
        if protocol not in ("tcp", "udp", "icmp", "all"):
            raise invalid(f"Invalid protocol {protocol}")  # unverified wording
        rule = {"ruleid": str(uuid.uuid4()), "protocol": protocol,
                "cidr": req.arg("cidrlist") or "0.0.0.0/0"}
        if protocol in ("tcp", "udp"):
            rule.update(startport=int(req.arg("startport") or 0),
                        endport=int(req.arg("endport") or req.arg("startport") or 0))
        if protocol == "icmp":
            rule.update(icmptype=int(req.arg("icmptype") or -1),
                        icmpcode=int(req.arg("icmpcode") or -1))

        def done() -> dict[str, Any]:
            group["ingressrule"].append(rule)
            return {"securitygroup": group}

        return self._job("authorizesecuritygroupingress", group["id"], done)

    def _c_revokesecuritygroupingress(self, req: FakeRequest) -> dict[str, Any]:
        rule_id = self._need(req, "id")
        owner = next((g for g in self.groups.values()
                      if any(r["ruleid"] == rule_id for r in g["ingressrule"])), None)
        if owner is None:
            raise no_entity("id", rule_id)

        def done() -> dict[str, Any]:
            owner["ingressrule"] = [r for r in owner["ingressrule"] if r["ruleid"] != rule_id]
            return {"success": True}

        return self._job("revokesecuritygroupingress", None, done)

    # -- public IPs and port forwarding -----------------------------------------------------

    def _c_listpublicipaddresses(self, req: FakeRequest) -> dict[str, Any]:
        found = [a for a in self.addresses.values() if req.arg("id") in (None, a["id"])]
        return self._page(req, "publicipaddress", found)

    def _c_associateipaddress(self, req: FakeRequest) -> dict[str, Any]:
        network = req.arg("networkid")
        zone = req.arg("zoneid")
        if network is None and zone is None and req.arg("vpcid") is None:
            raise invalid("Either networkId or zoneId or vpcId has to be specified")
        if network is not None and not any(n["id"] == network for n in NETWORKS):
            raise no_entity("networkid", network)
        ip_id = str(uuid.uuid4())
        address = {"id": ip_id, "ipaddress": f"198.51.100.{next(self.ip_numbers)}",
                   "allocated": stamp(), "zoneid": zone or ZONES[1]["id"],
                   "associatednetworkid": network, "vpcid": req.arg("vpcid"),
                   "issourcenat": False, "isstaticnat": False, "state": "Allocating"}

        def done() -> dict[str, Any]:
            address["state"] = "Allocated"
            self.addresses[ip_id] = address
            return {"ipaddress": address}

        return self._job("associateipaddress", ip_id, done)

    def _c_disassociateipaddress(self, req: FakeRequest) -> dict[str, Any]:
        ip_id = self._need(req, "id")
        if ip_id not in self.addresses:
            raise no_entity("id", ip_id)

        def done() -> dict[str, Any]:
            self.addresses.pop(ip_id, None)
            for rule_id in [r for r, v in self.rules.items() if v["ipaddressid"] == ip_id]:
                del self.rules[rule_id]
            return {"success": True}

        return self._job("disassociateipaddress", None, done)

    def _c_listportforwardingrules(self, req: FakeRequest) -> dict[str, Any]:
        found = [r for r in self.rules.values()
                 if req.arg("ipaddressid") in (None, r["ipaddressid"])
                 and req.arg("id") in (None, r["id"])]
        return self._page(req, "portforwardingrule", found)

    def _c_listipforwardingrules(self, req: FakeRequest) -> dict[str, Any]:
        return self._page(req, "ipforwardingrule", [])

    def _c_createportforwardingrule(self, req: FakeRequest) -> dict[str, Any]:
        ip_id = self._need(req, "ipaddressid")
        address = self.addresses.get(ip_id)
        if address is None:
            raise no_entity("ipaddressid", ip_id)
        vm = self._vm(req, "virtualmachineid")
        protocol = self._need(req, "protocol").lower()
        if protocol not in ("tcp", "udp"):
            raise invalid(f"Invalid protocol {protocol}")  # unverified wording
        public = int(self._need(req, "publicport"))
        for rule in self.rules.values():
            if rule["ipaddressid"] == ip_id and rule["protocol"] == protocol and \
                    int(rule["publicport"]) == public:
                raise Refusal(537, f"The range specified, {public}-{public}, conflicts with "
                                   f"rule {rule['id']} which has {public}-{public}", 4537)
        rule_id = str(uuid.uuid4())
        private = self._need(req, "privateport")
        rule = {"id": rule_id, "ipaddressid": ip_id, "ipaddress": address["ipaddress"],
                "protocol": protocol, "publicport": str(public),
                "publicendport": req.arg("publicendport") or str(public),
                "privateport": private, "privateendport": req.arg("privateendport") or private,
                "virtualmachineid": vm["id"], "virtualmachinename": vm["name"],
                "networkid": req.arg("networkid") or address["associatednetworkid"],
                "state": "Active", "cidrlist": ""}

        def done() -> dict[str, Any]:
            self.rules[rule_id] = rule
            return {"portforwardingrule": rule}

        return self._job("createportforwardingrule", rule_id, done)

    def _c_deleteportforwardingrule(self, req: FakeRequest) -> dict[str, Any]:
        rule_id = self._need(req, "id")
        if rule_id not in self.rules:
            raise no_entity("id", rule_id)

        def done() -> dict[str, Any]:
            self.rules.pop(rule_id, None)
            return {"success": True}

        return self._job("deleteportforwardingrule", None, done)


@contextmanager
def serve(**options: Any) -> Iterator[tuple[CloudStackServer, str]]:
    """A fresh server; yields it and the driver endpoint (``.../client/api``)."""
    server = CloudStackServer(**options)
    with server.serving() as base_url:
        yield server, base_url + PATH


_shared: tuple[CloudStackServer, str] | None = None


def shared_server(request: pytest.FixtureRequest) -> tuple[CloudStackServer, str]:
    """This test process's server, started on first use and stopped at session end."""
    global _shared
    if _shared is None:
        context = serve()
        _shared = context.__enter__()
        request.config.add_cleanup(lambda: context.__exit__(None, None, None))
    return _shared


def make_driver(endpoint: str, sent: list[object] | None = None,
                **options: Any) -> CloudStackNodeDriver:
    """The driver on ``endpoint``, with small pages and quick polls."""
    hooks = Hooks(on_request=[sent.append]) if sent is not None else Hooks()
    options.setdefault("page_size", 2)
    return CloudStackNodeDriver(API_KEY, SECRET_KEY, url=endpoint, poll_interval=0.01,
                                hooks=hooks, **options)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> ComputeTarget:
    """The CloudStack driver against this process's fixture server."""
    _, endpoint = shared_server(request)
    sent: list[object] = []
    return ComputeTarget(driver=make_driver(endpoint, sent), requests=sent, page_size=2,
                         wait_period=0.01)
