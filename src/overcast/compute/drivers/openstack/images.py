"""Glance images: listing, lookup, delete, and images made from a server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from overcast.compute.drivers.openstack.api import TOKEN_KEY
from overcast.compute.drivers.openstack.api import OpenStackApi
from overcast.compute.models import Node
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.errors import ImageNotFound
from overcast.errors import NodeNotFound
from overcast.errors import ProviderError
from overcast.runtime.api import decode_json
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import find_first

__all__ = ["OpenStackImages"]


class OpenStackImages(OpenStackApi):
    """Images (Glance v2)."""

    def _to_image(self, data: Mapping[str, Any]) -> NodeImage:
        extra = {k: v for k, v in data.items() if k not in ("id", "name")}
        return NodeImage(
            id=str(data["id"]), name=str(data.get("name") or ""), driver=self, extra=extra
        )

    @iterator
    def iterate_images(self, location: NodeLocation | None = None) -> Iter[NodeImage]:
        """Iterate over the images Glance shows the project (``GET /v2/images``);
        ``location`` does not filter (images are regional, not per zone)."""
        yield from self._pages("image:/v2/images", "images", self._to_image, links=None)

    def _image_path(self, image_id: str) -> str:
        return f"image:/v2/images/{quote(image_id, safe='')}"

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """Get an image by id (``GET /v2/images/{id}``)."""
        checked = self._check_id(image_id, "image_id")
        data = yield from self._json("GET", self._image_path(checked), what=checked,
                                     missing=ImageNotFound)
        return self._to_image(data)

    @operation
    def create_image(self, node: Node, name: str, description: str | None = None, *,
                     ex_metadata: Mapping[str, str] | None = None) -> Op[NodeImage]:
        """Snapshot a server into a Glance image (``createImage`` action); the
        image starts ``queued`` and becomes ``active`` when the upload ends."""
        node_id = self._expect(node, Node, "node").id
        self._check_name(name, "image")
        metadata = {str(k): str(v) for k, v in (ex_metadata or {}).items()}
        if description is not None:
            metadata["description"] = str(description)
        path = f"compute:/servers/{quote(node_id, safe='')}/action"

        def send(token: str) -> Op[NodeImage]:
            body = {"createImage": {"name": name, "metadata": {**metadata, TOKEN_KEY: token}}}
            resp = yield from self._send("POST", path, json=body, what=node_id,
                                         missing=NodeNotFound)
            # Since microversion 2.45 the id is in the body; before, in Location.
            answer = yield from decode_json(resp, driver=self)
            image_id = (answer or {}).get("image_id")
            if not image_id and resp.headers.get("Location"):
                image_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            if not image_id:
                raise ProviderError("Nova did not say which image createImage made",
                                    status=resp.status, driver=self)
            try:
                return (yield from self.get_image.op(str(image_id)))
            except ImageNotFound:
                return NodeImage(id=str(image_id), name=name, driver=self,
                                 extra={"status": "queued"})

        def find(token: str) -> Op[NodeImage | None]:
            images = self._pages("image:/v2/images", "images", lambda item: item, links=None,
                                 params=[("name", name)])
            found = yield from find_first(images, lambda i: i.get(TOKEN_KEY) == token)
            return None if found is None else self._to_image(found)

        return (yield from self._create(send, find))

    @operation
    def delete_image(self, node_image: NodeImage) -> Op[bool]:
        """Delete an image (``DELETE /v2/images/{id}``)."""
        image_id = self._expect(node_image, NodeImage, "node_image").id
        return (yield from self._delete(self._image_path(image_id), image_id, ImageNotFound))
