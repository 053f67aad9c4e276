"""Copying an object from one storage driver to another (S3 to Azure, Swift to
GCS, a local directory to any of them), streamed, with no temporary file.

``copy`` is one operation with both faces: ``copy(...)`` in sync code and
``await copy.run_async(...)`` (or ``copy_async(...)``) in async code. The
download runs on the source driver's runner and the upload on the target's
(each with its own credentials, pools and retries), sharing one deadline.
"""

from __future__ import annotations

import contextlib
from typing import Any

from overcast.errors import InvalidInput
from overcast.runtime.effects import Delegate
from overcast.runtime.effects import Op
from overcast.runtime.operation import standalone
from overcast.storage.base import Container
from overcast.storage.base import Object
from overcast.storage.base import Progress
from overcast.storage.base import StorageDriver
from overcast.storage.checks import ProgressReport

__all__ = ["copy", "copy_async"]


def _drivers(
    source: Any, target_container: Any, name: str | None
) -> tuple[StorageDriver, StorageDriver, str]:
    """The source and target drivers and the target name, checked before any request."""
    if not isinstance(source, Object) or source.driver is None:
        raise InvalidInput("copy needs an Object bound to its driver (get_object or a listing)")
    if not isinstance(target_container, Container) or target_container.driver is None:
        raise InvalidInput("copy needs a target Container bound to its driver")
    target = target_container.driver
    target._check_container(target_container.name)
    return source.driver, target, target._check_object(name or source.name)


def _copy(source: Object, target_container: Container, name: str | None = None, *,
          progress: Progress | None = None) -> Op[Object]:
    """Stream an object from one driver to another (S3 to Azure, Swift to GCS, ...).

    No temporary file: chunks flow from the source's download into the target's
    upload, which goes up in parts, so memory stays near the target's
    ``concurrency * part_size``. Content type and user metadata come along; the
    source's full read is checked against its size and hash on the way.
    ``progress(bytes_done, total)`` reports the bytes read.
    """
    src, dst, target_name = _drivers(source, target_container, name)
    body = yield Delegate(src, src.download_object_as_stream.op(source))
    if progress is not None:
        body.observe(ProgressReport(progress, source.size))
    upload = dst.upload_object_via_stream.op(
        body, target_container, target_name,
        content_type=source.content_type, meta_data=source.meta_data,
    )
    try:
        copied: Object = yield Delegate(dst, upload)
    except BaseException:
        # An upload refused before it read the body leaves the download's
        # connection open: release it (a body read to its end is closed already).
        with contextlib.suppress(Exception):
            body.close()
        raise
    return copied


#: ``copy(source, target_container, name=None, *, progress=None)``: stream
#: ``source`` (an :class:`~overcast.storage.base.Object` bound to its driver)
#: into ``target_container`` (a :class:`~overcast.storage.base.Container` of any
#: driver) as ``name`` (default: the source's name); the new object. In async
#: code, ``await copy.run_async(...)``.
copy = standalone(_copy)
copy_async = copy.run_async
