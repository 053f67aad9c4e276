"""Shared Key, SAS and connection strings, checked against values the Azure SDK
(azure-storage-blob 12.31, ``SharedKeyCredentialPolicy`` and
``BlobSharedAccessSignature``) computed for the same inputs, and against the
SDK itself when it is installed."""

from __future__ import annotations

import itertools
from calendar import timegm
from datetime import UTC
from datetime import datetime
from email.utils import parsedate
from urllib.parse import parse_qs

import pytest

from overcast.auth.azure_shared_key import DEVSTORE_ACCOUNT
from overcast.auth.azure_shared_key import DEVSTORE_BLOB_ENDPOINT
from overcast.auth.azure_shared_key import DEVSTORE_KEY
from overcast.auth.azure_shared_key import blob_sas
from overcast.auth.azure_shared_key import canonicalized_headers
from overcast.auth.azure_shared_key import canonicalized_resource
from overcast.auth.azure_shared_key import container_sas
from overcast.auth.azure_shared_key import header_order
from overcast.auth.azure_shared_key import parse_connection_string
from overcast.auth.azure_shared_key import sign_request
from overcast.auth.azure_shared_key import string_to_sign
from overcast.errors import InvalidInput
from overcast.runtime.effects import Request
from overcast.runtime.redact import Secret

KEY = Secret(DEVSTORE_KEY)
DATE = "Sun, 22 Nov 2026 00:00:00 GMT"
NOW = float(timegm(parsedate(DATE)))  # type: ignore[arg-type]


def authorization(request: Request, account: str = DEVSTORE_ACCOUNT) -> str:
    signed = sign_request(request, account, KEY, NOW)
    return str(signed.headers["Authorization"])


# -- Shared Key --------------------------------------------------------------------------


def test_put_block_with_metadata_matches_the_sdk() -> None:
    request = Request(
        "PUT",
        "http://127.0.0.1:10000/devstoreaccount1/photos/a%20b%2Bc.txt",
        {"Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==", "x-ms-meta-b": "2", "x-ms-meta-a_b": "1"},
        [("comp", "block"), ("blockid", "YWJj")],
        b"hello",
    )
    assert authorization(request) == (
        "SharedKey devstoreaccount1:45fBB6hjqYpDSQtRgGIz5lPIVeJdSeseuFtAOvXnvJ8="
    )


def test_list_containers_on_a_virtual_host_account_matches_the_sdk() -> None:
    request = Request(
        "GET", "https://myaccount.blob.core.windows.net/", params=[("comp", "list"),
                                                                   ("maxresults", "5000")]
    )
    assert authorization(request, "devstoreaccount1") == (
        "SharedKey devstoreaccount1:Ws/5wx5ibCg+laZd32vfcGJWZdz4vRt38k7iQB9dVL4="
    )


def test_head_with_a_range_header_matches_the_sdk() -> None:
    request = Request("HEAD", "https://myaccount.blob.core.windows.net/c/x",
                      {"x-ms-range": "bytes=0-9"})
    assert authorization(request) == (
        "SharedKey devstoreaccount1:pNx84CKvNIoKx4LfJwNfwEPg3n9GmQZQeibUKgK3sCc="
    )


def test_string_to_sign_layout() -> None:
    request = Request(
        "PUT",
        "http://h/acct/c/b",
        {"Content-Type": "text/plain", "x-ms-version": "2021-08-06", "x-ms-date": DATE,
         "X-MS-Meta-Zed": " z ", "If-Match": '"e"'},
        [("comp", "block"), ("BlockId", "a%2Fb")],
        b"12345",
    )
    assert string_to_sign(request, "acct") == (
        "PUT\n\n\n5\n\ntext/plain\n\n\n\"e\"\n\n\n\n"
        f"x-ms-date:{DATE}\nx-ms-meta-zed:z\nx-ms-version:2021-08-06\n"
        "/acct/acct/c/b\nblockid:a%2Fb\ncomp:block"
    )


