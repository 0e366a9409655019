"""The development mailbox shows each person only the emails addressed to them; admins all."""

from pathlib import Path

import pytest

TO_ALICE = "20261207T080000000000-0000aaaa.eml"
TO_BOB = "20261207T080100000000-0000bbbb.eml"


@pytest.fixture
def dev_mailbox(app):
    folder = Path(app.config["DEV_MAILBOX"])
    folder.mkdir(parents=True, exist_ok=True)
    for name, to in ((TO_ALICE, "Alice Martin <alice@example.com>"), (TO_BOB, "bob@example.com")):
        (folder / name).write_text(
            f"From: baton@localhost\nTo: {to}\nSubject: Approval needed for {name[-8:-4]}\n\n"
            "Decide here: http://127.0.0.1:5000/act/a-personal-link\n"
        )
    return folder


def test_a_person_sees_only_the_emails_addressed_to_them(browser, alice, bob, dev_mailbox):
    browser.login(alice.email)
    listing = browser.get("/dev/mailbox").text
    assert TO_ALICE in listing and TO_BOB not in listing
    assert browser.get(f"/dev/mailbox/{TO_ALICE}").status_code == 200
    other = browser.get(f"/dev/mailbox/{TO_BOB}")
    assert other.status_code == 404 and "a-personal-link" not in other.text


def test_an_admin_sees_every_email(browser, make_user, dev_mailbox):
    ada = make_user("ada@example.com", "Ada Byrne", groups=["admin"])
    browser.login(ada.email)
    listing = browser.get("/dev/mailbox").text
    assert TO_ALICE in listing and TO_BOB in listing
    assert browser.get(f"/dev/mailbox/{TO_BOB}").status_code == 200
