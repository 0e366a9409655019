"""filetype.sniff tells a file's kind by its bytes; describe names kinds for people."""

from __future__ import annotations

import io
import zipfile

import pytest

from portal.domain import filetype
from portal.domain.filetype import FILE_KINDS, HEAD_BYTES, describe, sniff


def office_file(*parts: str) -> bytes:
    """A ZIP archive holding `parts` (each with a little XML), like an Office file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in parts:
            archive.writestr(part, "<?xml version='1.0'?><x/>")
    return buffer.getvalue()


DOCX = office_file("[Content_Types].xml", "_rels/.rels", "word/document.xml")
XLSX = office_file("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/worksheets/1.xml")


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"),
        (b"\xff\xd8\xff\xe1\x00\x18Exif\x00", "jpeg"),
        (b"GIF87a\x01\x00\x01\x00", "gif"),
        (b"GIF89a\x01\x00\x01\x00", "gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
    ],
)
def test_kind_is_told_by_its_magic_bytes(head, kind):
    assert sniff(head) == kind


@pytest.mark.parametrize("name", ["", "invoice.pdf", "photo.png", "data.csv"])
def test_name_does_not_change_a_binary_kind(name):
    assert sniff(b"%PDF-1.4\n", name=name) == "pdf"
    assert sniff(b"\x89PNG\r\n\x1a\n", name=name) == "png"


@pytest.mark.parametrize(
    "head",
    [
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # RIFF, but sound
        b"\x89PNG\r\n",  # too short to be the signature
        b"MZ\x90\x00\x03\x00\x00\x00",  # a Windows program
        b"\x00\x01\x02\x03",
        b"\xff\xfe\xfd\xfc",
        b"\x7fELF\x02\x01\x01\x00\x00",
        b"",
    ],
)
def test_unknown_bytes_are_no_kind(head):
    assert sniff(head) is None
    assert sniff(head, name="notes.txt") is None


@pytest.mark.parametrize(("data", "kind"), [(DOCX, "docx"), (XLSX, "xlsx")])
def test_office_file_is_told_by_the_parts_inside_it(data, kind):
    whole = io.BytesIO(data)
    whole.seek(17)
    assert sniff(data[:HEAD_BYTES], whole, name="anything.zip") == kind
    assert whole.tell() == 0  # the caller can read the file again from the start


@pytest.mark.parametrize(
    "data",
    [
        office_file("readme.txt", "word/document.xml"),  # no [Content_Types].xml
        office_file("[Content_Types].xml", "ppt/presentation.xml"),  # a slide deck
        office_file("photo.jpg"),
    ],
)
def test_zip_that_is_not_an_accepted_office_file_is_no_kind(data):
    assert sniff(data[:HEAD_BYTES], io.BytesIO(data)) is None


def test_zip_without_the_whole_file_is_no_kind():
    assert sniff(DOCX[:HEAD_BYTES]) is None


def test_broken_zip_is_no_kind():
    data = b"PK\x03\x04" + b"\x00" * 100
    whole = io.BytesIO(data)
    assert sniff(data, whole) is None
    assert whole.tell() == 0


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("data.csv", "csv"),
        ("DATA.CSV", "csv"),
        ("notes.txt", "txt"),
        ("data.csv.txt", "txt"),
        ("", "txt"),
    ],
)
def test_text_is_csv_or_plain_text_by_its_name(name, kind):
    assert sniff(b"date,amount\n2026-03-01,12.50\n", name=name) == kind


@pytest.mark.parametrize(
    "head",
    [
        "Zoë paid 12 € for the café".encode(),
        "東京".encode(),
        b"\xef\xbb\xbfwith a byte order mark",
        b"\t\r\n",
    ],
)
def test_utf8_text_is_text(head):
    assert sniff(head) == "txt"


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_character_cut_off_at_the_end_of_the_head_still_counts_as_text(cut):
    head = ("a" * 20 + "😀").encode()[:-cut]  # a four-byte character, cut short
    assert sniff(head, name="x.csv") == "csv"


@pytest.mark.parametrize(
    "head",
    [
        b"plain text\x00with a NUL",
        b"latin-1 caf\xe9 in the middle",
        b"\xe2\x82 broken, then more text",
        b"text then a stray continuation byte \x80",
    ],
)
def test_text_that_is_not_utf8_or_holds_nul_is_no_kind(head):
    assert sniff(head) is None


@pytest.mark.parametrize(
    ("keys", "text"),
    [
        ((), ""),
        (("pdf",), "PDF"),
        (("pdf", "png"), "PDF or PNG image"),
        (("pdf", "png", "jpeg"), "PDF, PNG image or JPEG image"),
        (["docx", "xlsx", "csv", "txt"], "Word document, Excel workbook, CSV or plain text"),
        (("pdf", "exe"), "PDF"),  # a key no longer known is left out
    ],
)
def test_describe_lists_kinds_for_people(keys, text):
    assert describe(keys) == text


def test_every_kind_has_a_content_type_and_an_extension():
    for key, kind in FILE_KINDS.items():
        assert kind.key == key
        assert "/" in kind.content_type
        assert kind.extension.startswith(".")


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("poly.html", "pdf", "poly.pdf"),
        ("invoice.PDF", "pdf", "invoice.PDF"),
        ("photo.jpeg", "jpeg", "photo.jpeg"),
        ("photo.png", "jpeg", "photo.jpg"),
        ("notes.md", "txt", "notes.txt"),
        ("report", "pdf", "report.pdf"),
        ("report.v2 final", "pdf", "report.v2 final.pdf"),
        ("data.csv", "csv", "data.csv"),
        ("odd.name", None, "odd.name"),
    ],
)
def test_a_name_takes_the_extension_of_the_kind_its_bytes_are(name, kind, expected):
    assert filetype.named(name, kind) == expected
