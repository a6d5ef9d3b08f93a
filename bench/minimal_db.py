"""The minimal database page the scale bench serves beside the portal (``bench.minimal_db:app``):
Flask and Flask-SQLAlchemy alone, one primary-key SELECT of an order on the same PostgreSQL
(``BENCH_MINIMAL_DATABASE_URL``), a small template in the portal's own base layout
(``portal/templates/base.html``, as a visitor who is not logged in sees it)."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Blueprint, Flask, abort, render_template
from flask_sqlalchemy import SQLAlchemy
from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PORTAL = Path(__file__).resolve().parent.parent / "portal"
PAGE = """{% extends "base.html" %}
{% block title %}Order {{ order.order_no }}{% endblock %}
{% block main %}
  <h1>Order {{ order.order_no }}</h1>
  <p>¥{{ "%.2f"|format(order.amount_fen / 100) }} · {{ order.buyer_contact }}</p>
{% endblock %}
"""


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Order(db.Model):  # type: ignore[name-defined,misc]
    """The columns of the portal's ``orders`` the page shows."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str]
    buyer_contact: Mapped[str]
    amount_fen: Mapped[int]


class _Visitor:
    is_authenticated = False


app = Flask(__name__, static_folder=str(PORTAL / "static"))
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get(
    "BENCH_MINIMAL_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
db.init_app(app)
app.jinja_loader = ChoiceLoader(  # type: ignore[assignment]
    [DictLoader({"order.html": PAGE}), FileSystemLoader(str(PORTAL / "templates"))]
)
app.jinja_env.add_extension("jinja2.ext.i18n")
app.jinja_env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
app.jinja_env.globals.update(current_locale="en", current_user=_Visitor(), unread=0)

# the base layout links to these two
buyer = Blueprint("buyer", __name__)


@buyer.get("/")
def index() -> str:
    return "hello"


@buyer.get("/lang/<code>")
def language(code: str) -> str:
    return code


app.register_blueprint(buyer)


@app.get("/orders/<int:order_id>")
def order(order_id: int) -> str:
    found = db.session.get(Order, order_id)
    if found is None:
        abort(404)
    return render_template("order.html", order=found)
