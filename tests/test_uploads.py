"""portal.uploads: cleaning names, reading with a limit, storing by hash, keep tokens."""

import hashlib
import io

import pytest

from portal import storage, uploads
from portal.domain.values import FileValue


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.pdf", "evil.pdf"),
        ("in\x00voice\r\n.pdf", "in_voice__.pdf"),
        ('say "hi".pdf', "say _hi_.pdf"),
        ("a:b|c?d*e.pdf", "a_b_c_d_e.pdf"),
        ("  .hidden. ", "hidden"),
        ("", "upload"),
        (None, "upload"),
        ("Cafe\u0301.pdf", "Café.pdf"),  # NFC: the same name however the browser composed it
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # shown as "invoiceexe.pdf" with the override
        ("\u2066a\u200fb\u061c.pdf", "ab.pdf"),
        ("line\u2028break\x85.pdf", "line_break_.pdf"),
        ("x" * 250 + ".verylongextension12345", "x" * 200),
    ],
)
def test_clean_name(given, expected):
    assert uploads.clean_name(given) == expected


def test_long_name_keeps_its_extension_within_the_limit():
    cleaned = uploads.clean_name("r" * 500 + ".pdf")
    assert len(cleaned) == uploads.MAX_NAME_LENGTH and cleaned.endswith(".pdf")


def test_read_hashes_measures_and_sniffs():
    body = b"%PDF-1.7\n" + b"x" * 200_000
    upload = uploads.read(io.BytesIO(body), "a.pdf", max_bytes=1_000_000)
    assert upload.value.sha256 == hashlib.sha256(body).hexdigest()
    assert upload.value.size == len(body) and upload.value.kind == "pdf"
    assert upload.contents.read() == body
    upload.contents.close()


def test_read_names_a_file_after_what_its_bytes_are():
    upload = uploads.read(io.BytesIO(b"%PDF-1.7\n<html><script>x</script>"), "poly.html", 10_000)
    assert (upload.value.name, upload.value.kind) == ("poly.pdf", "pdf")
    upload.contents.close()


def test_read_stops_one_chunk_past_the_limit_and_keeps_nothing():
    class Endless(io.RawIOBase):
        reads = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            Endless.reads += 1
            buffer[:] = b"0" * len(buffer)
            return len(buffer)

    upload = uploads.read(io.BufferedReader(Endless()), "big.bin", max_bytes=100_000)
    assert upload.contents is None and upload.value.size > 100_000
    assert Endless.reads < 20  # it did not read the endless stream to the end


def test_store_writes_once_by_content(tmp_path):
    body = b"%PDF-1.4 same bytes"
    kept = storage.LocalStorage(tmp_path)
    first = uploads.read(io.BytesIO(body), "one.pdf", 10_000)
    second = uploads.read(io.BytesIO(body), "two.pdf", 10_000)
    key = uploads.store(first, kept)
    assert uploads.store(second, kept) == key == f"uploads/{key[8:10]}/{first.value.sha256}"
    with kept.open(key) as opened:
        assert opened.read() == body
    first.contents.close()
    second.contents.close()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [first.value.sha256]


@pytest.mark.parametrize("bad", ["../etc/passwd", "ABC", "g" * 64, ""])
def test_blob_key_accepts_only_hex_digests(bad, tmp_path):
    with pytest.raises(ValueError):
        uploads.blob_key(bad)
    with pytest.raises(ValueError):
        uploads.blob_path(tmp_path, bad)


def test_blob_path_is_where_the_folder_storage_keeps_the_bytes(tmp_path):
    body = b"%PDF-1.4 where is it"
    upload = uploads.read(io.BytesIO(body), "a.pdf", 10_000)
    uploads.store(upload, storage.LocalStorage(tmp_path))
    upload.contents.close()
    assert uploads.blob_path(tmp_path / "uploads", upload.value.sha256).read_bytes() == body


def test_keep_token_round_trip_and_binding():
    value = FileValue("a.pdf", "application/pdf", 10, "ab" * 32, "pdf")
    token = uploads.keep_token("secret", 7, value)
    assert uploads.kept_file("secret", 7, token) == value
    assert uploads.kept_file("secret", 8, token) is None  # another person
    assert uploads.kept_file("other-secret", 7, token) is None  # another installation
    assert uploads.kept_file("secret", 7, token + "x") is None  # tampered
