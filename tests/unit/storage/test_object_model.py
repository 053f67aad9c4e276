"""The listing constructor of ``Object`` builds what ``Object(...)`` builds."""

from __future__ import annotations

import dataclasses
from datetime import UTC
from datetime import datetime

import pytest

from overcast.storage import Provider
from overcast.storage import get_driver
from overcast.storage.base import Container
from overcast.storage.base import Object

WHEN = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("hash", ["0123456789abcdef0123456789ABCDEF", "0123-2", "W/x", None])
@pytest.mark.parametrize("last_modified", [WHEN, None])
def test_a_listed_object_has_every_field_the_constructor_gives(
    hash: str | None, last_modified: datetime | None
) -> None:
    driver = get_driver(Provider.S3)("AKIDUNIT", "unit-secret", endpoint="http://s3.test")
    container = Container(name="bucket", driver=driver)
    extra = {"etag": f'"{hash}"'}
    listed = Object._listed("dir/key", 42, hash, extra, container, driver, last_modified)
    built = Object("dir/key", 42, hash, extra, {}, container, driver,
                   last_modified=last_modified)
    # Every field, so that a field added to Object must be added to _listed too.
    for field in dataclasses.fields(Object):
        assert getattr(listed, field.name) == getattr(built, field.name), field.name
    assert listed.meta_data is not built.meta_data  # each object its own dict
    assert type(listed) is Object
