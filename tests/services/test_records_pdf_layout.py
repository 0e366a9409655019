"""The audit-trail PDF's contents and layout: the original attachments embedded and their hashes
printed whole, tagged and still PDF/A-3b, and tables that stay inside their boxes."""

from __future__ import annotations

import hashlib
import io

import pytest
from pypdf import PdfReader
from weasyprint import HTML

from portal import pdf
from portal.extensions import db
from portal.services import records
from tests.fixtures.web import pdf_pages, pdf_upload

LONG_COMMENT = (
    "The delivery note lists 9 chairs but the invoice bills 12; please attach the corrected "
    "invoice from the vendor and the signed delivery note before I can approve this."
)


@pytest.fixture
def sent_back(approvals, org, vendor_invoice):
    """An invoice with a two-page PDF, sent back by Bob with a long comment."""
    submission = approvals.submit_invoice(
        invoice_file=pdf_upload("Acme March invoice.pdf", pdf_pages(2))
    )
    approvals.decide_by_link("bob@example.com", "request_changes", LONG_COMMENT)
    return approvals.submission(submission.id)


def rendered(submission, user) -> PdfReader:
    rendering = records.render(submission, user)
    db.session.commit()
    with records.open_pdf(rendering) as opened:
        return PdfReader(io.BytesIO(opened.read()))


def flat_text(reader: PdfReader) -> str:
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.mark.slow
def test_the_original_attachments_are_embedded_with_their_hashes(sent_back, org):
    reader = rendered(sent_back, org.cora)
    attachment = sent_back.attachments[0]
    embedded = reader.attachments
    assert set(embedded) == {"record.json", "Acme March invoice.pdf"}
    content = embedded["Acme March invoice.pdf"][0]
    assert len(content) == attachment.size
    assert hashlib.sha256(content).hexdigest() == attachment.sha256
    text = flat_text(reader)
    assert attachment.sha256 in text.replace(" ", "")  # printed whole, wrapped, never cut
    assert "Embedded as Acme March invoice.pdf" in text


@pytest.mark.slow
def test_every_event_hash_is_printed_whole(sent_back, org):
    reader = rendered(sent_back, org.cora)
    squeezed = flat_text(reader).replace(" ", "")
    events = records.gather(sent_back).events
    assert events and all(event.hash in squeezed for event in events)


@pytest.mark.slow
def test_the_pdf_is_tagged_and_still_pdf_a_3b(sent_back, org):
    reader = rendered(sent_back, org.cora)
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root  # the structure tree: headings, tables, reading order
    assert bool(root["/MarkInfo"]["/Marked"])
    xmp = reader.xmp_metadata
    assert (xmp.pdfaid_part, xmp.pdfaid_conformance) == ("3", "B")


def test_a_file_missing_from_storage_is_listed_not_embedded(sent_back, org, app, monkeypatch):
    def gone(sha256, limit=None):
        raise FileNotFoundError(sha256)

    monkeypatch.setattr(records.uploads, "read_blob", gone)
    files, refused = records.originals(sent_back)
    assert files == []
    assert refused == {
        sent_back.attachments[0].id: "the stored file is missing or not what was recorded"
    }
    doc = records.document(sent_back, org.cora)
    assert "Not embedded: the stored file is missing" in doc.html
    assert [name for name, _, _ in doc.attachments] == ["record.json"]


def _walk(box, parent=None, table=None):
    """(box, its parent, the table it is in) for every box below `box`."""
    yield box, parent, table
    inside = box if type(box).__name__ == "TableBox" else table
    for child in getattr(box, "children", []):
        yield from _walk(child, box, inside)


def test_every_table_stays_inside_its_box_and_comments_get_the_full_width(sent_back, org, app):
    """The faults of the old layout: column headings running into each other (a table wider
    than the step around it), and the comment squeezed into a column one word wide."""
    doc = records.document(sent_back, org.cora)
    rendered_document = HTML(
        string=doc.html,
        base_url=pdf.BASE_URL,
        url_fetcher=pdf.StaticOnlyFetcher(app.static_folder),
    ).render()
    tables, comments = 0, []
    for page in rendered_document.pages:
        for box, parent, table in _walk(page._page_box):
            if type(box).__name__ == "TableBox":
                tables += 1
                # The wrapper box around a table has the table's width; its container is above.
                container = parent
                right = box.position_x + box.margin_width()
                limit = container.content_box_x() + container.width
                assert right <= limit + 0.5, f"a table runs {right - limit:.0f}px past its box"
            if type(box).__name__ == "TableCellBox" and box.element.get("colspan") == "5":
                comments.append((box, table))
    assert tables >= 5
    assert comments, "the comment has no row of its own"
    for cell, table in comments:
        assert cell.margin_width() > table.width * 0.95  # the comment spans the task's table
