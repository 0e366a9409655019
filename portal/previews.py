"""Pictures of attachments for the pages where a decision is made.

Phones have no PDF plug-in, so the first pages of a PDF attachment are rendered to PNG here, on
the server, by PDFium (pypdfium2): the same engine Chrome uses, with no browser involved. Images
(PNG, JPEG) are shown as they are. Renderings are derived data: they are cached on this host
under instance/previews, by the contents' SHA-256 and the page number, and any host can
re-create them from the stored file (read through `portal.uploads`, never from disk here).

A PDF that PDFium cannot open, one larger than MAX_BYTES, or one whose file is missing gets no
preview; the page still offers the download.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pypdfium2
from flask import current_app

from portal import uploads

logger = logging.getLogger(__name__)

#: Pages of a PDF shown where the decision is made; the rest are in the download.
MAX_PAGES = 3
#: PDFs larger than this are not rendered (the download is offered instead).
MAX_BYTES = 25 * 1024 * 1024
#: Width of a rendered page in pixels: sharp on a phone's screen, small enough to load on one.
PAGE_WIDTH = 1000
#: No rendered page is taller than this, whatever shape the PDF's page claims to be.
MAX_HEIGHT = 3000
FOLDER = "previews"
PDF = "application/pdf"
IMAGES = ("image/png", "image/jpeg")
# PDFium is not thread-safe: one rendering at a time per process.
_pdfium = threading.Lock()


@dataclass(frozen=True)
class Preview:
    """How one attachment is shown: `kind` is "pdf" (with `pages` rendered pages, `total` in
    the file), "image", or "none" (with `note` saying why there is no picture)."""

    attachment: object
    kind: str
    pages: int = 0
    total: int = 0
    note: str = ""


def describe(attachments) -> list[Preview]:
    """A Preview for each attachment, in order."""
    return [_describe(attachment) for attachment in attachments]


def _describe(attachment) -> Preview:
    if attachment.content_type in IMAGES:
        return Preview(attachment, "image")
    if attachment.content_type != PDF:
        return Preview(attachment, "none", note="No preview for this kind of file.")
    if attachment.size > MAX_BYTES:
        return Preview(attachment, "none", note="Too large to preview here; download it.")
    total = page_count(attachment.sha256)
    if total is None:
        return Preview(attachment, "none", note="This PDF cannot be previewed; download it.")
    return Preview(attachment, "pdf", pages=min(total, MAX_PAGES), total=total)


def _folder() -> Path:
    return Path(current_app.instance_path) / FOLDER


def _cached(sha256: str, name: str) -> Path:
    uploads.blob_path("/", sha256)  # refuses anything but a SHA-256 before it names a path
    return _folder() / sha256[:2] / f"{sha256}-{name}"


def page_count(sha256: str) -> int | None:
    """How many pages the stored PDF has; None if it cannot be opened (noted, so once)."""
    marker = _cached(sha256, "pages.json")
    try:
        return json.loads(marker.read_text())["pages"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        content = uploads.read_blob(sha256, limit=MAX_BYTES)
    except (OSError, ValueError):
        return None  # missing or too large: not noted, the file may yet arrive
    pages = _open_and(content, lambda document: len(document))
    _write(marker, json.dumps({"pages": pages}).encode())
    return pages


def page_png(sha256: str, page: int) -> bytes | None:
    """Page `page` (1-based, at most MAX_PAGES) of the stored PDF as PNG bytes; None when
    there is no such page or the PDF cannot be rendered."""
    if not 1 <= page <= MAX_PAGES:
        return None
    total = page_count(sha256)
    if total is None or page > total:
        return None
    target = _cached(sha256, f"page-{page}.png")
    try:
        return target.read_bytes()
    except OSError:
        pass
    try:
        content = uploads.read_blob(sha256, limit=MAX_BYTES)
    except (OSError, ValueError):
        return None
    png = _open_and(content, lambda document: _render(document[page - 1]))
    if png is not None:
        _write(target, png)
    return png


def _open_and(content: bytes, use):
    """Open `content` with PDFium and return `use(document)`; None if PDFium refuses it."""
    with _pdfium:
        try:
            document = pypdfium2.PdfDocument(content)
        except pypdfium2.PdfiumError as error:
            logger.info("attachment preview: PDFium cannot open a PDF (%s)", error)
            return None
        try:
            return use(document)
        except pypdfium2.PdfiumError as error:
            logger.info("attachment preview: PDFium cannot render a page (%s)", error)
            return None
        finally:
            document.close()


def _render(page) -> bytes:
    width, height = page.get_size()
    scale = PAGE_WIDTH / max(width, 1.0)
    if height * scale > MAX_HEIGHT:
        scale = MAX_HEIGHT / max(height, 1.0)
    bitmap = page.render(scale=scale, may_draw_forms=True)
    try:
        image = bitmap.to_pil()
    finally:
        bitmap.close()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _write(target: Path, content: bytes) -> None:
    """Write beside the target and rename, so a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
