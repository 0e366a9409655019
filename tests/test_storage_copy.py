"""`flask baton storage copy --to URL`: every kept file, each SHA-256 checked, re-runnable.

Run both ways: from the folder to object storage, and back (the fixture `app_storage` is the
source; `elsewhere` is a storage of the other kind).
"""

from __future__ import annotations

import hashlib
import io

import pytest
from sqlalchemy import select

from portal import clock, storage, uploads
from portal.extensions import db
from portal.models import AuditPdf, Export, ExportState
from portal.services import records


@pytest.fixture
def elsewhere(app_storage, tmp_path, make_bucket) -> str:
    """A URL of the other kind of storage than the app's, empty."""
    if isinstance(app_storage, storage.S3Storage):
        return (tmp_path / "moved").as_uri()
    return f"s3://{make_bucket()}/moved"


@pytest.fixture
def kept_files(app_storage, make_submission, vendor_invoice, org) -> dict[str, str]:
    """An attachment, an audit-trail PDF and an export ZIP in the app's storage: key -> SHA-256."""
    submission = make_submission()
    rendering = records.render(submission, None)
    body = b"PK\x05\x06" + b"\x00" * 18  # an empty ZIP
    written = app_storage.put("exports/baton-export-1.zip", io.BytesIO(body))
    db.session.add(
        Export(
            requested_by_id=org.cora.id,
            filters={},
            submission_ids=[submission.id],
            total=1,
            done=1,
            state=ExportState.DONE,
            created_at=clock.now(),
            path="exports/baton-export-1.zip",
            sha256=written.sha256,
            size=written.size,
        )
    )
    db.session.commit()
    attachment = submission.attachments[0]
    return {
        uploads.blob_key(attachment.sha256): attachment.sha256,
        rendering.path: rendering.sha256,
        "exports/baton-export-1.zip": written.sha256,
    }


def copy(runner, url: str):
    return runner.invoke(args=["baton", "storage", "copy", "--to", url])


def test_copy_puts_every_kept_file_there_with_its_sha256(
    app, runner, app_storage, kept_files, elsewhere
):
    result = copy(runner, elsewhere)
    assert result.exit_code == 0, result.output
    target = storage.from_url(elsewhere, app.instance_path)
    assert {key: target.sha256(key) for key, _ in target.keys()} == kept_files
    for key in kept_files:
        with target.open(key) as copied, app_storage.open(key) as original:
            assert copied.read() == original.read()
    assert "3 copied" in result.output and "0 not copied" in result.output
    assert f"[1/3] {sorted(kept_files)[0]}: copied" in result.output  # progress, file by file
    assert f"BATON_STORAGE_URL={elsewhere}" in result.output

    again = copy(runner, elsewhere)
    assert again.exit_code == 0
    assert "0 copied" in again.output and "3 already there" in again.output


def test_an_interrupted_copy_goes_on_where_it_stopped(
    app, runner, app_storage, kept_files, elsewhere, monkeypatch
):
    target_class = type(storage.from_url(elsewhere, app.instance_path))
    original_put = target_class.put
    calls = []

    def put_then_lose_the_connection(self, key, stream, sha256=None):
        calls.append(key)
        if len(calls) == 2:
            raise ConnectionAbortedError("the network went away")
        return original_put(self, key, stream, sha256)

    with monkeypatch.context() as patched:
        patched.setattr(target_class, "put", put_then_lose_the_connection)
        first = copy(runner, elsewhere)
    assert first.exit_code == 1
    assert "2 copied" in first.output and "1 not copied" in first.output
    assert "ConnectionAbortedError" in first.output and "do not switch yet" in first.output

    second = copy(runner, elsewhere)
    assert second.exit_code == 0, second.output
    assert "1 copied" in second.output and "2 already there" in second.output
    target = storage.from_url(elsewhere, app.instance_path)
    assert {key: target.sha256(key) for key, _ in target.keys()} == kept_files


def test_a_damaged_copy_is_copied_again(app, runner, app_storage, kept_files, elsewhere):
    assert copy(runner, elsewhere).exit_code == 0
    target = storage.from_url(elsewhere, app.instance_path)
    key = next(k for k in kept_files if k.startswith("pdfs/"))
    size = target.size(key)
    target.put(key, io.BytesIO(b"\x00" * size))  # same size, other bytes (and no SHA-256 note)
    result = copy(runner, elsewhere)
    assert result.exit_code == 0
    assert f"{key}: copied" in result.output and "2 already there" in result.output
    assert target.sha256(key) == kept_files[key]


def test_a_source_file_that_does_not_match_its_record_is_not_copied(
    app, runner, app_storage, kept_files, elsewhere
):
    rendering = db.session.scalars(select(AuditPdf)).one()
    app_storage.put(rendering.path, io.BytesIO(b"%PDF-1.7 altered behind Baton's back"))
    result = copy(runner, elsewhere)
    assert result.exit_code == 1
    assert f"{rendering.path}: NOT COPIED" in result.output
    assert rendering.sha256 in result.output
    target = storage.from_url(elsewhere, app.instance_path)
    assert not target.exists(rendering.path)
    assert sorted(k for k, _ in target.keys()) == sorted(
        k for k in kept_files if k != rendering.path
    )


def test_copy_refuses_a_url_that_names_no_storage_or_the_current_one(runner, app_storage):
    result = copy(runner, "ftp://files.example/baton")
    assert result.exit_code == 1 and "s3://BUCKET/PREFIX" in result.output
    same = copy(runner, app_storage.url)
    assert same.exit_code == 1 and "is where the files are kept now" in same.output


def test_the_sha256_on_record_is_what_is_checked(app_storage, tmp_path):
    """Without the database's word, an upload's name still says what its bytes must be."""
    body = b"%PDF-1.4 named by its hash"
    digest = hashlib.sha256(body).hexdigest()
    app_storage.put(uploads.blob_key(digest), io.BytesIO(b"%PDF-1.4 but other bytes"))
    target = storage.LocalStorage(tmp_path / "target")
    outcome = storage.copy_all(app_storage, target, {})
    assert (outcome.copied, outcome.failed) == (0, 1)
    assert list(target.keys()) == []


def test_check_writes_reads_and_deletes_a_file_where_files_are_kept(runner, app_storage):
    result = runner.invoke(args=["baton", "storage", "check"])
    assert result.exit_code == 0, result.output
    assert f"{app_storage.url}: a file was written, read back and deleted" in result.output
    assert list(app_storage.keys()) == []


def test_check_says_what_is_wrong_with_a_bucket_that_is_not_there(app, runner, s3_env):
    app.config["STORAGE_URL"] = "s3://baton-no-such-bucket/prod"
    storage.init_app(app)
    result = runner.invoke(args=["baton", "storage", "check"])
    assert result.exit_code == 1
    assert "s3://baton-no-such-bucket/prod/ cannot be used from this host" in result.output
    assert "NoSuchBucket" in result.output and "the bucket must exist" in result.output
