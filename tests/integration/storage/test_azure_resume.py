"""``upload_object(resume=True)`` on Azure Blob Storage (Azurite, behind a proxy
that goes down after a number of *Put Block* requests): the failed upload's
blocks stay uncommitted, and the next resumable upload reads them (*Get Block
List*, uncommitted) and sends only the blocks whose id (the block's MD5 and
number) and size are not there; a block whose bytes changed is sent again;
``resume=False`` uploads as before."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from overcast.errors import OvercastError
from overcast.errors import ProviderError
from overcast.storage.drivers.azure_blobs import AzureBlobsStorageDriver
from overcast.storage.transfer import PartPlan
from servers.cutproxy import CutProxy
from servers.modes import MODES
from servers.modes import call
from servers.storage_azure import ACCOUNT
from servers.storage_azure import KEY
from servers.storage_azure import Azurite
from servers.storage_azure import azurite

pytestmark = pytest.mark.server

MiB = 1024 * 1024
PART = 1 * MiB
SIZE = 4 * PART + 12345  # five blocks
PLAN = PartPlan(threshold=PART, part_size=PART, concurrency=1)
PUT_BLOCK = "comp=block&"  # a Put Block's query (a Put Block List's is comp=blocklist)

Proxied = tuple[AzureBlobsStorageDriver, CutProxy, str, Azurite]


def _data(seed: bytes) -> bytes:
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
                    for i in range(SIZE // 32 + 1))[:SIZE]


def _block_ids(proxy: CutProxy) -> list[str]:
    """The block ids of the Put Block requests the proxy forwarded, in order."""
    return [parse_qs(urlsplit(target).query)["blockid"][0]
            for method, target in proxy.requests if method == "PUT" and PUT_BLOCK in target]


def _numbers(proxy: CutProxy) -> list[int]:
    """The block numbers (the last 7 digits of each id) of the Put Blocks forwarded."""
    return [int(base64.b64decode(block)[-7:]) for block in _block_ids(proxy)]


def _block_lists_read(proxy: CutProxy) -> int:
    return sum(1 for method, target in proxy.requests
               if method == "GET" and "comp=blocklist" in target)


@pytest.fixture
def proxied(request: pytest.FixtureRequest) -> Iterator[Proxied]:
    server = azurite(request)
    with CutProxy(f"http://127.0.0.1:{server.port}") as proxy:
        driver = AzureBlobsStorageDriver(ACCOUNT, KEY, endpoint=f"{proxy.url}/{ACCOUNT}",
                                         part_plan=PLAN)
        container = f"resume-{uuid.uuid4().hex[:12]}"
        driver.create_container(container)
        with driver:
            yield driver, proxy, container, server


def _interrupted(mode: str, driver: AzureBlobsStorageDriver, proxy: CutProxy, container: str,
                 source: Path, *, resume: bool = True) -> None:
    cuts = proxy.cuts
    proxy.down_after_puts(2, PUT_BLOCK)  # two blocks are staged, the third fails
    with pytest.raises(OvercastError):
        call(mode, driver, "upload_object", str(source), container, "big.bin", resume=resume)
    assert proxy.cuts == cuts + 1
    proxy.restore()
    proxy.reset_counts()


def _uncommitted(server: Azurite, container: str) -> list[str]:
    """The blob's uncommitted block ids, as azure-storage-blob reads them."""
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(server.connection_string)
    _committed, uncommitted = client.get_blob_client(container, "big.bin").get_block_list(
        "uncommitted")
    return [block.id for block in uncommitted]


@pytest.mark.parametrize("mode", MODES)
def test_an_interrupted_upload_sends_only_the_missing_blocks(
        proxied: Proxied, tmp_path: Path, mode: str) -> None:
    driver, proxy, container, server = proxied
    source = tmp_path / "big.bin"
    data = _data(b"one")
    source.write_bytes(data)
    _interrupted(mode, driver, proxy, container, source)
    assert len(_uncommitted(server, container)) == 2  # left uncommitted, not removed
    obj = call(mode, driver, "upload_object", str(source), container, "big.bin", resume=True)
    assert obj.size == SIZE and obj.content_md5 == hashlib.md5(data).hexdigest()
    assert _block_lists_read(proxy) == 1
    assert _numbers(proxy) == [3, 4, 5]  # blocks 1 and 2 were reused
    assert proxy.put_bytes - SIZE + 2 * PART < 2000  # the three blocks and the block list
    assert call(mode, driver, "download_object_as_stream", obj) == data
    got = call(mode, driver, "get_object", container, "big.bin")
    assert got.content_md5 == hashlib.md5(data).hexdigest() and got.size == SIZE
    # committed: nothing is left uncommitted, so the next upload sends every block
    proxy.reset_counts()
    call(mode, driver, "upload_object", str(source), container, "big.bin", resume=True)
    assert _numbers(proxy) == [1, 2, 3, 4, 5]


