"""A seeded synthetic history on which the risk rules are scored against known labels, and on
which the supervisors' dashboards are screenshotted.

``python -m bench risk_history [--seed N] [--signals off] [--no-screens] [--out DIR]``:

1. **History** (four weeks, a fresh SQLite database unless ``--url``): six shops, each with
   background orders nobody disputes; honest buyers who sometimes apply (a code that would not
   work, revealed first or not; an order never delivered; goods not as described); three kinds
   of abusers, each case labelled: ``reveal_then_invalid`` (the buyer reveals the code, then
   claims it invalid, in several shops over the weeks), ``shop_hopping`` (one contact applying
   in five shops within an hour, from one address) and ``picture_reuse`` (one screenshot
   re-encoded, resized or cropped, sent by different contacts); and one shop (``refuser``)
   whose merchant refuses nearly every case, most of which reviewers then refund. Every order,
   reveal, application, merchant answer and decision goes through the portal's services
   (``reveal_code``, ``apply_for_refund``, ``merchant_agree``/``merchant_refuse``,
   ``approve``/``reject``), so the signals and levels are those filing computes.
2. **Score**: a case is "flagged" when its level at filing is review or high; precision and
   recall against the labels, per pattern too; whether ``merchant_watch.watch()`` (the
   watched-shops page's service) flags the refuser and no honest shop.
3. **Screens** (unless ``--no-screens``): the platform dashboard, the refuser's dashboard, the
   watched shops and the review queue in headless Chromium, as PNG under
   ``bench/results/risk-history-<UTC time>/`` with ``figures.json`` beside them.

``--signals off`` sets every rule to "never" through the rules service first (the operator's
settings page does the same): the baseline a test compares against.
"""

from __future__ import annotations

import argparse
import heapq
import io
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_SEED = 20261206
#: the history ends here (a Tuesday morning in Beijing, away from holidays)
END = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
DAYS = 28
SHOPS = ("north", "south", "east", "west", "central", "refuser")
#: shops whose fast lane a supervisor opened (fen)
FAST_LANE = {"north": 5000, "east": 5000}
HONEST_BUYERS = 70
BACKGROUND_ORDERS = 25  # per shop, never disputed
#: share of honest "code does not work" claims whose code was revealed first (the buyer looked
#: at it, tried it, it failed): the rules cannot tell these from an abuser's
HONEST_REVEAL_SHARE = 0.25
ABUSE = "abuse"
HONEST = "honest"


class Clock:
    """The portal's clock for the run: moved by the generator, never backwards."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def to(self, when: datetime) -> datetime:
        self.current = max(self.current, when)
        return self.current


@dataclass
class Filing:
    """One application to make: when, by whom, in which shop, and its known label."""

    at: datetime
    shop: str
    contact: str
    label: str
    pattern: str
    reason: str = "unusable"
    reveal: bool = False
    delivered: bool = True
    amount_fen: int = 3000
    address: str = ""
    picture: bytes | None = None


@dataclass
class Outcome:
    """A filed case's label and what the rules said."""

    case_id: int
    case_no: str
    shop: str
    label: str
    pattern: str
    level: str
    auto_rule: str
    raised_by: tuple[str, ...] = ()  # the signals that reached review or high


@dataclass
class History:
    """What the generator made."""

    outcomes: list[Outcome] = field(default_factory=list)
    shop_ids: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench risk_history")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--signals", choices=("on", "off"), default="on")
    p.add_argument("--no-screens", action="store_true", help="skip the Chromium screenshots")
    p.add_argument("--url", default="", help="database URL (default: a fresh SQLite file)")
    p.add_argument("--out", default=None, help="folder for the figures (default: results/)")
    return p.parse_args(argv)


# ---- pictures -----------------------------------------------------------------------------


