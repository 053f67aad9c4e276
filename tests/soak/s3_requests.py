"""S3 as the storage soaks see it: what a request is, as the fault proxy sees it
(method and request target), and what the server holds, asked directly with
boto3 (not through overcast, nor through the proxy).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import boto3

from servers.seaweedfs import SeaweedServer

__all__ = [
    "STREAMED_PREFIX",
    "open_uploads",
    "s3_action",
    "stored_keys",
]

#: Objects under this prefix are larger than the driver's whole-read limit
#: (1 MiB): their downloads come as streams.
STREAMED_PREFIX = "large/"


def s3_action(method: str, target: str) -> str:
    """The S3 action of a path-style request: ``CreateMultipartUpload``,
    ``UploadPart``, ``CompleteMultipartUpload``, ``AbortMultipartUpload``,
    ``CreateBucket``, ``GetObject``, ... (``Other`` for the rest)."""
    path, _, query = target.partition("?")
    names = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    in_bucket = path.strip("/").count("/") == 0
    if path == "/":
        return "ListBuckets" if method == "GET" else "Other"
    if method == "POST" and "uploads" in names:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in names:
        return "CompleteMultipartUpload"
    if method == "PUT" and "uploadId" in names:
        return "UploadPart"
    if method == "DELETE" and "uploadId" in names:
        return "AbortMultipartUpload"
    if method == "PUT" and in_bucket:
        return "CreateBucket"
    if method == "GET" and in_bucket:
        return "ListObjects"
    if method in ("GET", "PUT", "HEAD", "DELETE"):
        return {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject",
                "DELETE": "DeleteObject"}[method]
    return "Other"


def _client(server: SeaweedServer) -> Any:
    return boto3.client(
        "s3", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
    )


def open_uploads(server: SeaweedServer, bucket: str) -> list[str]:
    """The keys of the multipart uploads open in ``bucket``."""
    answer = _client(server).list_multipart_uploads(Bucket=bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def stored_keys(server: SeaweedServer, bucket: str) -> list[str]:
    """Every key in ``bucket`` (boto3's own paging)."""
    pages = _client(server).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]
