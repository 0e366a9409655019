"""Entry point for `flask --app app`, gunicorn (`app:create_app()`) and the RQ workers."""

from portal import create_app

__all__ = ["create_app"]