def test_zero_content_length_is_signed_as_empty() -> None:
    empty = Request("PUT", "http://h/a/c", {"Content-Length": "0", "x-ms-date": DATE})
    none = Request("PUT", "http://h/a/c", {"x-ms-date": DATE})
    zero_body = Request("PUT", "http://h/a/c", {"x-ms-date": DATE}, body=b"")
    assert string_to_sign(empty, "a") == string_to_sign(none, "a") == string_to_sign(zero_body, "a")
    assert string_to_sign(none, "a").startswith("PUT\n\n\n\n")


def test_query_values_are_decoded_once_and_repeated_names_joined() -> None:
    url = "http://h/a/c?restype=container&comp=list&prefix=50%2525%20off&Include=metadata&include=snapshots"
    assert canonicalized_resource("a", url) == (
        "/a/a/c\ncomp:list\ninclude:metadata,snapshots\nprefix:50%25 off\nrestype:container"
    )


def test_header_order_follows_the_service_collation() -> None:
    names = ["x-ms-meta-ab", "x-ms-meta-a_b", "x-ms-meta-a1", "x-ms-meta-a", "x-ms-meta-b",
             "x-ms-date", "x-ms-version", "x-ms-meta-_x", "x-ms-blob-type",
             "x-ms-blob-content-md5", "x-ms-meta-a_", "x-ms-meta-a__b", "x-ms-meta-aa"]
    # The order the SDK's table-driven comparison (and Azurite's localeCompare) give.
    expected = ["x-ms-blob-content-md5", "x-ms-blob-type", "x-ms-date", "x-ms-meta-_x",
                "x-ms-meta-a", "x-ms-meta-a_", "x-ms-meta-a__b", "x-ms-meta-a_b",
                "x-ms-meta-a1", "x-ms-meta-aa", "x-ms-meta-ab", "x-ms-meta-b", "x-ms-version"]
    assert header_order(names) == expected
    assert header_order(reversed(names)) == expected
    assert canonicalized_headers({"X-Ms-B": "1", "x-ms-a": "2", "Other": "3"}) == (
        "x-ms-a:2\nx-ms-b:1\n"
    )


def test_signing_adds_date_and_version_and_keeps_a_given_version() -> None:
    signed = sign_request(Request("GET", "http://h/a/"), "a", KEY, NOW)
    assert signed.headers["x-ms-date"] == DATE
    assert signed.headers["x-ms-version"] == "2021-08-06"
    kept = sign_request(Request("GET", "http://h/a/", {"x-ms-version": "2020-10-02"}), "a",
                        KEY, NOW)
    assert kept.headers["x-ms-version"] == "2020-10-02"
    assert DEVSTORE_KEY not in repr(signed) and DEVSTORE_KEY not in str(signed.headers)


def test_a_key_that_is_not_base64_is_invalid_input_without_the_key() -> None:
    with pytest.raises(InvalidInput) as info:
        sign_request(Request("GET", "http://h/a/"), "a", Secret("not*base64!"), NOW)
    assert "not*base64!" not in str(info.value)


# -- SAS ---------------------------------------------------------------------------------


def test_blob_sas_matches_the_sdk() -> None:
    token = blob_sas(
        DEVSTORE_ACCOUNT, KEY, "photos", "dir/résumé 1.txt", permission="r",
        start=datetime(2026, 11, 22, tzinfo=UTC), expiry=datetime(2026, 11, 23, tzinfo=UTC),
        protocol="https,http",
    )
    fields = {k: v[0] for k, v in parse_qs(token).items()}
    assert fields == {
        "sv": "2021-08-06", "sr": "b", "sp": "r", "st": "2026-11-22T00:00:00Z",
        "se": "2026-11-23T00:00:00Z", "spr": "https,http",
        "sig": "Suu6kESQ5k5j0rbukVs1y2iCsc2AHFCCPmR2RjZT2Ks=",
    }


