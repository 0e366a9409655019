"""Admins: forms and their schemas, edited in the browser with a live preview and versions."""
