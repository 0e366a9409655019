"""The web process of `make run`: Werkzeug's development server without its start-up notices.

    python -m portal.processes.devweb --host 127.0.0.1 --port 5000

`flask run` prints its own banner and a production warning before the portal answers; `make
run` prints one banner of its own once it does (portal.processes.devserver). Requests are
logged at INFO (BATON_LOG_LEVEL=INFO, or `make run VERBOSE=1`); errors always. Development only.
"""

from __future__ import annotations

import argparse
import logging
import os

from werkzeug.serving import run_simple

from portal import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    options = parser.parse_args(argv)
    app = create_app()
    level = os.environ.get("BATON_LOG_LEVEL", "INFO")
    logging.getLogger("werkzeug").setLevel(level)
    try:
        run_simple(options.host, options.port, app, threaded=True)
    except KeyboardInterrupt:
        pass  # Ctrl-C, or the supervisor's SIGINT: a clean stop


if __name__ == "__main__":
    main()