def _screenshot(rnd: random.Random) -> Any:
    """A phone screenshot of an order page (bars of colour, a stamp), drawn from ``rnd``."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (720, 1280), (245, 245, 245))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, 720, 120), fill=(rnd.randrange(256), rnd.randrange(256), 90))
    for i in range(14):
        y = 160 + i * 75
        colour = (rnd.randrange(200), rnd.randrange(200), rnd.randrange(200))
        d.rectangle((30, y, 30 + rnd.randrange(200, 660), y + 40), fill=colour)
    x0, y0 = rnd.randrange(400), rnd.randrange(800)
    d.ellipse(
        (x0, y0, rnd.randrange(x0 + 50, 720), rnd.randrange(y0 + 50, 1280)), fill=(200, 40, 40)
    )
    return im


def _encoded(im: Any, fmt: str = "PNG", **kw: Any) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def _altered(im: Any, how: int) -> bytes:
    """The picture as an abuser sends it again: as is, re-encoded, resized or cropped."""
    w, h = im.size
    return [
        lambda: _encoded(im),
        lambda: _encoded(im, "JPEG", quality=40),
        lambda: _encoded(im.resize((w // 2, h // 2))),
        lambda: _encoded(im.crop((int(w * 0.03), int(h * 0.03), int(w * 0.97), int(h * 0.97)))),
        lambda: _encoded(im.crop((0, 50, w, h)), "JPEG", quality=60),
    ][how % 5]()


# ---- the plan -----------------------------------------------------------------------------


def plan(rnd: random.Random, start: datetime) -> list[Filing]:
    """Every application of the history, in time order (labels known)."""
    out: list[Filing] = []

    def moment(day: float | None = None) -> datetime:
        d = rnd.uniform(0.5, DAYS - 0.5) if day is None else day
        return start + timedelta(days=d, minutes=rnd.randrange(0, 600))

    honest_shops = [s for s in SHOPS if s != "refuser"]
    for i in range(HONEST_BUYERS):
        contact = f"buyer{i}@example.com"
        # the refuser gets its share of honest buyers, and a few more
        shop = "refuser" if i % 5 == 0 else rnd.choice(honest_shops)
        roll = rnd.random()
        if roll < 0.55:
            reason, reveal = "unusable", rnd.random() < HONEST_REVEAL_SHARE
            delivered = True
        elif roll < 0.75:
            reason, reveal, delivered = "not_delivered", False, False
        else:
            reason, reveal, delivered = "not_as_described", False, True
        out.append(
            Filing(
                moment(),
                shop,
                contact,
                HONEST,
                "honest",
                reason,
                reveal,
                delivered,
                rnd.choice((1000, 2000, 3000, 5000, 10000, 20000)),
                f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}",
            )
        )
    for a in range(3):  # reveal, then claim invalid, in several shops over the weeks
        for k in range(3):
            out.append(
                Filing(
                    moment(3 + a * 2 + k * 7),
                    honest_shops[(a + k) % len(honest_shops)],
                    f"revealer{a}@example.com",
                    ABUSE,
                    "reveal_then_invalid",
                    "unusable",
                    reveal=True,
                    amount_fen=rnd.choice((5000, 10000, 20000)),
                    address=f"172.16.{a}.{k + 1}",
                )
            )
    for a in range(2):  # one contact, five shops, within an hour, one address
        first = moment(8 + a * 9)
        for k, shop in enumerate(SHOPS[:5]):
            out.append(
                Filing(
                    first + timedelta(minutes=11 * k),
                    shop,
                    f"hopper{a}@example.com",
                    ABUSE,
                    "shop_hopping",
                    "unusable",
                    amount_fen=3000,
                    address=f"192.0.2.{a + 10}",
                )
            )
    for a in range(2):  # one picture, altered, sent by different contacts
        picture = _screenshot(rnd)
        for k in range(4):
            out.append(
                Filing(
                    moment(2 + a * 10 + k * 3),
                    honest_shops[(a + k * 2) % len(honest_shops)],
                    f"ring{a}-{k}@example.com",
                    ABUSE,
                    "picture_reuse",
                    "not_as_described",
                    amount_fen=rnd.choice((3000, 5000)),
                    address=f"198.51.100.{a * 10 + k + 1}",
                    picture=_altered(picture, k + a),
                )
            )
    out.sort(key=lambda f: f.at)
    return out


# ---- the history, through the services ----------------------------------------------------


def build(rnd: random.Random, clock: Clock, signals: bool) -> History:
    """Make the history in the app's database (app context required)."""
    from werkzeug.datastructures import FileStorage

    from portal.domain.policy import Kind, Reason
    from portal.domain.risk import SignalCode
    from portal.domain.states import Role, State
    from portal.extensions import db
    from portal.models import RefundCase
    from portal.services.actors import Actor
    from portal.services.errors import DomainError
    from portal.services.integration import orders as order_service
    from portal.services.refunds import cases, disputes
    from portal.services.risk import fast_lane, rules
    from portal.services.uploads import evidence
    from tests import factories as f

    history = History()
    supervisor = Actor(Role.REVIEWER, f.staff("supervisor", "supervisor").id, "Supervisor")
    reviewer = Actor(Role.REVIEWER, f.staff("reviewer").id, "Reviewer")
    shops, merchants, products = {}, {}, {}
    for slug in SHOPS:
        shops[slug] = f.merchant(slug)
        shops[slug].name = f"Shop {slug}"
    db.session.commit()
    for slug, shop in shops.items():
        history.shop_ids[slug] = shop.id
        user = f.staff(f"{slug}-staff", "merchant", slug)
        merchants[slug] = Actor(Role.MERCHANT, user.id, slug, merchant_id=shop.id)
        products[slug] = [
            f.product(shop, title=f"{slug} card {v // 100}", price_fen=v, face_value_fen=v)
            for v in (1000, 3000, 10000)
        ]
    db.session.commit()
    for slug, limit in FAST_LANE.items():
        fast_lane.set_limit(shops[slug].id, limit, supervisor)
    if not signals:
        for code in SignalCode:
            rules.change(str(code), None, None, supervisor)
    start = END - timedelta(days=DAYS)
    for slug, shop in shops.items():  # orders nobody disputes, paid over the period
        for i in range(BACKGROUND_ORDERS):
            o = f.order(
                END,
                m=shop,
                p=rnd.choice(products[slug]),
                paid_ago=timedelta(days=rnd.uniform(0.1, DAYS - 0.1)),
            )
            o.buyer_contact = f"quiet-{slug}-{i}@example.com"
    db.session.commit()

    labels: dict[int, Filing] = {}
    pending: list[tuple[datetime, int, int]] = []  # (decide at, tie-breaker, case id)
    tie = 0

    def queue(case_id: int, hours: float) -> None:
        nonlocal tie
        tie += 1
        heapq.heappush(pending, (clock() + timedelta(hours=hours), tie, case_id))

    def decide(case_id: int) -> None:
        case = db.session.get(RefundCase, case_id)
        if case is None or case.state not in (
            str(State.SUBMITTED),
            str(State.UNDER_REVIEW),
            str(State.NEGOTIATING),
        ):
            history.decisions["already_decided"] = history.decisions.get("already_decided", 0) + 1
            return
        filing = labels[case_id]
        shop = merchants[filing.shop]
        try:
            if case.state == str(State.SUBMITTED) and filing.shop == "refuser":
                if rnd.random() < 0.9:
                    disputes.merchant_refuse(case, shop, "no refunds on card codes")
                    queue(case_id, hours=rnd.uniform(4, 40))
                    key = "merchant_refused"
                else:
                    disputes.merchant_agree(case, shop)
                    key = "merchant_agreed"
            elif case.state == str(State.SUBMITTED) and rnd.random() < 0.5:
                if filing.label == HONEST:
                    disputes.merchant_agree(case, shop)
                    key = "merchant_agreed"
                else:  # an honest merchant refuses an abuser; the reviewer upholds it
                    disputes.merchant_refuse(case, shop, "the code was redeemed")
                    queue(case_id, hours=rnd.uniform(4, 40))
                    key = "merchant_refused"
            elif filing.label == HONEST:
                cases.approve(case, reviewer, None, "the code was not usable")
                key = "reviewer_approved"
            else:
                cases.reject(case, reviewer, "the code was used")
                key = "reviewer_rejected"
        except DomainError:
            db.session.rollback()
            key = "refused_by_rules"
        history.decisions[key] = history.decisions.get(key, 0) + 1

    def decide_until(when: datetime) -> None:
        while pending and pending[0][0] <= when:
            at, _, case_id = heapq.heappop(pending)
            clock.to(at)
            decide(case_id)

    for filing in plan(rnd, start):
        decide_until(filing.at - timedelta(minutes=6))
        clock.to(filing.at - timedelta(minutes=5))
        price = rnd.choice(products[filing.shop])
        o = f.order(
            clock(),
            m=shops[filing.shop],
            p=price,
            amount_fen=filing.amount_fen,
            paid_ago=timedelta(hours=rnd.uniform(3, 30)),
            delivered_after=timedelta(minutes=1) if filing.delivered else None,
        )
        o.buyer_contact = filing.contact
        db.session.commit()
        if filing.reveal:
            order_service.reveal_code(o, o.codes[0].id)
        clock.to(filing.at)
        files: list[Any] = []
        if filing.picture is not None:
            files = [
                FileStorage(
                    io.BytesIO(filing.picture), filename="order.png", content_type="image/png"
                )
            ]
        with evidence.stored_uploads(files) as stored:
            case = cases.apply_for_refund(
                o,
                cases.ApplyInput(
                    Kind.REFUND_ONLY,
                    Reason(filing.reason),
                    filing.amount_fen,
                    "the code does not work",
                    files=tuple(stored),
                    address=filing.address,
                ),
            )
        labels[case.id] = filing
        history.outcomes.append(
            Outcome(
                case.id,
                case.case_no,
                filing.shop,
                filing.label,
                filing.pattern,
                case.risk_level,
                case.auto_rule,
                tuple(s["code"] for s in case.risk_signals or [] if s["level"] != "low"),
            )
        )
        queue(case.id, hours=rnd.uniform(2, 60))
    decide_until(END)  # later decisions stay undone: the open backlog
    clock.to(END)
    return history


