"""Documents as PDFs: the audit trail's page (templates/pdf/), and WeasyPrint with a URL fetcher
that serves Baton's own static files and nothing else.

Every URL in a document resolves against a base that does not exist on any network
(https://baton.invalid/static/). The fetcher maps that base onto the static folder, refuses
paths that climb out of it, and refuses every other URL: file:, http(s):, data:, anything a
hostile value might smuggle in. Submitted text is escaped by the templates anyway; this is the
second wall, so that a template mistake still cannot make the renderer read a local file.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from flask import render_template
from weasyprint import HTML, Attachment
from weasyprint.urls import URLFetcher, URLFetcherResponse

logger = logging.getLogger(__name__)
BASE_URL = "https://baton.invalid/static/"


class FetchRefused(ValueError):
    """A document asked for something outside Baton's static files (WeasyPrint skips it)."""


class StaticOnlyFetcher(URLFetcher):
    """Serves files under `folder` for URLs under BASE_URL; refuses everything else."""

    def __init__(self, folder: str | Path):
        super().__init__(allowed_protocols={"https"}, allow_redirects=False)
        self.folder = Path(folder).resolve()
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        if not url.startswith(BASE_URL):
            return self._refuse(url)
        relative = url[len(BASE_URL) :].split("?", 1)[0].split("#", 1)[0]
        path = (self.folder / relative).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            return self._refuse(url)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": mime})

    def _refuse(self, url: str):
        self.refused.append(url)
        logger.warning("PDF renderer refused to fetch %r", url[:200])
        raise FetchRefused(f"not one of Baton's static files: {url[:200]}")


def audit_trail_html(
    record,
    submission,
    generated_at,
    generated_by: str,
    embedded: dict[int, str] | None = None,
    not_embedded: dict[int, str] | None = None,
) -> str:
    """The audit trail of `record` (portal.services.records.gather) as the HTML WeasyPrint
    renders: templates/pdf/audit_trail.html, which shares the record display with the pages.
    `embedded` names each attachment (by id) embedded in the PDF; `not_embedded` says why one
    is not."""
    return render_template(
        "pdf/audit_trail.html",
        record=record,
        submission=submission,
        spec=submission.form_version.spec,
        data=submission.data or {},
        generated_at=generated_at,
        generated_by=generated_by,
        head_hash=record.verification.head_hash,
        embedded=embedded or {},
        not_embedded=not_embedded or {},
    )


def render(
    html: str,
    static_folder: str | Path,
    attachments: list[tuple[str, bytes, str]] = (),
    pdf_variant: str | None = "pdf/a-3b",
) -> tuple[bytes, list[str]]:
    """HTML -> PDF bytes (PDF/A-3b by default, tagged, with `attachments` (name, bytes,
    description) embedded as associated files). Also returns the URLs the fetcher refused.

    Tagged: WeasyPrint writes the structure tree (headings, tables, lists, reading order), so
    screen readers and text extraction follow the document; PDF/A-3b allows it and the file
    still declares PDF/A-3b (docs/audit.md)."""
    fetcher = StaticOnlyFetcher(static_folder)
    document = HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher)
    files = [
        Attachment(string=content, name=name, description=description, relationship="Source")
        for name, content, description in attachments
    ]
    options = {"attachments": files, "pdf_tags": True}
    if pdf_variant:
        options["pdf_variant"] = pdf_variant
    return document.write_pdf(**options), fetcher.refused
