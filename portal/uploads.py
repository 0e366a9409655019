"""Reading, checking and storing uploaded files.

An upload is read once, in chunks: hashed, measured and sniffed as it streams into a spooled
temporary file, and read no further than one byte past the field's limit. Contents are kept in
the portal's storage (portal.storage: the instance folder or object storage) under
`uploads/<first two hex digits>/<SHA-256>`, never by the name the person gave, so a hostile file
name can neither choose a path nor overwrite anything. The name is kept only as a
label, cleaned of path parts, control and bidirectional characters, and its extension follows
what the bytes are (a PDF called `poly.html` is kept as `poly.pdf`).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from itsdangerous import BadSignature, URLSafeTimedSerializer

from portal import storage
from portal.domain import filetype
from portal.domain.values import FileValue

CHUNK = 64 * 1024
MAX_NAME_LENGTH = 200
#: How long a "keep this file" token stays good: long enough to leave a form open for days.
KEPT_FILE_MAX_AGE = 7 * 24 * 3600
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029<>:\"/\\|?*]")
#: Bidirectional controls: a right-to-left override shows `invoice\u202efdp.exe` as
#: "invoiceexe.pdf". They are removed from names, not replaced.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass
class Upload:
    """A file read from a request, with its checked facts, its bytes spooled to a temp file."""

    value: FileValue
    contents: IO[bytes] | None  # None when the file was over the limit and not kept


def clean_name(name: str | None) -> str:
    """A file name safe to show and to offer as a download name: no path, no control characters."""
    name = _BIDI_CONTROLS.sub("", unicodedata.normalize("NFC", name or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        keep = f".{extension}" if dot and len(extension) <= 16 else ""
        name = name[: MAX_NAME_LENGTH - len(keep)].rstrip(" .") + keep
    return name or "upload"


def download_name(name: str, content_type: str) -> str:
    """The name a stored file is offered under: cleaned, with its kind's extension (files
    stored before names were fixed at upload get the same)."""
    return filetype.named(clean_name(name), filetype.of_content_type(content_type))


def read(stream: IO[bytes], filename: str | None, max_bytes: int) -> Upload:
    """Read an uploaded stream, stopping one byte past `max_bytes`; sniff its real kind."""
    digest = hashlib.sha256()
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
    size = 0
    head = b""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        if len(head) < filetype.HEAD_BYTES:
            head += chunk[: filetype.HEAD_BYTES - len(head)]
        size += len(chunk)
        if size > max_bytes:
            spool.close()
            name = clean_name(filename)
            return Upload(FileValue(name, "application/octet-stream", size, "", None), None)
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    name = clean_name(filename)
    kind = filetype.sniff(head, spool, name)
    name = filetype.named(name, kind)
    content_type = filetype.FILE_KINDS[kind].content_type if kind else "application/octet-stream"
    return Upload(FileValue(name, content_type, size, digest.hexdigest(), kind), spool)


def blob_key(sha256: str) -> str:
    """The storage key of the contents with this hash."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a SHA-256 hex digest")
    return f"uploads/{sha256[:2]}/{sha256}"


def blob_path(folder: str | Path, sha256: str) -> Path:
    """Where the contents with this hash are in a folder laid out as the storage's `uploads/`
    (the hash is checked first, so a caller may use it to refuse anything but a SHA-256)."""
    return Path(folder) / blob_key(sha256).split("/", 1)[1]


def store(upload: Upload, kept: storage.Storage | None = None) -> str:
    """Keep the upload's bytes under their content address (once; equal bytes share a file),
    streamed from its spooled copy; returns the key."""
    where = kept or storage.current()
    key = blob_key(upload.value.sha256)
    if where.exists(key):
        return key
    upload.contents.seek(0)
    # Checked against the hash taken when it was read: what is kept is what was checked.
    where.put(key, upload.contents, sha256=upload.value.sha256)
    return key


def open_blob(sha256: str) -> storage.Opened:
    """The kept bytes with this SHA-256, opened for reading from the portal's storage (the
    instance folder or object storage): `with uploads.open_blob(h) as f: f.read()`, or
    `f.chunks()` to stream. Every reader of attachment bytes comes through here. Raises
    storage.MissingFile (a FileNotFoundError) when they are not kept, ValueError for a bad hash.
    """
    return storage.current().open(blob_key(sha256))


def read_blob(sha256: str, limit: int | None = None) -> bytes:
    """The kept contents with this hash as bytes; ValueError when they are over `limit`."""
    with open_blob(sha256) as stream:
        content = stream.read(limit + 1 if limit is not None else -1)
    if limit is not None and len(content) > limit:
        raise ValueError(f"stored file {sha256[:12]} is larger than {limit} bytes")
    return content


def has_blob(sha256: str) -> bool:
    """Whether bytes with this SHA-256 are kept."""
    return storage.current().exists(blob_key(sha256))


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="baton.kept-file")


def keep_token(secret_key: str, user_id: int, value: FileValue) -> str:
    """A signed token that lets this user re-post an uploaded file without sending it again."""
    return _serializer(secret_key).dumps({"user": user_id, "file": value.as_record()})


def kept_file(secret_key: str, user_id: int, token: str) -> FileValue | None:
    """The file a keep token names, or None if the token is forged, stale or someone else's."""
    try:
        payload = _serializer(secret_key).loads(token, max_age=KEPT_FILE_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("user") != user_id:
        return None
    try:
        return FileValue.from_record(payload["file"])
    except (KeyError, TypeError):
        return None
