"""Attachments where the decision is made: PDF pages rendered on the server, images inline, a
download, on the task page and on the emailed-link page (where the link is the permission)."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from portal import clock, previews
from portal.extensions import db
from portal.models import Attachment
from tests.fixtures.web import PDF_BYTES, PNG_BYTES, pdf_pages, pdf_upload

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def page_links(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+/pages/\d+)"', html)


def attachment_of(submission) -> Attachment:
    return db.session.get(Attachment, submission.attachments[0].id)


@pytest.fixture
def five_pages(approvals, org, vendor_invoice):
    """Alice's invoice with a five-page PDF attached, waiting on Bob; (submission, link)."""
    submission = approvals.submit_invoice(invoice_file=pdf_upload("March.pdf", pdf_pages(5)))
    return submission, approvals.link_for("bob@example.com")


def test_link_page_shows_the_first_three_pages_signed_out(approvals, five_pages):
    submission, link = five_pages
    visitor = approvals.app.test_client()
    page = visitor.get(link)
    assert page.status_code == 200
    assert "Sign in to Baton to open attachments" not in page.text
    pictures = page_links(page.text)
    assert pictures == [f"{link}/files/{submission.attachments[0].id}/pages/{n}" for n in (1, 2, 3)]
    assert "Showing the first 3 of 5 pages" in page.text
    picture = visitor.get(pictures[0])
    assert picture.status_code == 200 and picture.mimetype == "image/png"
    assert picture.data.startswith(PNG_SIGNATURE)
    width, height = Image.open(io.BytesIO(picture.data)).size
    assert width == previews.PAGE_WIDTH and abs(height - 842 * previews.PAGE_WIDTH / 595) < 1
    assert picture.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    with visitor.get(f"{link}/files/{submission.attachments[0].id}") as download:
        assert download.status_code == 200
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert download.data[:5] == b"%PDF-"
        assert len(download.data) == submission.attachments[0].size


def test_a_page_past_the_third_is_not_served(approvals, five_pages):
    submission, link = five_pages
    base = f"{link}/files/{submission.attachments[0].id}/pages"
    visitor = approvals.app.test_client()
    assert visitor.get(f"{base}/3").status_code == 200
    assert visitor.get(f"{base}/4").status_code == 404
    assert visitor.get(f"{base}/0").status_code == 404


def test_renderings_are_cached_by_hash_and_page(approvals, five_pages, app):
    submission, link = five_pages
    sha = attachment_of(submission).sha256
    approvals.app.test_client().get(f"{link}/files/{submission.attachments[0].id}/pages/2")
    folder = Path(app.instance_path) / previews.FOLDER / sha[:2]
    cached = sorted(path.name for path in folder.iterdir())
    assert cached == [f"{sha}-page-2.png", f"{sha}-pages.json"]


def test_a_used_link_shows_no_files(approvals, five_pages):
    submission, link = five_pages
    file_url = f"{link}/files/{submission.attachments[0].id}"
    approvals.decide_by_link("bob@example.com", "approve")
    visitor = approvals.app.test_client()
    for url in (file_url, f"{file_url}/pages/1"):
        response = visitor.get(url)
        assert response.status_code == 410
        assert "This task is already closed" in response.text
        assert b"%PDF" not in response.data and PNG_SIGNATURE not in response.data


def test_an_expired_link_shows_no_files(approvals, five_pages):
    submission, link = five_pages
    with clock.frozen_at(clock.now() + dt.timedelta(days=15)):
        response = approvals.app.test_client().get(
            f"{link}/files/{submission.attachments[0].id}/pages/1"
        )
    assert response.status_code == 410 and "This link has expired" in response.text


def test_a_tampered_link_shows_no_files(approvals, five_pages):
    submission, link = five_pages
    response = approvals.app.test_client().get(
        f"{link[:-3]}xyz/files/{submission.attachments[0].id}"
    )
    assert response.status_code == 404 and "This link does not work" in response.text


def test_a_link_opens_no_other_requests_files(approvals, five_pages):
    submission, link = five_pages
    other = approvals.submit_invoice(as_email="fiona@example.com")
    foreign_id = other.attachments[0].id
    response = approvals.app.test_client().get(f"{link}/files/{foreign_id}")
    assert response.status_code == 404
    assert "There is no such file on this request" in response.text


def test_someone_else_signed_in_gets_no_files_from_a_link(approvals, five_pages):
    submission, link = five_pages
    approvals.browser.login("fiona@example.com")
    response = approvals.browser.get(f"{link}/files/{submission.attachments[0].id}/pages/1")
    assert response.status_code == 403 and "This link is not for you" in response.text


def test_task_page_shows_the_pages_under_the_request(approvals, five_pages):
    submission, _ = five_pages
    (task,) = approvals.open_tasks(submission)
    approvals.browser.login("bob@example.com")
    page = approvals.browser.get(f"/tasks/{task.id}")
    attachment_id = submission.attachments[0].id
    pictures = page_links(page.text)
    assert pictures == [
        f"/submissions/{submission.id}/files/{attachment_id}/pages/{n}" for n in (1, 2, 3)
    ]
    assert approvals.browser.get(pictures[2]).data.startswith(PNG_SIGNATURE)


def test_the_request_pictures_are_only_for_those_who_may_see_it(approvals, five_pages):
    submission, _ = five_pages
    approvals.browser.login("fiona@example.com")  # neither submitter, asked, nor compliance
    url = f"/submissions/{submission.id}/files/{submission.attachments[0].id}/pages/1"
    assert approvals.browser.get(url).status_code == 404


def test_an_image_is_shown_as_it_is(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice(invoice_file=(io.BytesIO(PNG_BYTES), "scan.png"))
    link = approvals.link_for("bob@example.com")
    visitor = approvals.app.test_client()
    page = visitor.get(link).text
    url = f"{link}/files/{submission.attachments[0].id}/pages/1"
    assert f'<img src="{url}" alt="scan.png">' in page
    with visitor.get(url) as picture:
        assert picture.mimetype == "image/png" and picture.data == PNG_BYTES
        assert "attachment" not in picture.headers.get("Content-Disposition", "")
    assert visitor.get(url[:-1] + "2").status_code == 404


def test_a_pdf_pdfium_cannot_open_offers_the_download_only(approvals, org, vendor_invoice):
    broken = PDF_BYTES  # a PDF header and nothing PDFium can read
    submission = approvals.submit_invoice(invoice_file=pdf_upload("odd.pdf", broken))
    link = approvals.link_for("bob@example.com")
    visitor = approvals.app.test_client()
    page = visitor.get(link).text
    assert "This PDF cannot be previewed; download it." in page
    assert page_links(page) == []
    attachment_id = submission.attachments[0].id
    assert f'href="{link}/files/{attachment_id}" download' in page
    assert visitor.get(f"{link}/files/{attachment_id}/pages/1").status_code == 404
