"""EC2 images (AMIs): listing, lookup, create from an instance, copy, deregister."""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Final
from xml.etree.ElementTree import Element

from overcast.compute.drivers.ec2.api import TOKEN_TAG
from overcast.compute.drivers.ec2.api import EC2Api
from overcast.compute.drivers.ec2.api import Params
from overcast.compute.drivers.ec2.api import boolean
from overcast.compute.drivers.ec2.api import filters
from overcast.compute.drivers.ec2.api import integer
from overcast.compute.drivers.ec2.api import items
from overcast.compute.drivers.ec2.api import numbered
from overcast.compute.drivers.ec2.api import tag_spec
from overcast.compute.drivers.ec2.api import tags
from overcast.compute.drivers.ec2.api import text
from overcast.compute.models import Node
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import operation
from overcast.runtime.ops import find_first

__all__ = ["EC2Images"]

_IMAGE_NAME: Final = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_]{3,128}\Z")


def _image_params(
    owners: Sequence[str] | None, wanted: Mapping[str, str | Sequence[str]] | None,
    image_ids: Sequence[str] | None = None, executable_by: str | None = None,
) -> Params:
    if isinstance(owners, str):
        owners = [owners]
    params = [*numbered("ImageId", image_ids or ()), *numbered("Owner", owners or ())]
    if executable_by is not None:
        params.append(("ExecutableBy.1", executable_by))
    return [*params, *filters(wanted)]


