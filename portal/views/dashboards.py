"""Dashboards: the platform's (supervisors, filterable by shop) and each shop's own, with
every table as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from markupsafe import Markup

from portal.domain import labels
from portal.domain.policy import REASON_LABELS, Reason
from portal.domain.rollups import COME_BACK_DAYS
from portal.infra.i18n import gettext
from portal.services.reports import dashboard
from portal.views.access import merchant_required, supervisor_required
from portal.views.note_words import duration_words
from portal.web import channel_name, error_page

bp = Blueprint("dashboards", __name__)

#: characters a spreadsheet reads as the start of a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _int_arg(name: str, low: int, high: int) -> int | None:
    """A whole-number query parameter within bounds, else None (never an error page)."""
    raw = request.args.get(name, "")
    if not raw.isdigit() or len(raw) > 9:
        return None
    value = int(raw)
    return value if low <= value <= high else None


def _filters(shop_id: int | None) -> dashboard.Filters:
    return dashboard.filters(
        shop_id,
        _int_arg("product", 0, 2**31 - 1),
        request.args.get("channel", ""),
        request.args.get("start", ""),
        request.args.get("end", ""),
    )


@bp.get("/review/dashboard")
@supervisor_required
def platform() -> ResponseReturnValue:
    """The platform's figures, or one shop's when ``shop`` names one."""
    d = dashboard.build(_filters(_int_arg("shop", 1, 2**31 - 1)))
    return render_template(
        "review/dashboard.html", d=d, shops=dashboard.shops(), **_choices(d), csv_to=_csv_url(d)
    )


@bp.get("/merchant/dashboard")
@merchant_required
def shop() -> ResponseReturnValue:
    """The merchant's own shop's figures (a ``shop`` parameter is ignored)."""
    d = dashboard.build(_filters(current_user.merchant_id))
    return render_template("merchant/dashboard.html", d=d, **_choices(d), csv_to=_csv_url(d))


@bp.get("/review/dashboard/<table>.csv")
@supervisor_required
def platform_csv(table: str) -> ResponseReturnValue:
    """One of the platform dashboard's tables as CSV."""
    return _csv(table, dashboard.build(_filters(_int_arg("shop", 1, 2**31 - 1)), None))


@bp.get("/merchant/dashboard/<table>.csv")
@merchant_required
def shop_csv(table: str) -> ResponseReturnValue:
    """One of the shop dashboard's tables as CSV."""
    return _csv(table, dashboard.build(_filters(current_user.merchant_id), None))


def _choices(d: dashboard.Dashboard) -> dict[str, object]:
    return {
        "bucket_edges": dashboard.bucket_edges(),
        "last_edge": dashboard.bucket_edges()[-2],
        "reason_labels": REASON_LABELS,
        "come_back_days": COME_BACK_DAYS,
        "products": dashboard.product_choices(d),
        "channel_ids": sorted({c.channel for c in d.channels} | ({d.filters.channel} - {""})),
    }


def _csv_url(d: dashboard.Dashboard) -> dict[str, object]:
    """The query parameters every CSV link repeats (the page's filters)."""
    f = d.filters
    args: dict[str, object] = {"start": f.first.isoformat(), "end": f.last.isoformat()}
    if f.shop_id is not None and request.endpoint == "dashboards.platform":
        args["shop"] = f.shop_id
    if f.product_id is not None:
        args["product"] = f.product_id
    if f.channel:
        args["channel"] = f.channel
    return args


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _pct(value: int | None) -> str:
    return "" if value is None else str(value)


def _edge(minutes: int | None) -> str:
    """A bucket's upper edge in words, as the page says it."""
    if minutes is None:
        return ""
    if minutes < 0:
        last = duration_words(dashboard.bucket_edges()[-2])
        return gettext("longer than %(time)s", time=last)
    return gettext("at most %(time)s", time=duration_words(minutes))


def _channel(channel_id: str) -> str:
    name = channel_name(channel_id)
    return channel_id if isinstance(name, Markup) else name


def _reason(code: str) -> str:
    try:
        return gettext(REASON_LABELS[Reason(code)])
    except ValueError:
        return code


def _tables() -> dict[str, Callable[[dashboard.Dashboard], tuple[list[str], list[list[object]]]]]:
    return {
        "days": lambda d: (
            [
                gettext("Week from") if d.weekly else gettext("Day"),
                gettext("Paid orders"),
                gettext("Filed"),
                gettext("Refunded"),
                gettext("Rejected"),
            ],
            [[p.start, p.paid, p.filed, p.refunded, p.rejected] for p in d.periods],
        ),
        "products": lambda d: (
            [
                gettext("Product"),
                gettext("Paid orders"),
                gettext("Filed"),
                gettext("Refunded"),
                gettext("Refunded amount (yuan)"),
                gettext("Refund rate (%)"),
            ],
            [
                [
                    p.title,
                    p.paid,
                    p.filed,
                    p.refunded,
                    f"{p.refunded_fen // 100}.{p.refunded_fen % 100:02d}",
                    _pct(p.rate_pct),
                ]
                for p in d.products
            ],
        ),
        "reasons": lambda d: (
            [
                gettext("Reason"),
                gettext("Filed"),
                gettext("Refunded"),
                gettext("Rejected"),
                gettext("Refund rate (%)"),
            ],
            [
                [_reason(r.reason), r.filed, r.refunded, r.rejected, _pct(r.rate_pct)]
                for r in d.reasons
            ],
        ),
        "channels": lambda d: (
            [
                gettext("Payment route"),
                gettext("Arrived"),
                gettext("On time"),
                gettext("On time (%)"),
                gettext("Median"),
                gettext("90th percentile"),
            ],
            [
                [
                    _channel(c.channel),
                    c.arrived,
                    c.on_time,
                    _pct(c.on_time_pct),
                    _edge(c.times.p50),
                    _edge(c.times.p90),
                ]
                for c in d.channels
            ],
        ),
        "times": lambda d: (
            [gettext("Time taken"), gettext("Decisions"), gettext("Merchants' first answers")],
            [
                [_edge(edge), decided, answered]
                for edge, decided, answered in zip(
                    dashboard.bucket_edges(), d.review.counts, d.answer.counts, strict=True
                )
            ],
        ),
        "came_back": lambda d: (
            [
                gettext("Buyers"),
                gettext("Orders or decisions"),
                gettext("Came back"),
                gettext("Share (%)"),
            ],
            [
                [gettext(labels.CAME_BACK_LABELS[kind]), base, back, _pct(share)]
                for kind, base, back, share in d.came_back
            ],
        ),
        "backlog": lambda d: (
            [gettext("Open for"), gettext("Open cases")],
            [
                [
                    gettext(labels.BACKLOG_LABELS[i]),
                    n,
                ]
                for i, (_edge_days, n) in enumerate(d.backlog.groups)
            ],
        ),
    }


def _csv(table: str, d: dashboard.Dashboard) -> ResponseReturnValue:
    make = _tables().get(table)
    if make is None:
        return error_page(404, gettext("No such table."))
    header, rows = make(d)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    f = d.filters
    name = f"dashboard-{table}-{f.first.isoformat()}-{f.last.isoformat()}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
