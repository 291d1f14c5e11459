"""One small interface over the two places the run reads and writes: S3 and the local disk.

`location(uri)` gives an `S3Location` for `s3://bucket/key` and a `LocalLocation` for a path.
A location names an object (file) or, with `child()`, things under a prefix (folder). S3
credentials, region and endpoint come from the usual AWS variables (IRSA in the cluster;
`AWS_ENDPOINT_URL` points boto3 at another S3, e.g. a test server).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from finetune.errors import NotFound, StorageError

__all__ = ["LocalLocation", "Location", "NotFound", "S3Location", "StorageError", "location"]


class Location(Protocol):
    """What `LocalLocation` and `S3Location` both offer: the interface the run and the checkpoints use."""

    @property
    def uri(self) -> str: ...

    def child(self, *names: str) -> Location: ...

    def exists(self) -> bool: ...

    def read_bytes(self) -> bytes: ...

    def write_bytes(self, data: bytes) -> None: ...

    def upload_file(self, source: Path) -> None: ...

    def download_file(self, target: Path) -> None: ...

    def list_folders(self) -> list[str]: ...

    def delete(self) -> None: ...

    def delete_folder(self) -> None: ...


class LocalLocation:
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    @property
    def uri(self) -> str:
        return str(self.path)

    def child(self, *names: str) -> LocalLocation:
        return LocalLocation(self.path.joinpath(*names))

    def exists(self) -> bool:
        return self.path.is_file()

    def read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{self.uri}: no such file") from None
        except OSError as error:
            raise StorageError(f"{self.uri}: {error.strerror or error}") from None

    def write_bytes(self, data: bytes) -> None:
        self._atomic(lambda tmp: Path(tmp).write_bytes(data))

    def upload_file(self, source: Path) -> None:
        self._atomic(lambda tmp: shutil.copyfile(source, tmp))

    def download_file(self, target: Path) -> None:
        if not self.path.is_file():
            raise NotFound(f"{self.uri}: no such file")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, target)

    def list_folders(self) -> list[str]:
        """Names of the sub-folders directly under this folder."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.is_dir())

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    def delete_folder(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def _atomic(self, write) -> None:
        # Readers never see a half-written file: write next to it, then rename over it.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        os.close(fd)
        try:
            write(tmp)
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class S3Location:
    def __init__(self, bucket: str, key: str, client=None):
        self.bucket, self.key = bucket, key
        self._client = client

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def child(self, *names: str) -> S3Location:
        prefix = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        return S3Location(self.bucket, prefix + "/".join(names), self.client)

    def exists(self) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key)
            return True
        except Exception as error:  # botocore.exceptions.ClientError
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error("check", error) from None

    def read_bytes(self) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except Exception as error:
            raise self._error("read", error) from None

    def write_bytes(self, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data)
        except Exception as error:
            raise self._error("write", error) from None

    def upload_file(self, source: Path) -> None:
        try:
            self.client.upload_file(str(source), self.bucket, self.key)  # multipart for big files
        except Exception as error:
            raise self._error("upload", error) from None

    def download_file(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, self.key, str(target))
        except Exception as error:
            raise self._error("download", error) from None

    def list_folders(self) -> list[str]:
        prefix = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        names: set[str] = set()
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            ):
                names.update(p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", []))
        except Exception as error:
            raise self._error("list", error) from None
        return sorted(names)

    def delete(self) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key)
        except Exception as error:
            raise self._error("delete", error) from None

    def delete_folder(self) -> None:
        prefix = self.key if self.key.endswith("/") else self.key + "/"
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
        except Exception as error:
            raise self._error("delete", error) from None

    def _error(self, action: str, error: Exception) -> StorageError:
        code = _code(error)
        if code in ("404", "NoSuchKey", "NotFound"):
            return NotFound(f"{self.uri}: no such object")
        return StorageError(f"{self.uri}: cannot {action}: {error}", code)


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def location(uri: str) -> Location:
    """`S3Location` for s3://bucket/key, `LocalLocation` otherwise (the settings have checked the form)."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://") :].partition("/")
        return S3Location(bucket, key)
    return LocalLocation(uri)