class EC2Images(EC2Api):
    """AMIs."""

    def _to_image(self, item: Element) -> NodeImage:
        image_id = text(item, "imageId") or ""
        tagged = tags(item)
        devices = [
            {
                "device_name": text(mapping, "deviceName"),
                "snapshot_id": text(mapping, "ebs", "snapshotId"),
                "volume_size": integer(text(mapping, "ebs", "volumeSize")),
                "volume_type": text(mapping, "ebs", "volumeType"),
            }
            for mapping in items(item, "blockDeviceMapping")
        ]
        extra: dict[str, Any] = {
            "description": text(item, "description"),
            "owner_id": text(item, "imageOwnerId"),
            "owner_alias": text(item, "imageOwnerAlias"),
            "state": text(item, "imageState"),
            "architecture": text(item, "architecture"),
            "platform": text(item, "platform") or text(item, "platformDetails"),
            "image_type": text(item, "imageType"),
            "image_location": text(item, "imageLocation"),
            "root_device_type": text(item, "rootDeviceType"),
            "root_device_name": text(item, "rootDeviceName"),
            "virtualization_type": text(item, "virtualizationType"),
            "hypervisor": text(item, "hypervisor"),
            "is_public": boolean(text(item, "isPublic")),
            "created": text(item, "creationDate"),
            "block_device_mapping": devices,
            "tags": tagged,
        }
        return NodeImage(image_id, text(item, "name") or tagged.get("Name") or image_id,
                         driver=self, extra=extra)

    def _images(self, params: Params) -> Iter[NodeImage]:
        # EC2 refuses MaxResults beside ImageId: a list of ids is one answer.
        paged = not any(name.startswith("ImageId.") for name, _ in params)
        return self._pages("DescribeImages", params, "imagesSet",
                           lambda item: [self._to_image(item)], paged=paged)

    @iterator
    def iterate_images(
        self,
        location: NodeLocation | None = None,
        *,
        ex_owners: Sequence[str] | None = None,
        ex_filters: Mapping[str, str | Sequence[str]] | None = None,
        ex_image_ids: Sequence[str] | None = None,
        ex_owner: str | None = None,
        ex_executableby: str | None = None,
    ) -> Iter[NodeImage]:
        """The AMIs of the region (``DescribeImages``, page by page).

        Without arguments this is every image the account may launch (on AWS,
        tens of thousands of public images): narrow it with ``ex_owners``
        (``["self"]``, ``["amazon"]``, account ids) and ``ex_filters``
        (``{"name": "ubuntu/*", "architecture": "x86_64"}``). ``location`` is
        ignored: images belong to a region, not a zone.

        Apache Libcloud's keywords work as there: ``ex_image_ids`` (these AMIs
        only), ``ex_owner`` (one owner, its spelling of ``ex_owners``) and
        ``ex_executableby`` (images an account may launch).
        """
        if ex_owner is not None:
            if ex_owners is not None:
                raise InvalidInput("give ex_owners or ex_owner, not both", driver=self)
            ex_owners = [ex_owner]
        yield from self._images(_image_params(ex_owners, ex_filters, ex_image_ids,
                                              ex_executableby))

    list_images = listing(iterate_images, "Every image iterate_images emits (same arguments).")

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """An AMI by id; :class:`~overcast.errors.ImageNotFound` if there is none."""
        return (yield from self._described(
            "DescribeImages", image_id, lambda item: [self._to_image(item)], ImageNotFound,
            id_param="ImageId", set_name="imagesSet",
        ))

    def _image_named(self, name: str) -> Op[NodeImage | None]:
        """The account's own image called ``name`` (image names are unique per
        account and region), or None."""
        return (yield from find_first(
            self._images(_image_params(["self"], {"name": name})), lambda i: i.name == name
        ))

    def _check_image_name(self, name: object) -> str:
        if not isinstance(name, str) or not _IMAGE_NAME.match(name):
            raise InvalidInput(
                "an image name is 3 to 128 letters, digits, spaces or ( ) [ ] . / - ' @ _: "
                f"{name!r}",
                driver=self,
            )
        return name

    def _image_request(self, name: str, description: str | None) -> Params:
        """``Name`` and ``Description`` of a new image, checked."""
        params: Params = [("Name", self._check_image_name(name))]
        if description is not None:
            params.append(
                ("Description", self._check_tag_value("description", description, empty=True))
            )
        return params

    @operation
    def create_image(self, node: Node, name: str, description: str | None = None, *,
                     ex_no_reboot: bool = False) -> Op[NodeImage]:
        """Make an AMI from a node (``CreateImage``); returned at once, usually
        still ``pending`` (``extra["state"]``). ``ex_no_reboot`` skips the
        reboot EC2 does for a consistent disk."""
        node_id = self._check_id(self._expect(node, Node, "node").id, NodeNotFound)
        params: Params = [("InstanceId", node_id), *self._image_request(name, description)]
        if ex_no_reboot:
            params.append(("NoReboot", "true"))

        def send(token: str) -> Op[NodeImage]:
            root = yield from self._query(
                "CreateImage", [*params, *tag_spec("image", {TOKEN_TAG: token})], what=node_id
            )
            return NodeImage(
                text(root, "imageId") or "", name, driver=self,
                extra={"description": description, "state": "pending",
                       "instance_id": node_id, "tags": {TOKEN_TAG: token}},
            )

        # Image names are unique per account and region: the name finds it.
        return (yield from self._create(send, lambda token: self._image_named(name)))

    @operation
    def delete_image(self, node_image: NodeImage) -> Op[bool]:
        """Deregister an AMI (``DeregisterImage``); its snapshots stay."""
        image = self._expect(node_image, NodeImage, "node_image")
        image_id = self._check_id(image.id, ImageNotFound)
        return (yield from self._remove(
            "DeregisterImage", [("ImageId", image_id)], image_id,
            lambda: self._exists(self.get_image.op(image_id), ImageNotFound),
        ))

    @operation
    def copy_image(self, source_region: str, node_image: NodeImage, name: str,
                   description: str | None = None) -> Op[NodeImage]:
        """Copy an AMI from ``source_region`` into the driver's region
        (``CopyImage``); returned at once, usually still ``pending``."""
        region = self._check_region(source_region)
        source_id = self._check_id(
            self._expect(node_image, NodeImage, "node_image").id, ImageNotFound
        )
        params: Params = [
            ("SourceRegion", region),
            ("SourceImageId", source_id),
            *self._image_request(name, description),
        ]

        def send(token: str) -> Op[NodeImage]:
            root = yield from self._query(
                "CopyImage", [*params, ("ClientToken", token)], what=source_id
            )
            return NodeImage(
                text(root, "imageId") or "", name, driver=self,
                extra={"description": description, "state": "pending",
                       "source_image_id": source_id, "source_region": region},
            )

        return (yield from self._create(send, lambda token: self._image_named(name)))
