"""portal.storage: every kept file through one interface, on a folder and on a real S3 API.

The fixtures `kept` and `app_storage` (tests/fixtures/storage.py) run each test twice: against
a folder and against moto's S3 server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import storage, uploads
from portal.extensions import db
from portal.models import Attachment, AuditPdf, Export, ExportState
from tests.fixtures.web import PDF_BYTES, Browser, invoice_post, pdf_upload


class BreaksAfter(io.RawIOBase):
    """A stream of `size` bytes that fails after `size`: a client that went away mid-upload."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, amount: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("the client went away")
        amount = self.left if amount is None or amount < 0 else min(amount, self.left)
        self.left -= amount
        return b"x" * amount


def test_a_written_file_reads_back_whole_and_in_chunks(kept):
    body = bytes(range(256)) * 5000  # 1.28 MB: several chunks
    written = kept.put("pdfs/7/head-1234.pdf", io.BytesIO(body))
    assert written == storage.Written(hashlib.sha256(body).hexdigest(), len(body))
    assert kept.exists("pdfs/7/head-1234.pdf") and kept.size("pdfs/7/head-1234.pdf") == len(body)
    with kept.open("pdfs/7/head-1234.pdf") as opened:
        assert opened.size == len(body)
        chunks = list(opened.chunks())
    assert len(chunks) > 1 and b"".join(chunks) == body
    with kept.open("pdfs/7/head-1234.pdf") as opened:
        assert opened.read(10) == body[:10] and opened.read() == body[10:]
    assert kept.sha256("pdfs/7/head-1234.pdf") == written.sha256


def test_a_missing_file_is_missing_everywhere(kept):
    assert not kept.exists("uploads/ab/nothing") and kept.size("uploads/ab/nothing") is None
    with pytest.raises(storage.MissingFile):
        kept.open("uploads/ab/nothing")
    kept.delete("uploads/ab/nothing")  # deleting what is not there is not an error


def test_an_interrupted_write_leaves_nothing_behind(kept):
    with pytest.raises(ConnectionResetError):
        kept.put("exports/baton-export-1.zip", BreaksAfter(200_000))
    assert not kept.exists("exports/baton-export-1.zip")
    assert list(kept.keys()) == []


@pytest.mark.slow
def test_an_interrupted_large_write_leaves_no_object_and_no_unfinished_upload(kept):
    """Past one part (8 MB) S3 takes a multipart upload: a failure aborts it, so no half
    object becomes visible and no parts are left to pay for."""
    with pytest.raises(ConnectionResetError):
        kept.put("exports/baton-export-2.zip", BreaksAfter(storage.PART_SIZE * 2 + 5))
    assert not kept.exists("exports/baton-export-2.zip")
    if isinstance(kept, storage.S3Storage):
        unfinished = kept.client.list_multipart_uploads(Bucket=kept.bucket)
        assert unfinished.get("Uploads", []) == []


def test_bytes_that_are_not_what_they_claim_are_not_kept(kept):
    claimed = hashlib.sha256(b"the real thing").hexdigest()
    with pytest.raises(storage.ChecksumMismatch):
        kept.put(f"uploads/{claimed[:2]}/{claimed}", io.BytesIO(b"something else"), claimed)
    assert not kept.exists(f"uploads/{claimed[:2]}/{claimed}")