# ---- scoring ------------------------------------------------------------------------------


def score(history: History) -> dict[str, Any]:
    """Precision and recall of "review or high" against the labels, overall and per pattern."""
    flagged = [o for o in history.outcomes if o.level in ("review", "high")]
    abuse = [o for o in history.outcomes if o.label == ABUSE]
    tp = sum(1 for o in flagged if o.label == ABUSE)
    fp = len(flagged) - tp
    fn = len(abuse) - tp
    patterns: dict[str, dict[str, int]] = {}
    for o in history.outcomes:
        p = patterns.setdefault(o.pattern, {"cases": 0, "flagged": 0, "high": 0, "auto": 0})
        p["cases"] += 1
        for code in o.raised_by:
            key = f"by {code}"
            p[key] = p.get(key, 0) + 1
        p["flagged"] += o.level in ("review", "high")
        p["high"] += o.level == "high"
        p["auto"] += bool(o.auto_rule)
    levels: dict[str, int] = {}
    for o in history.outcomes:
        levels[o.level] = levels.get(o.level, 0) + 1
    return {
        "cases": len(history.outcomes),
        "abuse_cases": len(abuse),
        "flagged": len(flagged),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "precision": round(tp / len(flagged), 3) if flagged else None,
        "recall": round(tp / len(abuse), 3) if abuse else None,
        "levels": levels,
        "patterns": patterns,
        "auto_approved_abuse": sum(1 for o in abuse if o.auto_rule),
    }


