"""mail.send against a real SMTP server: the record is prepared before the final dot, committed
on the server's 250, and a failure before the dot leaves the server with nothing."""

import socket

import pytest

from portal import mail


def composed(text="Hello Bob,\n\nPlease look at INV-42.\n"):
    return mail.Composed("Please approve INV-42", text, f"<p>{text}</p>", text)


def test_the_hooks_run_around_the_final_dot_and_on_the_servers_250(app, mailbox):
    seen = []
    with app.app_context():
        mail.send(
            "bob@example.com",
            "Bob",
            composed(),
            before_final_dot=lambda: seen.append(("before dot", len(mailbox.messages))),
            after_final_dot=lambda: seen.append(("after dot", None)),
            on_accepted=lambda: seen.append(("accepted", len(mailbox.messages))),
        )
    assert seen == [("before dot", 0), ("after dot", None), ("accepted", 1)]
    assert mailbox.messages[0]["Subject"] == "Please approve INV-42"


def test_a_failure_before_the_dot_leaves_the_server_with_nothing(app, mailbox):
    class RecordingFailed(Exception):
        pass

    def fail():
        raise RecordingFailed

    accepted = []
    with app.app_context(), pytest.raises(RecordingFailed):
        mail.send(
            "bob@example.com",
            "Bob",
            composed(),
            before_final_dot=fail,
            on_accepted=lambda: accepted.append(True),
        )
    assert mailbox.messages == [] and accepted == []
    with app.app_context():  # the next send on a fresh connection goes through
        mail.send("bob@example.com", "Bob", composed())
    assert len(mailbox.messages) == 1


def test_lines_that_start_with_a_dot_arrive_as_written(app, mailbox):
    text = "Line one\n.\n..two dots\n.hidden\nend\n"
    with app.app_context():
        mail.send("bob@example.com", "Bob", composed(text), before_final_dot=lambda: None)
    (message,) = mailbox.messages
    assert mailbox.text(message).replace("\r\n", "\n") == text


def test_the_connection_sends_small_writes_at_once(app, mailbox):
    """The final dot is a write of its own: with Nagle's algorithm on, it waited for the
    server's delayed acknowledgement of the body (40 ms a message on Linux)."""
    import socket

    with app.app_context():
        client = mail._connect(app.config)
        try:
            assert client.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            client.quit()


def test_messages_share_a_connection_and_a_broken_one_is_replaced(app, mailbox):
    with app.app_context():
        mail.send("bob@example.com", "Bob", composed())
        mail.send("carol@example.com", "Carol", composed())
        assert len(mailbox.peers) == 2 and mailbox.peers[0] == mailbox.peers[1]
        mail._kept.client.sock.shutdown(socket.SHUT_RDWR)  # as when the server hangs up on it
        mail.send("dave@example.com", "Dave", composed())
    assert [m["To"] for m in mailbox.messages][-1] == "Dave <dave@example.com>"
    assert mailbox.peers[2] != mailbox.peers[1]  # a new connection, and nothing lost


def test_a_connection_is_not_kept_after_a_failure_or_for_another_server(app, mailbox):
    class RecordingFailed(Exception):
        pass

    def fail():
        raise RecordingFailed

    with app.app_context():
        mail.send("bob@example.com", "Bob", composed())
        with pytest.raises(RecordingFailed):
            mail.send("bob@example.com", "Bob", composed(), before_final_dot=fail)
        assert mail._kept.client is None  # closed: the server dropped the half-sent message
        mail.send("carol@example.com", "Carol", composed())
        assert mail._kept.client is not None
        app.config["MAIL_PORT"] = 1  # another server (nobody listens there)
        with pytest.raises(OSError):
            mail.send("dave@example.com", "Dave", composed())
    assert [m["To"] for m in mailbox.messages] == [
        "Bob <bob@example.com>",
        "Carol <carol@example.com>",
    ]
    assert len(set(mailbox.peers)) == 2


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x1c", "\r\n", "\x00"])
def test_line_separators_in_a_subject_or_name_never_stop_an_email(app, mailbox, separator):
    message = mail.Composed(f"Approval needed: Acme{separator}Supplies", "Hi", "<p>Hi</p>", "Hi")
    with app.app_context():
        mail.send("bob@example.com", f"Bob{separator}Okafor", message)
    (received,) = mailbox.messages
    assert received["Subject"] == "Approval needed: Acme Supplies"
    assert received["To"] == "Bob Okafor <bob@example.com>"


def test_a_vendor_name_with_a_line_separator_still_gets_its_approval_email(
    approvals, org, vendor_invoice, mailbox
):
    approvals.submit_invoice(vendor_name="Acme\u2028Office Supplies")
    (asked,) = [m for m in mailbox.messages if m["Subject"].startswith("Approval needed")]
    assert "Acme Office Supplies" in asked["Subject"]
