"""What an uploaded file really is, judged by its bytes, never by its name or the browser's word.

Each kind a form may accept is listed here with the signature that identifies it. Office files
are ZIP archives, so they are told apart by the parts inside them; text kinds must decode as
UTF-8 and hold no NUL bytes.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class FileKind:
    key: str
    label: str
    content_type: str
    extension: str


#: Every kind a file field may list in `accept`, by key.
FILE_KINDS: dict[str, FileKind] = {
    kind.key: kind
    for kind in (
        FileKind("pdf", "PDF", "application/pdf", ".pdf"),
        FileKind("png", "PNG image", "image/png", ".png"),
        FileKind("jpeg", "JPEG image", "image/jpeg", ".jpg"),
        FileKind("gif", "GIF image", "image/gif", ".gif"),
        FileKind("webp", "WebP image", "image/webp", ".webp"),
        FileKind("csv", "CSV", "text/csv", ".csv"),
        FileKind("txt", "plain text", "text/plain", ".txt"),
        FileKind(
            "docx",
            "Word document",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ".docx",
        ),
        FileKind(
            "xlsx",
            "Excel workbook",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ".xlsx",
        ),
    )
}

#: How many leading bytes `sniff` needs to see for everything except ZIP-based kinds.
HEAD_BYTES = 4096


def sniff(head: bytes, whole: io.IOBase | None = None, name: str = "") -> str | None:
    """The key of the kind these bytes are, or None if they are none of the known kinds.

    `head` is the start of the file; `whole` (a seekable file) is needed only to look inside
    ZIP-based office files. `name` only decides between CSV and plain text, which share bytes.
    """
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"PK\x03\x04"):
        return _office_kind(whole)
    if head and _is_text(head):
        return "csv" if name.lower().endswith(".csv") else "txt"
    return None


def _office_kind(whole: io.IOBase | None) -> str | None:
    if whole is None:
        return None
    try:
        whole.seek(0)
        with zipfile.ZipFile(whole) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    finally:
        whole.seek(0)
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The head may end in the middle of a multi-byte character.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


#: Other extensions a kind's files commonly carry, kept as they are.
_ALSO = {"jpeg": (".jpeg", ".jpe")}


def of_content_type(content_type: str) -> str | None:
    """The key of the kind stored with this content type, or None."""
    return next((k.key for k in FILE_KINDS.values() if k.content_type == content_type), None)


def named(name: str, key: str | None) -> str:
    """`name` with the extension of the kind its bytes are, so the file opens as what it is:
    a PDF called `poly.html` becomes `poly.pdf`, a text file called `notes.md` `notes.txt`."""
    if key not in FILE_KINDS:
        return name
    kind = FILE_KINDS[key]
    stem, dot, extension = name.rpartition(".")
    if dot and stem and f".{extension.lower()}" in (kind.extension, *_ALSO.get(key, ())):
        return name
    if dot and stem and extension.isalnum() and len(extension) <= 8:
        name = stem  # another kind's extension: replaced, not kept in front of ours
    return name + kind.extension


def describe(keys: tuple[str, ...] | list[str]) -> str:
    """'PDF, PNG image or JPEG image' for the help text beside a file input."""
    labels = [FILE_KINDS[key].label for key in keys if key in FILE_KINDS]
    if len(labels) <= 1:
        return "".join(labels)
    return f"{', '.join(labels[:-1])} or {labels[-1]}"