def watched_shops(history: History) -> dict[str, Any]:
    """What the watched-shops page's service says over the period."""
    from portal.services.risk import merchant_watch

    watch = merchant_watch.watch(DAYS + 2)
    slug = {v: k for k, v in history.shop_ids.items()}
    flagged = {
        slug[f.shop.merchant_id]: {
            str(fl.measure): {"shop_pct": fl.shop_pct, "others_pct": fl.others_pct}
            for fl in f.flags
        }
        for f in watch.flagged
    }
    return {
        "days": watch.days,
        "flagged": flagged,
        "refuser_flagged": "refuser" in flagged,
        "honest_shops_flagged": sorted(s for s in flagged if s != "refuser"),
    }


# ---- the app and the screens ---------------------------------------------------------------


@contextmanager
def history_app(url: str, clock: Clock) -> Iterator[Any]:
    """An app on a fresh database (SQLite in a temporary folder unless ``url``) and Redis
    (PORTAL_REDIS_URL, or an embedded one), on ``clock``; inside its app context."""
    import os

    from redis import Redis

    from portal import create_app
    from portal.extensions import db
    from portal.infra.embedded import start_embedded_redis, stop_embedded_redis
    from portal.infra.migrations import upgrade
    from tests.conftest import base_config

    tmp = Path(tempfile.mkdtemp(prefix="portal-risk-history-"))
    redis_url = os.environ.get("PORTAL_REDIS_URL") or start_embedded_redis(str(tmp))
    try:
        app = create_app(base_config(tmp, url or f"sqlite:///{tmp}/history.sqlite3", redis_url))
        app.extensions["portal.clock"] = clock
        Redis.from_url(redis_url).flushdb()
        with app.app_context():
            if db.engine.dialect.name == "postgresql":
                with db.engine.begin() as conn:
                    conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            upgrade()
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()
    finally:
        if not os.environ.get("PORTAL_REDIS_URL"):
            stop_embedded_redis(str(tmp))  # only this run's: a test session may have its own
        shutil.rmtree(tmp, ignore_errors=True)


