"""Where a catalogue comes from: an S3 object under CATALOG_URI_PREFIX, or an https URL.

S3 is read with boto3 and the pod's IRSA role (read-only on the catalogue prefix); https with
httpx, following redirects only to https. Plain http and every other scheme are refused, and
every download is capped at MAX_CATALOG_BYTES.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from rag_service.errors import BadRequest, PayloadTooLarge, SourceForbidden, SourceNotFound, UpstreamError


class S3Client(Protocol):
    """The part of boto3's S3 client that read_s3 uses."""

    def get_object(self, *, Bucket: str, Key: str) -> Mapping[str, Any]: ...


S3ClientFactory = Callable[[], S3Client]


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket or not key or key.endswith("/"):
        raise BadRequest(f"{uri!r} does not name an S3 object: expected s3://bucket/path/file.csv")
    return bucket, key


def check_s3_allowed(uri: str, prefix: str | None) -> tuple[str, str]:
    bucket, key = split_s3_uri(uri)
    if ".." in key.split("/"):
        raise SourceForbidden(f"{uri!r}: '..' is not allowed in a catalogue key")
    if prefix is not None and not uri.startswith(prefix):
        raise SourceForbidden(
            f"{uri} is outside the catalogue prefix {prefix}: this service may only read catalogues under it"
        )
    return bucket, key


def read_s3(uri: str, prefix: str | None, max_bytes: int, client_factory: S3ClientFactory | None = None) -> bytes:
    bucket, key = check_s3_allowed(uri, prefix)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = (client_factory or (lambda: boto3.client("s3")))()
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        length = response.get("ContentLength") or 0
        if length > max_bytes:
            response["Body"].close()
            raise PayloadTooLarge(f"{uri} is {length} bytes; the limit is {max_bytes} (MAX_CATALOG_BYTES)")
        data = response["Body"].read(max_bytes + 1)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            raise SourceNotFound(f"{uri} does not exist ({code})") from None
        if code in ("AccessDenied", "403"):
            raise SourceForbidden(f"S3 denied reading {uri} (AccessDenied)") from None
        raise UpstreamError(f"S3 refused reading {uri}: {code}") from None
    except BotoCoreError as error:
        raise UpstreamError(f"could not read {uri} from S3: {type(error).__name__}") from None
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{uri} is larger than {max_bytes} bytes (MAX_CATALOG_BYTES)")
    return data


def check_https(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise SourceForbidden(f"{url!r} is refused: catalogues are read from s3:// URIs or https:// URLs only")


def fetch_https(url: str, max_bytes: int, timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> bytes:
    check_https(url)

    def each_request(request: httpx.Request) -> None:  # redirects too
        if request.url.scheme != "https":
            raise SourceForbidden(f"{url} redirected to {request.url.scheme}://, which is refused: https only")

    try:
        with httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            max_redirects=5,
            transport=transport,
            event_hooks={"request": [each_request]},
        ) as client:
            with client.stream("GET", url) as response:
                if response.status_code == 404:
                    raise SourceNotFound(f"{url} answered 404")
                if response.status_code >= 400:
                    raise UpstreamError(f"{url} answered {response.status_code}")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(f"{url} is larger than {max_bytes} bytes (MAX_CATALOG_BYTES)")
                    chunks.append(chunk)
                return b"".join(chunks)
    except httpx.TooManyRedirects:
        raise UpstreamError(f"{url} redirected too often") from None
    except httpx.TimeoutException:
        raise UpstreamError(f"{url} did not answer within {timeout:g} s") from None
    except httpx.HTTPError as error:
        raise UpstreamError(f"could not fetch {url}: {type(error).__name__}") from None
