"""The processes Baton runs as: the development runner and mailbox, `make serve`, gunicorn's
settings, the RQ worker classes and the cron sweep's config. Launchers only: no rules live here."""
