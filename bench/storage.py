"""Kept files through object storage against the instance folder: uploads and downloads.

    .venv/bin/python -m bench.storage [--quick]

Makes its own PostgreSQL database (baton_bench_storage), Redis and S3 API: moto's server
(`moto_server`, the same S3 implementation the tests use) as a process of its own on
127.0.0.1. Two gunicorn servers run the portal as `make serve` does, one process each, on the
same database: one keeps files in its instance folder, the other in a bucket
(BATON_STORAGE_URL=s3://...). Alice, signed in to each, in turn:

- submits a vendor invoice with a PDF attachment of 1 MB, and of 8 MB (new bytes every time,
  so nothing is skipped as already kept);
- downloads a request's audit-trail PDF (rendered once beforehand, kept in both places);
- downloads the 8 MB attachment.

Each figure is the median wall time of a whole HTTP request as the client sees it; the two
servers are asked alternately, so both see the same machine. The ratio is object storage's
median over the folder's. Writes the "storage" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench import report
from bench._support import (
    BIN,
    PASSWORD,
    _wait_for,
    app_env,
    drop_database,
    exit_cleanly_on_sigterm,
    free_port,
    fresh_database,
    gunicorn,
    median,
    prepare_portal,
    redis_server,
    say,
)

DATABASE = "baton_bench_storage"
MB = 1024 * 1024
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
INVOICE = {
    "vendor_name": "Acme Office Supplies GmbH",
    "vendor_email": "billing@acme.example",
    "invoice_number": "INV-2026-0042",
    "invoice_date": "2026-11-02",
    "due_date": "2026-12-02",
    "currency": "EUR",
    "cost_centre": "CC-100",
    "lines-0-description": "Desk lamps",
    "lines-0-quantity": "5",
    "lines-0-unit_price": "55",
    "_action": "submit",
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 15")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    rounds = 3 if args.quick else 15
    with (
        redis_server() as redis_url,
        tempfile.TemporaryDirectory() as folder,
        s3_server() as s3,
    ):
        bucket = f"baton-bench-{uuid.uuid4().hex[:8]}"
        _client(s3).create_bucket(Bucket=bucket)
        base = app_env(fresh_database(DATABASE), redis_url, Path(folder) / "instance")
        base |= s3 | {"BATON_RATE_LIMITS_OFF": "1", "WEB_CONCURRENCY": "1"}
        local = dict(base, BATON_STORAGE_URL=(Path(folder) / "files").as_uri())
        remote = dict(base, BATON_STORAGE_URL=f"s3://{bucket}/bench")
        try:
            prepare_portal(local)
            with (
                gunicorn("app:create_app()", local) as local_url,
                gunicorn("app:create_app()", remote) as remote_url,
            ):
                results = measure(local_url, remote_url, local, remote, rounds)
        finally:
            drop_database(DATABASE)
    write(results, rounds)
    return results


@contextlib.contextmanager
def s3_server():
    """moto's S3 server as a process on a free port; yields the variables boto3 reads."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    environ = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        _wait_for(lambda: _listening(port), "moto_server", 30)
        yield environ
    finally:
        process.terminate()
        process.wait(timeout=20)


def _listening(port: int) -> bool:
    try:
        with contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=1)) as c:
            c.request("GET", "/")
            c.getresponse().read()
            return True
    except OSError:
        return False


def _client(environ: dict[str, str]):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=environ["AWS_ENDPOINT_URL"],
        aws_access_key_id=environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environ["AWS_SECRET_ACCESS_KEY"],
        region_name=environ["AWS_DEFAULT_REGION"],
    )


class Browser:
    """One signed-in person against one server: cookies kept by hand (the production session
    cookie is Secure, which a cookie jar would not send over plain http to 127.0.0.1)."""

    def __init__(self, url: str, email: str):
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.cookies: dict[str, str] = {}
        page = self.request("GET", "/login")[1].decode()
        self.token = _token(page)
        status, _ = self.request(
            "POST",
            "/login",
            urlencode({"csrf_token": self.token, "email": email, "password": PASSWORD}).encode(),
            "application/x-www-form-urlencoded",
        )
        assert status == 302, f"{email} could not sign in"
        self.token = _token(self.request("GET", "/forms/vendor_invoice/new")[1].decode())

    def request(self, method: str, path: str, body: bytes | None = None, kind: str = ""):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if kind:
            headers["Content-Type"] = kind
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        content = response.read()
        for header in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        self.last = response
        return response.status, content

    def submit(self, attachment: bytes) -> tuple[int, str]:
        """Post a vendor invoice with this PDF; the status and where it redirects to."""
        boundary = uuid.uuid4().hex
        fields = dict(INVOICE, csrf_token=self.token)
        head = '--{}\r\nContent-Disposition: form-data; name="{}"\r\n\r\n{}\r\n'
        parts = [head.format(boundary, name, value).encode() for name, value in fields.items()]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="invoice_file"; '
            'filename="invoice.pdf"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
            + attachment
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        status, content = self.request(
            "POST",
            "/forms/vendor_invoice/new",
            b"".join(parts),
            f"multipart/form-data; boundary={boundary}",
        )
        assert status == 302, f"the upload was refused ({status}): {content[:300]!r}"
        return status, self.last.getheader("Location", "")