#: the pages shot: (file name, who looks, in which language, path; {refuser}: the refuser's
#: shop id)
PAGES = (
    ("platform-dashboard", "supervisor", "en-US", "/review/dashboard"),
    ("refuser-dashboard", "supervisor", "en-US", "/review/dashboard?shop={refuser}"),
    ("watched-shops", "supervisor", "en-US", "/review/risk/shops?days=30"),
    ("review-queue", "supervisor", "en-US", "/review/"),
    ("platform-dashboard-zh", "supervisor", "zh-CN", "/review/dashboard"),
    ("watched-shops-zh", "supervisor", "zh-CN", "/review/risk/shops?days=30"),
    ("merchant-dashboard-refuser", "refuser-staff", "en-US", "/merchant/dashboard"),
)


def screens(app: Any, history: History, out: Path) -> list[str]:
    """Each page of PAGES in headless Chromium, as ``<name>.png`` in ``out``."""
    from tests.chromium import chromium
    from tests.live import serve

    shot = []
    app.config["SERVER_NAME"] = None  # the browser asks for 127.0.0.1:<port>
    with serve(app) as base, chromium() as browser:
        for who, locale in dict.fromkeys((p[1], p[2]) for p in PAGES):
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
            page = context.new_page()
            try:
                page.goto(base + "/staff/login")
                page.fill("#username", who)
                page.fill("#password", "password-123")
                page.click("form button")
                page.wait_for_url(lambda u: "/staff/login" not in u)
                for name, viewer, language, path in PAGES:
                    if (viewer, language) != (who, locale):
                        continue
                    url = base + path.format(refuser=history.shop_ids["refuser"])
                    response = page.goto(url)
                    if response is None or response.status != 200 or page.url != url:
                        status = response.status if response else "no answer"
                        raise RuntimeError(f"{url}: {status}, at {page.url}")
                    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                    shot.append(f"{name}.png")
            finally:
                context.close()
    return shot


def main(argv: list[str] | None = None) -> int:
    """Build, score and shoot one history; print the figures with the seed."""
    from portal.domain import rollups as rollup_days
    from portal.services.reports import rollups

    args = parse(argv or [])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else RESULTS / f"risk-history-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rnd = random.Random(args.seed)
    clock = Clock(END - timedelta(days=DAYS))
    with history_app(args.url, clock) as app:
        history = build(rnd, clock, args.signals == "on")
        built = time.perf_counter() - started
        figures: dict[str, Any] = {
            "seed": args.seed,
            "signals": args.signals,
            "history_end": END.isoformat(),
            "days": DAYS,
            **score(history),
            "decisions": history.decisions,
            "watched_shops": watched_shops(history),
        }
        figures["build_seconds"] = round(built, 1)
        # the dashboards read the daily rollups the worker keeps: rebuilt here for the history
        rollups.rebuild(
            rollup_days.day_of(END - timedelta(days=DAYS + 1)), rollup_days.day_of(clock())
        )
        figures["screenshots"] = [] if args.no_screens else screens(app, history, out)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    command = " ".join(["python -m bench risk_history", *(argv or [])])
    (out / "command.txt").write_text(command + "\n")
    (out / "figures.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    w = figures["watched_shops"]
    print(
        f"risk_history seed={args.seed} signals={args.signals}: {figures['cases']} cases, "
        f"{figures['abuse_cases']} abusive; flagged (review/high) {figures['flagged']}: "
        f"precision {figures['precision']}, recall {figures['recall']}; per pattern "
        + ", ".join(
            f"{k} {v['flagged']}/{v['cases']}" for k, v in sorted(figures["patterns"].items())
        )
        + f"; refuser flagged: {w['refuser_flagged']} {sorted(w['flagged'].get('refuser', {}))}"
        f", honest shops flagged: {w['honest_shops_flagged']}; {figures['seconds']} s; "
        f"figures in {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