def test_two_hosts_writing_the_same_blob_at_once_keep_it_whole(kept):
    body = b"%PDF-1.4 " + b"same bytes " * 100_000
    digest = hashlib.sha256(body).hexdigest()
    key = uploads.blob_key(digest)
    errors = []

    def write():
        try:
            kept.put(key, io.BytesIO(body), sha256=digest)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    writers = [threading.Thread(target=write) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert errors == []
    assert kept.sha256(key) == digest and [k for k, _ in kept.keys()] == [key]


def test_only_kept_folders_are_listed(kept, tmp_path):
    for key in ("uploads/aa/one", "pdfs/1/two.pdf", "exports/baton-export-3.zip"):
        kept.put(key, io.BytesIO(key.encode()))
    if isinstance(kept, storage.LocalStorage):
        (kept.root / "secret_key").write_text("never a kept file")
        (kept.root / "baton.db").write_bytes(b"nor this")
        # Left by a render or an export that died before portal.storage wrote files.
        (kept.root / "pdfs" / "1" / "two.incoming").write_bytes(b"half a PDF")
        (kept.root / "exports" / "baton-export-3.4f2a.partial").write_bytes(b"half a ZIP")
    assert sorted(kept.keys()) == [
        ("exports/baton-export-3.zip", 26),
        ("pdfs/1/two.pdf", 14),
        ("uploads/aa/one", 14),
    ]
    assert [k for k, _ in kept.keys("pdfs/")] == ["pdfs/1/two.pdf"]


@pytest.mark.parametrize("key", ["../secret_key", "/etc/passwd", "uploads/../x", "a b", ""])
def test_a_key_that_could_leave_the_storage_is_refused(kept, key):
    with pytest.raises(ValueError, match="not a storage key"):
        kept.put(key, io.BytesIO(b"x"))


@pytest.mark.parametrize(
    "url", ["ftp://files.example/baton", "s3://", "s3://Bad_Bucket/x", "file://host/x", "baton"]
)
def test_a_storage_url_that_names_no_storage_is_refused_clearly(url, tmp_path):
    with pytest.raises(ValueError, match="s3://BUCKET/PREFIX"):
        storage.from_url(url, tmp_path)


def test_unset_means_the_instance_folder_and_s3_keeps_its_prefix(tmp_path):
    assert storage.from_url("", tmp_path).root == tmp_path
    assert storage.from_url((tmp_path / "f").as_uri(), tmp_path).root == tmp_path / "f"
    remote = storage.from_url("s3://baton-files/acme/prod/", tmp_path)
    assert (remote.bucket, remote.prefix) == ("baton-files", "acme/prod/")
    assert remote.name("uploads/ab/cd") == "acme/prod/uploads/ab/cd"


def test_objects_live_under_the_prefix_in_the_bucket(make_bucket, tmp_path):
    remote = storage.from_url(f"s3://{make_bucket()}/baton", tmp_path)
    remote.put("pdfs/1/a.pdf", io.BytesIO(b"%PDF"), sha256=hashlib.sha256(b"%PDF").hexdigest())
    listed = remote.client.list_objects_v2(Bucket=remote.bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["baton/pdfs/1/a.pdf"]
    head = remote.client.head_object(Bucket=remote.bucket, Key="baton/pdfs/1/a.pdf")
    assert head["Metadata"] == {"sha256": hashlib.sha256(b"%PDF").hexdigest()}


# -- the portal's files, end to end ------------------------------------------------------------


def test_an_upload_is_kept_in_storage_and_downloaded_through_the_portal(
    app, app_storage, browser, alice, bob, vendor_invoice
):
    body = PDF_BYTES + b"% kept in storage\n"
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new", invoice_post(invoice_file=pdf_upload("March.pdf", body))
    )
    assert response.status_code == 302
    attachment = db.session.scalars(select(Attachment)).one()
    assert [key for key, _ in app_storage.keys()] == [uploads.blob_key(attachment.sha256)]
    with uploads.open_blob(attachment.sha256) as opened:
        assert opened.read() == body
    url = f"/submissions/{attachment.submission_id}/files/{attachment.id}"
    with browser.get(url) as download:
        assert download.status_code == 200 and download.data == body
        assert download.headers["Content-Length"] == str(len(body))
        assert download.headers["Content-Disposition"] == "attachment; filename=March.pdf"
        assert download.headers["Cache-Control"] == "private, no-store"
    other = Browser(app.test_client())
    other.login(bob.email)  # another member of staff: not theirs to see
    assert other.get(url).status_code == 404
    app_storage.delete(uploads.blob_key(attachment.sha256))
    assert browser.get(url).status_code == 404  # lost from storage: a 404, not a 500


@pytest.mark.slow
def test_audit_pdf_and_export_are_kept_in_storage_and_downloaded_through_the_portal(
    app_storage, approvals, org, vendor_invoice
):
    submission = approvals.submit_invoice()
    approvals.decide_by_link("bob@example.com", "approve")
    (finance, *_) = approvals.open_tasks(submission, "finance")
    approvals.decide_in_inbox(finance.assignee.email, finance, "approve")
    assert approvals.submission(submission.id).status.value == "approved"
    approvals.browser.login("cora@example.com")
    url = f"/submissions/{submission.id}/audit.pdf"
    assert approvals.browser.get(url).status_code == 202  # being rendered by a worker
    approvals.run_jobs()
    with approvals.browser.get(url) as pdf:
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
        content = pdf.data
    rendering = db.session.scalars(select(AuditPdf)).one()
    assert rendering.path.startswith(f"pdfs/{submission.id}/")
    assert app_storage.sha256(rendering.path) == rendering.sha256
    assert hashlib.sha256(content).hexdigest() == rendering.sha256

    approvals.browser.post("/compliance/exports", {"form": "vendor_invoice"})
    approvals.run_jobs()
    db.session.expire_all()
    export = db.session.scalars(select(Export)).one()
    assert (
        export.state == ExportState.DONE and export.path == f"exports/baton-export-{export.id}.zip"
    )
    assert app_storage.sha256(export.path) == export.sha256
    with approvals.browser.get(f"/compliance/exports/{export.id}/download") as download:
        assert download.status_code == 200
        assert hashlib.sha256(download.data).hexdigest() == export.sha256
        archive = zipfile.ZipFile(io.BytesIO(download.data))
    inside = archive.read(f"records/vendor_invoice-{submission.id:06d}.pdf")
    assert hashlib.sha256(inside).hexdigest() == rendering.sha256


def test_open_blob_reads_an_attachment_for_other_code(app_storage, app):
    """uploads.open_blob is how code outside the views reads an attachment's bytes."""
    upload = uploads.read(io.BytesIO(PDF_BYTES), "a.pdf", 10_000)
    uploads.store(upload)
    upload.contents.close()
    with uploads.open_blob(upload.value.sha256) as opened:
        assert opened.read() == PDF_BYTES
    assert uploads.has_blob(upload.value.sha256)
    with pytest.raises(storage.MissingFile):
        uploads.open_blob(hashlib.sha256(b"never uploaded").hexdigest())


def test_only_the_factory_settings_and_storage_name_the_instance_folder():
    """Every kept file goes through portal.storage: no other module builds a path in the
    instance folder (where a file would be lost to every other host)."""
    root = Path(__file__).resolve().parent.parent / "portal"
    allowed = {"__init__.py", "config.py", "storage.py", "cli.py"}
    # Attachment previews (once merged) keep pictures they can make again from the kept bytes
    # in a cache of each host's own: derived, never kept, so never needed by another host.
    allowed.add("previews.py")
    naming = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if "migrations" not in path.parts
        and path.relative_to(root).as_posix() not in allowed
        and re.search(r"instance_path|UPLOAD_FOLDER|BATON_INSTANCE", path.read_text())
    )
    assert naming == []


