"""Where the portal keeps its files: uploads (by SHA-256), audit-trail PDFs and export ZIPs.

One interface, two kinds of storage, chosen by `BATON_STORAGE_URL`:

| value                | files live                                                         |
|----------------------|--------------------------------------------------------------------|
| unset                | in the instance folder, as `uploads/`, `pdfs/` and `exports/`       |
| `file:///srv/baton`  | in that folder instead (the same layout)                           |
| `s3://BUCKET/PREFIX` | in an S3-compatible object store (AWS S3, MinIO, Ceph, Garage)     |

For S3, boto3 reads the endpoint and credentials from the standard variables
(`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`).

Files are named by keys such as `uploads/ab/ab12...` or `pdfs/42/<head>-<digest>.pdf`. Every
write streams (an upload is never held whole in memory) and is visible to others only once
complete: a local file is written beside its name and renamed; an S3 object appears when its
PUT or multipart upload completes. Writing the same key twice with the same bytes is harmless,
so two hosts storing one content-addressed blob at once is fine. Reads stream too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import unquote, urlparse

from flask import Flask, current_app

logger = logging.getLogger(__name__)

CHUNK = 256 * 1024
#: The folders (key prefixes) that hold what the portal keeps; nothing else in the instance
#: folder (the secret key, a SQLite database) is ever listed or copied as a kept file.
KEPT_PREFIXES = ("uploads/", "pdfs/", "exports/")
_KEY = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
#: What writers before portal.storage left of a write that never finished (a PDF's
#: `.incoming`, an export's `.partial`): never a kept file.
_UNFINISHED = (".incoming", ".partial")
#: Parts of this size go to S3 one after another: the most of an upload held in memory at once
#: is a few parts, whatever the file's size.
PART_SIZE = 8 * 1024 * 1024


class MissingFile(FileNotFoundError):
    """No file is kept under this key."""


class ChecksumMismatch(ValueError):
    """The bytes written did not have the SHA-256 they were meant to have; nothing was kept."""


@dataclass(frozen=True)
class Written:
    """What a write stored: the bytes' SHA-256 and size."""

    sha256: str
    size: int


class Opened(Protocol):
    """A kept file opened for reading: read(n), chunks(), close(), usable in `with`."""

    size: int

    def read(self, amount: int = -1) -> bytes: ...

    def chunks(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class Storage(Protocol):
    """Where kept files live (see the module's docstring)."""

    url: str

    def put(self, key: str, stream: IO[bytes], sha256: str | None = None) -> Written: ...

    def open(self, key: str) -> Opened: ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int | None: ...

    def sha256(self, key: str) -> str: ...

    def keys(self, prefix: str = "") -> Iterator[tuple[str, int]]: ...

    def delete(self, key: str) -> None: ...


def check_key(key: str) -> str:
    """A key is a relative path of plain names: no `..`, no absolute path, no odd characters."""
    if not _KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"{key!r} is not a storage key")
    return key


class _Hashing:
    """A read-only stream that hashes and counts what passes through it."""

    def __init__(self, stream: IO[bytes]):
        self.stream, self.digest, self.size = stream, hashlib.sha256(), 0

    def read(self, amount: int = -1) -> bytes:
        chunk = self.stream.read(amount)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def written(self, expected: str | None, key: str) -> Written:
        found = self.digest.hexdigest()
        if expected is not None and found != expected:
            raise ChecksumMismatch(f"{key}: the bytes have SHA-256 {found}, not {expected}")
        return Written(found, self.size)