def _token(page: str) -> str:
    found = _TOKEN.search(page)
    assert found, "no CSRF token on the page"
    return found.group(1) or found.group(2)


def _pdf(size: int) -> bytes:
    """A PDF-looking file of `size` bytes, different every time (new content to keep)."""
    head = b"%PDF-1.4\n% " + uuid.uuid4().hex.encode() + b"\n"
    tail = b"\n%%EOF\n"
    return head + os.urandom(size - len(head) - len(tail)) + tail


def _timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def measure(local_url, remote_url, local_env, remote_env, rounds) -> dict:
    """Median seconds per request, for each operation and each storage."""
    servers = {"folder": Browser(local_url, "alice@example.com")}
    servers["object storage"] = Browser(remote_url, "alice@example.com")
    say("Preparing: a request with an 8 MB attachment and its audit-trail PDF, kept in both")
    big = _pdf(8 * MB)
    submission_id, attachment_id = _prepare(local_env, remote_env, servers, big)
    pdf_path = f"/submissions/{submission_id}/audit.pdf"
    file_path = f"/submissions/{submission_id}/files/{attachment_id}"
    operations = {
        "upload, 1 MB attachment": lambda b: b.submit(_pdf(1 * MB)),
        "upload, 8 MB attachment": lambda b: b.submit(_pdf(8 * MB)),
        "audit-trail PDF download": lambda b: b.request("GET", pdf_path),
        "attachment download, 8 MB": lambda b: b.request("GET", file_path),
    }
    times: dict[str, dict[str, list[float]]] = {
        op: {name: [] for name in servers} for op in operations
    }
    sizes = {}
    for number in range(rounds + 1):  # the first round warms both servers and is not counted
        for operation, call in operations.items():
            for name, browser in servers.items():
                seconds, outcome = _timed(lambda call=call, browser=browser: call(browser))
                if operation.endswith("download"):
                    status, content = outcome
                    assert status == 200, f"{operation} from {name}: {status}"
                    sizes[operation] = len(content)
                if number:
                    times[operation][name].append(seconds)
        say(f"  round {number}/{rounds} done")
    results = {}
    for operation, by_name in times.items():
        folder, remote = median(by_name["folder"]), median(by_name["object storage"])
        results[operation] = (folder, remote, remote / folder)
        say(
            f"{operation}: folder {folder * 1000:.1f} ms, object storage {remote * 1000:.1f} ms, "
            f"ratio {remote / folder:.2f}"
        )
    results["pdf size"] = sizes.get("audit-trail PDF download", 0)
    return results


def _prepare(local_env, remote_env, servers, attachment: bytes) -> tuple[int, int]:
    """Submit one request through the folder's server, render its audit trail (as the
    render_pdf job does) and copy its files to the bucket, so both servers can serve it."""
    _, location = servers["folder"].submit(attachment)
    submission_id = int(re.search(r"/submissions/(\d+)", location).group(1))
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(local_env)
    try:
        from portal import create_app, storage
        from portal.extensions import db
        from portal.models import Submission
        from portal.services import records

        app = create_app()
        with app.app_context():
            submission = db.session.get(Submission, submission_id)
            records.render(submission, None)
            attachment_id = submission.attachments[0].id
            db.session.commit()
            target = storage.from_url(remote_env["BATON_STORAGE_URL"], app.instance_path)
            outcome = storage.copy_all(storage.current(), target, {})
            assert outcome.failed == 0
            db.engine.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return submission_id, attachment_id


def write(results: dict, rounds: int) -> None:
    rows = [
        [
            operation,
            f"{folder * 1000:.1f}",
            f"{remote * 1000:.1f}",
            f"**{ratio:.2f}**",
        ]
        for operation, (folder, remote, ratio) in (
            (k, v) for k, v in results.items() if isinstance(v, tuple)
        )
    ]
    body = (
        "`bench/storage.py`: whole HTTP requests to two gunicorn servers (one process each, "
        "`make serve`'s settings) on the same PostgreSQL database, one keeping files in a "
        "folder, the other in an S3 bucket (`BATON_STORAGE_URL=s3://...`) served by moto's S3 "
        "server on 127.0.0.1, asked alternately; median of "
        f"{rounds} rounds after one warm-up. An upload is a whole vendor invoice submitted "
        "with a new PDF attachment (checked, hashed, kept, the request saved); the audit-trail "
        f"PDF ({results['pdf size'] / 1024:.0f} KB) and the attachment are downloaded "
        "through the portal, streamed from where they are kept.\n\n"
        + report.table(
            ["operation", "folder (ms)", "object storage (ms)", "object storage / folder"],
            rows,
        )
        + "\n\nmoto is an S3 implementation in Python, so its own work is part of the object "
        "storage column; a dedicated store (MinIO, Ceph, Garage, AWS S3) has costs of its own "
        "and sits across a network rather than on loopback, so measure yours with this script "
        "pointed at it before relying on the absolute numbers. Uploads go to S3 in parts of "
        "8 MB, with about 50 MB in memory at most whatever the file's size, and downloads "
        "come back in chunks of 256 KB, streamed through the portal to the browser "
        "(tests/test_storage.py measures both with a 160 MB file)."
    )
    report.write_section("storage", "Storage: object storage against the instance folder", body)


if __name__ == "__main__":
    main()