_MEASURE_MEMORY = """
import io, sys, tracemalloc
from portal import storage

class Endless(io.RawIOBase):
    def __init__(self, size):
        self.left = size
    def readable(self):
        return True
    def read(self, amount=-1):
        amount = self.left if amount is None or amount < 0 else min(amount, self.left)
        self.left -= amount
        return b"y" * amount

kept = storage.from_url(sys.argv[1], ".")
size = int(sys.argv[2])
tracemalloc.start()
written = kept.put("exports/baton-export-9.zip", Endless(size))
upload_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.reset_peak()
before = tracemalloc.get_traced_memory()[0]  # what the upload left (its threads' buffers)
with kept.open("exports/baton-export-9.zip") as opened:
    read = sum(len(chunk) for chunk in opened.chunks())
print(written.size, read, upload_peak, tracemalloc.get_traced_memory()[1] - before)
"""


@pytest.mark.slow
def test_a_large_file_goes_up_and_comes_back_without_being_held_in_memory(make_bucket, s3_env):
    """160 MB to object storage and back, in a process of its own (the S3 server in this one
    keeps what it is sent): a few 8 MB parts in memory going up, one chunk coming back."""
    size = 160 * 1024 * 1024
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE_MEMORY, f"s3://{make_bucket()}/big", str(size)],
        capture_output=True,
        text=True,
        env=dict(os.environ, **s3_env),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    written, read, upload_peak, download_peak = map(int, result.stdout.split())
    assert written == read == size
    print(f"peak memory: {upload_peak / 2**20:.0f} MB up, {download_peak / 2**20:.1f} MB down")
    assert upload_peak < 8 * storage.PART_SIZE < size / 2
    assert download_peak < 4 * storage.CHUNK