def test_blocks_of_other_bytes_are_sent_again(proxied: Proxied, tmp_path: Path) -> None:
    driver, proxy, container, _server = proxied
    source = tmp_path / "big.bin"
    source.write_bytes(_data(b"one"))
    _interrupted("sync", driver, proxy, container, source)
    changed = bytearray(_data(b"one"))
    changed[PART + 7] ^= 0xFF  # block 2 differs, block 1 does not
    source.write_bytes(bytes(changed))
    obj = driver.upload_object(str(source), container, "big.bin", resume=True)
    assert _numbers(proxy) == [2, 3, 4, 5]
    assert b"".join(driver.download_object_as_stream(obj)) == bytes(changed)
    assert obj.content_md5 == hashlib.md5(changed).hexdigest()


def test_a_block_id_proves_the_block_md5(proxied: Proxied, tmp_path: Path) -> None:
    """The ids of a resumable upload are the block's MD5 and number, as long as
    the random ids of a plain upload (Azure requires one length per blob)."""
    driver, proxy, container, _server = proxied
    source = tmp_path / "big.bin"
    data = _data(b"one")
    source.write_bytes(data)
    driver.upload_object(str(source), container, "big.bin", resume=True)
    resumable = _block_ids(proxy)
    proxy.reset_counts()
    driver.upload_object(str(source), container, "big.bin")
    plain = _block_ids(proxy)
    assert {len(block) for block in resumable + plain} == {32}
    for number, block in enumerate(resumable, 1):
        part = data[(number - 1) * PART:number * PART]
        assert base64.b64decode(block) == hashlib.md5(part).digest() + f"-{number:07d}".encode()
    assert len(set(plain)) == 5 and not set(plain) & set(resumable)


def test_without_resume_uploads_go_as_before(proxied: Proxied, tmp_path: Path) -> None:
    """A failed plain upload's blocks (random ids) are never reused, nor are a
    resumable upload's by a plain one; both kinds share a blob's block list."""
    driver, proxy, container, server = proxied
    source = tmp_path / "big.bin"
    data = _data(b"one")
    source.write_bytes(data)
    _interrupted("sync", driver, proxy, container, source, resume=False)
    assert len(_uncommitted(server, container)) == 2
    with pytest.raises(OvercastError):  # nothing was committed
        driver.get_object(container, "big.bin")
    obj = driver.upload_object(str(source), container, "big.bin", resume=True)
    assert _numbers(proxy) == [1, 2, 3, 4, 5]  # the random ids prove nothing
    assert b"".join(driver.download_object_as_stream(obj)) == data

    _interrupted("sync", driver, proxy, container, source)
    obj = driver.upload_object(str(source), container, "big.bin")
    assert _numbers(proxy) == [1, 2, 3, 4, 5]
    assert _block_lists_read(proxy) == 0
    assert b"".join(driver.download_object_as_stream(obj)) == data


def test_blocks_staged_by_another_client_stop_a_resumed_upload_first(
        proxied: Proxied, tmp_path: Path) -> None:
    """Uncommitted blocks whose ids have another length would make every Put
    Block fail: the resumed upload says so before sending one."""
    from azure.storage.blob import BlobServiceClient

    driver, proxy, container, server = proxied
    client = BlobServiceClient.from_connection_string(server.connection_string)
    client.get_blob_client(container, "big.bin").stage_block("another-tool-0001", b"x" * 10)
    source = tmp_path / "big.bin"
    source.write_bytes(_data(b"one"))
    proxy.reset_counts()
    with pytest.raises(ProviderError, match="another client") as info:
        driver.upload_object(str(source), container, "big.bin", resume=True)
    assert info.value.code == "InvalidBlobOrBlock"
    assert [m for m, _ in proxy.requests] == ["GET"]


def test_a_small_file_is_one_put_blob_and_reads_no_block_list(
        proxied: Proxied, tmp_path: Path) -> None:
    driver, proxy, container, _server = proxied
    source = tmp_path / "small.bin"
    source.write_bytes(b"small" * 100)
    proxy.reset_counts()
    obj = driver.upload_object(str(source), container, "small.bin", resume=True)
    assert [m for m, _ in proxy.requests] == ["PUT"] and obj.size == 500