def test_container_sas_matches_the_sdk() -> None:
    token = container_sas(
        DEVSTORE_ACCOUNT, KEY, "photos", permission="rl",
        expiry=datetime(2026, 11, 23, tzinfo=UTC).timestamp(), protocol="https",
    )
    fields = {k: v[0] for k, v in parse_qs(token).items()}
    assert fields["sr"] == "c" and "st" not in fields
    assert fields["sig"] == "xFdFtWwJfAAMYXcWsApmfy5uEsHlQpY1V883ShlDn3I="
    assert "%2B" in token or "+" not in token  # the signature is URL-encoded


def test_old_sas_versions_are_refused() -> None:
    with pytest.raises(InvalidInput):
        blob_sas("a", KEY, "c", "b", permission="r", expiry=0.0, version="2019-12-12")


# -- connection strings --------------------------------------------------------------------


def test_development_storage() -> None:
    settings = parse_connection_string("UseDevelopmentStorage=true")
    assert settings.account_name == DEVSTORE_ACCOUNT
    assert settings.account_key == Secret(DEVSTORE_KEY)
    assert settings.blob_endpoint == DEVSTORE_BLOB_ENDPOINT
    assert DEVSTORE_KEY not in repr(settings)


def test_account_string_with_suffix_and_protocol() -> None:
    settings = parse_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=acme;AccountKey=a2V5;"
        "EndpointSuffix=core.chinacloudapi.cn"
    )
    assert settings.blob_endpoint == "http://acme.blob.core.chinacloudapi.cn"
    assert settings.account_key is not None and settings.account_key.reveal() == "a2V5"


def test_explicit_blob_endpoint_and_sas() -> None:
    settings = parse_connection_string(
        "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1/;SharedAccessSignature=?sv=x&sig=y"
    )
    assert settings.blob_endpoint == "http://127.0.0.1:1/devstoreaccount1"
    assert settings.account_name is None and settings.account_key is None
    assert settings.sas_token is not None and settings.sas_token.reveal() == "sv=x&sig=y"


@pytest.mark.parametrize("bad", ["garbage", "AccountKey=abc", "DefaultEndpointsProtocol=ftp;"
                                 "AccountName=a"])
def test_bad_connection_strings(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_connection_string(bad)
    assert "abc" not in str(info.value)


# -- against the SDK itself, where it is installed --------------------------------------------


def test_random_requests_match_the_sdk() -> None:
    pytest.importorskip("azure.storage.blob")
    from azure.core.pipeline import PipelineContext
    from azure.core.pipeline import PipelineRequest
    from azure.core.pipeline.transport import HttpRequest
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

    policy = SharedKeyCredentialPolicy(DEVSTORE_ACCOUNT, DEVSTORE_KEY)
    paths = ["/devstoreaccount1/c", "/devstoreaccount1/c/d%C3%A9j%C3%A0/x%20y", "/"]
    headers = [
        {},
        {"x-ms-meta-k1": "v", "x-ms-blob-type": "BlockBlob", "Content-Type": "a/b"},
        {"x-ms-copy-source": "http://h/a/c/b", "If-None-Match": "*"},
    ]
    queries = [[], [("restype", "container"), ("comp", "list"), ("prefix", "a b/")]]
    for method, path, extra, query, body in itertools.product(
        ("GET", "PUT", "DELETE"), paths, headers, queries, (None, b"abc")
    ):
        ours = sign_request(Request(method, f"http://127.0.0.1:1{path}", extra, query, body),
                            DEVSTORE_ACCOUNT, KEY, NOW)
        sdk_headers = {k: v for k, v in ours.headers.items() if k != "Authorization"}
        if body:
            sdk_headers["Content-Length"] = str(len(body))
        theirs = HttpRequest(method, ours.full_url, headers=sdk_headers)
        policy.on_request(PipelineRequest(theirs, PipelineContext(None)))
        assert ours.headers["Authorization"] == theirs.headers["Authorization"], (method, path)
