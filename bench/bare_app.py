"""The baseline for bench/web.py: a bare Flask endpoint, served by the same gunicorn settings."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    """The least a Flask view can do."""
    return "Hello, World!"


@app.get("/health")
def health():
    return {"status": "ok"}