class _LocalFile:
    """A local file opened for reading."""

    def __init__(self, path: Path):
        try:
            self._handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MissingFile(str(path)) from None
        self.size = os.fstat(self._handle.fileno()).st_size

    def read(self, amount: int = -1) -> bytes:
        return self._handle.read(amount)

    def chunks(self) -> Iterator[bytes]:
        while chunk := self._handle.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalStorage:
    """Files in a folder (the instance folder unless BATON_STORAGE_URL names another)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.url = self.root.resolve().as_uri()

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, stream: IO[bytes], sha256: str | None = None) -> Written:
        """Write beside the target and rename, so a reader never sees half a file."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        source = _Hashing(stream)
        try:
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(CHUNK):
                    handle.write(chunk)
            written = source.written(sha256, key)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return written

    def open(self, key: str) -> _LocalFile:
        return _LocalFile(self.path(key))

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    def sha256(self, key: str) -> str:
        """The SHA-256 of the bytes kept under `key`, read to the end to compute it."""
        digest = hashlib.sha256()
        with self.open(key) as opened:
            for chunk in opened.chunks():
                digest.update(chunk)
        return digest.hexdigest()

    def keys(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of every kept file under `prefix`, in key order as S3 lists them (never
        the files being written, whose names start with a dot)."""
        found = []
        for top in KEPT_PREFIXES:
            folder = self.root / top.rstrip("/")
            if not (top.startswith(prefix) or prefix.startswith(top)) or not folder.is_dir():
                continue
            for path in folder.rglob("*"):
                key = path.relative_to(self.root).as_posix()
                if path.is_file() and key.startswith(prefix) and _KEY.fullmatch(key):
                    if not path.name.startswith(".") and not path.name.endswith(_UNFINISHED):
                        found.append((key, path.stat().st_size))
        yield from sorted(found)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


class _ObjectBody:
    """An S3 object opened for reading: its body streamed from the store."""

    def __init__(self, body, size: int):
        self._body, self.size = body, size

    def read(self, amount: int = -1) -> bytes:
        return self._body.read(None if amount is None or amount < 0 else amount)

    def chunks(self) -> Iterator[bytes]:
        yield from self._body.iter_chunks(CHUNK)

    def close(self) -> None:
        self._body.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class S3Storage:
    """Objects in an S3-compatible store, under `s3://BUCKET/PREFIX`, through boto3."""

    def __init__(self, bucket: str, prefix: str = ""):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self._local = threading.local()

    @property
    def client(self):
        """A boto3 client of this process (a forked web worker makes its own)."""
        found = getattr(self._local, "client", None)
        if found is None or getattr(self._local, "pid", None) != os.getpid():
            import boto3
            from botocore.config import Config

            found = boto3.client("s3", config=Config(retries={"max_attempts": 4}))
            self._local.client, self._local.pid = found, os.getpid()
        return found

    def name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, stream: IO[bytes], sha256: str | None = None) -> Written:
        """Upload in parts of PART_SIZE: a PUT, or a multipart upload for larger files; either
        way the object appears only once it is complete. The SHA-256 is kept as metadata."""
        from boto3.s3.transfer import TransferConfig

        source = _Hashing(stream)
        extra = {"Metadata": {"sha256": sha256}} if sha256 else {}
        settings = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            max_concurrency=2,
            use_threads=True,
        )
        # Read ahead at most this many parts: a large export is never held whole in memory.
        settings.max_in_memory_upload_chunks = 2
        self.client.upload_fileobj(
            source, self.bucket, self.name(key), ExtraArgs=extra, Config=settings
        )
        try:
            return source.written(sha256, key)
        except ChecksumMismatch:
            self.delete(key)  # the metadata claimed a SHA-256 the bytes do not have
            raise

    def open(self, key: str) -> _ObjectBody:
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=self.name(key))
        except self.client.exceptions.NoSuchKey:
            raise MissingFile(self.url + key) from None
        return _ObjectBody(found["Body"], found["ContentLength"])

    def _head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.name(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int | None:
        found = self._head(key)
        return None if found is None else found["ContentLength"]

    def sha256(self, key: str) -> str:
        """The SHA-256 recorded when the object was written (checked then), or computed by
        reading it whole when it was written without one."""
        found = self._head(key)
        if found is None:
            raise MissingFile(self.url + key)
        recorded = found.get("Metadata", {}).get("sha256")
        if recorded:
            return recorded
        digest = hashlib.sha256()
        with self.open(key) as opened:
            for chunk in opened.chunks():
                digest.update(chunk)
        return digest.hexdigest()

    def keys(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                if key.startswith(KEPT_PREFIXES):
                    yield key, item["Size"]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.name(key))


def from_url(url: str | None, instance_path: str | Path) -> Storage:
    """The storage a BATON_STORAGE_URL names, or a clear error for one that names none."""
    url = (url or "").strip()
    if not url:
        return LocalStorage(instance_path)
    parsed = urlparse(url)
    if parsed.scheme == "file" and parsed.path and parsed.netloc in ("", "localhost"):
        return LocalStorage(unquote(parsed.path))
    if parsed.scheme == "s3" and re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", parsed.netloc):
        return S3Storage(parsed.netloc, unquote(parsed.path))
    raise ValueError(
        f"BATON_STORAGE_URL={url!r} names no storage: use s3://BUCKET/PREFIX for an "
        "S3-compatible object store, file:///absolute/folder for a folder, or leave it unset "
        "for the instance folder"
    )


def is_shared(url: str | None) -> bool:
    """True when the URL names object storage, meant to be shared by several hosts."""
    return (url or "").strip().startswith("s3://")


def init_app(app: Flask) -> None:
    """Choose the app's storage from its STORAGE_URL setting."""
    app.extensions["baton.storage"] = from_url(app.config.get("STORAGE_URL"), app.instance_path)


def current() -> Storage:
    """The storage of the app in context."""
    return current_app.extensions["baton.storage"]


@dataclass
class CopyOutcome:
    """What `copy_all` did, file by file counted."""

    copied: int = 0
    present: int = 0
    failed: int = 0
    bytes_copied: int = 0


def copy_all(
    source: Storage,
    target: Storage,
    recorded: dict[str, str],
    say=lambda line: None,
) -> CopyOutcome:
    """Copy every kept file from `source` to `target`, checking each SHA-256.

    The SHA-256 a file must have is the one on record (`recorded`: the audit PDFs' and exports'
    rows), or its name (an upload's key ends in it), or else what the source holds. A file
    already in `target` with that SHA-256 is left alone, so after an interruption the same
    command goes on where it stopped. A source file that does not match its record is reported
    and not copied. `say(line)` hears about each file.
    """
    outcome = CopyOutcome()
    listed = list(source.keys())
    width = len(str(len(listed)))
    for number, (key, size) in enumerate(listed, start=1):
        where = f"[{number:>{width}}/{len(listed)}] {key}"
        try:
            expected = recorded.get(key) or _hash_in_name(key) or source.sha256(key)
            if target.size(key) == size and target.sha256(key) == expected:
                outcome.present += 1
                say(f"{where}: already there")
                continue
            with source.open(key) as opened:
                target.put(key, opened, sha256=expected)
        except ChecksumMismatch:
            outcome.failed += 1
            say(f"{where}: NOT COPIED, its bytes do not have the SHA-256 on record {expected}")
            continue
        except (OSError, ValueError) as error:
            outcome.failed += 1
            say(f"{where}: NOT COPIED ({type(error).__name__}: {error})")
            continue
        outcome.copied += 1
        outcome.bytes_copied += size
        say(f"{where}: copied ({size:,} bytes, SHA-256 checked)")
    return outcome


def _hash_in_name(key: str) -> str | None:
    """An upload's SHA-256, which its key ends in."""
    found = re.fullmatch(r"uploads/[0-9a-f]{2}/([0-9a-f]{64})", key)
    return found.group(1) if found else None
