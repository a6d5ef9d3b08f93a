"""The hello-world Flask app the RSS bench serves beside the portal (``bench.hello:app``)."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return "hello"
