"""Baton: a low-code forms and approval portal."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from portal import config as settings

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, commands, in that order."""
    instance = os.environ.get("BATON_INSTANCE") or str(ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=str(Path(instance).resolve()),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(settings.from_environment(app.instance_path))
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        raise ValueError(settings.MISSING_SECRET_KEY)
    _configure_logging(app)

    from portal import storage

    storage.init_app(app)

    from portal import models  # noqa: F401  (registers the tables before Alembic looks)
    from portal.extensions import csrf, db, htmx, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)

    from portal.blueprints import RowIdConverter

    # Before any route is added: every <int:...> in a URL is a row id (see RowIdConverter).
    app.url_map.converters["int"] = RowIdConverter

    from portal import limits, web
    from portal.services import webhooks

    limits.init_app(app)
    web.init_app(app)
    webhooks.init_app(app)

    from portal import cli

    cli.init_app(app)
    return app


def _configure_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=os.environ.get("BATON_LOG_LEVEL", "INFO"),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    # Alembic announces every plugin it loads; an operator needs none of that.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # WeasyPrint logs each stylesheet it parses (its own three at import) as "progress".
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
