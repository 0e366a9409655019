"""A development mailbox: an SMTP server that keeps every message as a file, for `make run`.

    python -m portal.processes.devmail --port 8025 --folder instance/mailbox

The messages are shown at /dev/mailbox, so the links in approval emails can be followed in
a browser without a real mail server. Development only.
"""

from __future__ import annotations

import argparse
import signal
import threading
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller

from portal import clock


class FolderHandler:
    """Writes each received message to `folder` as <timestamp>-<random>.eml."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        name = f"{clock.now():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
        temporary = self.folder / f".{name}"
        temporary.write_bytes(envelope.content)
        temporary.rename(self.folder / name)
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--quiet", action="store_true", help="say nothing on start")
    options = parser.parse_args(argv)
    controller = Controller(FolderHandler(options.folder), hostname=options.host, port=options.port)
    controller.start()
    if not options.quiet:
        print(
            f"Development mailbox on smtp://{options.host}:{options.port}, "
            f"writing to {options.folder}"
        )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
