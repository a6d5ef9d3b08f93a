"""The case file for a person: one PDF in the reader's language (the order, the listing at
purchase, the card codes' reveal log, the timeline with who did what and why, the evidence
pictures, the decision and offers, the payouts with their gateway references).

Every word comes from the message catalogue when the file is made; what people wrote is
printed as written. Chinese renders with reportlab's built-in CID font ``STSong-Light``: the
PDF names the font and carries no font file, and every PDF reader brings a font for it.
What is stored by the system is worded by the caller's ``case_file.Wording`` (the views own how
notes read). Evidence that is gone, erased, altered or unreadable is said so in the file.
The same audiences as the ZIP: staff see everything, the shop and the buyer see the
timeline their pages show, the contact masked except for the buyer.
"""

from __future__ import annotations

import io
from datetime import datetime
from xml.sax.saxutils import escape

from markupsafe import Markup
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer
from sqlalchemy import select

from portal.domain import contacts, labels
from portal.domain.money import format_yuan
from portal.domain.policy import REASON_LABELS
from portal.extensions import db
from portal.infra.i18n import gettext
from portal.models import Offer, Payout, RefundCase
from portal.services import context
from portal.services.audit import case_pdf_images
from portal.services.audit.case_file import BUYER, MERCHANT, STAFF, Wording
from portal.services.policy_text import N_
from portal.services.refunds.timeline import timeline

FONT = "STSong-Light"
#: the role whose label names each audience ("made for")
_AUDIENCE_ROLE = {STAFF: "reviewer", MERCHANT: "merchant", BUYER: "buyer"}


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13.5, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=body, fontSize=17, leading=22, spaceAfter=4),
        "h2": ParagraphStyle(
            "h2", parent=body, fontSize=12.5, leading=17, spaceBefore=10, spaceAfter=3
        ),
        "body": body,
        "entry": ParagraphStyle("entry", parent=body, leftIndent=4 * mm, spaceAfter=2),
        "quote": ParagraphStyle("quote", parent=body, leftIndent=9 * mm, textColor=colors.black),
        "small": ParagraphStyle(
            "small", parent=body, fontSize=8, leading=11, textColor=colors.HexColor("#555555")
        ),
        "hash": ParagraphStyle(
            "hash", parent=body, fontSize=8, leading=11, leftIndent=9 * mm, wordWrap=None
        ),
        "warn": ParagraphStyle(
            "warn", parent=body, leftIndent=4 * mm, textColor=colors.HexColor("#a40000")
        ),
    }


def _text(value: object) -> str:
    """A value as plain text a paragraph prints literally: markup stripped to its text,
    characters a PDF cannot hold dropped, the rest escaped."""
    text = value.striptags() if isinstance(value, Markup) else str(value)
    text = "".join(ch for ch in text if ch in "\n\t" or (ch >= " " and not "\x7f" <= ch <= "\x9f"))
    text = "".join(ch for ch in text if not "\ud800" <= ch <= "\udfff")
    return escape(text).replace("\n", "<br/>")


def _yuan(fen: int | None) -> str:
    return "—" if fen is None else f"¥{format_yuan(fen)}"


class _Story:
    """The flowables of the document, added section by section."""

    def __init__(self, words: Wording) -> None:
        self.words = words
        self.styles = _styles()
        self.items: list[Flowable] = []

    def para(self, text: object, style: str = "body") -> None:
        self.items.append(Paragraph(_text(text), self.styles[style]))

    def heading(self, msgid: str) -> None:
        self.para(gettext(msgid), "h2")

    def field(self, label: str, value: object, style: str = "entry") -> None:
        """One "label: value" line, the label from the catalogue."""
        self.para(gettext("%(label)s: %(value)s", label=gettext(label), value=value), style)

    def time(self, value: datetime | None) -> str:
        return self.words.local_time(value) if value else "—"


def _head(s: _Story, case: RefundCase, audience: str) -> None:
    s.para(gettext("Case file %(no)s", no=case.case_no), "title")
    made_for = gettext(labels.ROLE_LABELS[_AUDIENCE_ROLE[audience]])
    s.para(
        gettext(
            "Made %(at)s for: %(party)s. The ZIP case file holds the same record for machines, "
            "with the evidence originals, the audit chain and its seal.",
            at=s.time(context.now()),
            party=made_for,
        ),
        "small",
    )


def _case(s: _Story, case: RefundCase) -> None:
    s.heading(N_("Case"))
    s.field(N_("Case number"), case.case_no)
    s.field(N_("Type"), gettext(labels.KIND_LABELS.get(case.kind, case.kind)))
    reason = REASON_LABELS.get(case.reason)  # type: ignore[call-overload]
    s.field(N_("Reason"), gettext(reason) if reason else case.reason)
    state = labels.STATE_LABELS.get(case.state)  # type: ignore[call-overload]
    s.field(N_("Status"), gettext(state) if state else case.state)
    s.field(N_("Amount asked"), _yuan(case.amount_requested_fen))
    s.field(N_("Applied at"), s.time(case.created_at))
    if case.explanation:
        s.field(N_("The buyer's explanation"), case.explanation)


def _order(s: _Story, case: RefundCase, audience: str) -> None:
    order = case.order
    s.heading(N_("Order"))
    s.field(N_("Order number"), order.order_no)
    s.field(N_("Shop"), order.merchant.name)
    contact = order.buyer_contact if audience == BUYER else contacts.mask(order.buyer_contact)
    s.field(N_("Buyer's contact"), contact)
    s.field(N_("Amount paid"), _yuan(order.amount_fen))
    s.field(N_("Paid at"), s.time(order.paid_at))
    s.field(N_("Delivered at"), s.time(order.delivered_at))
    if order.cancelled_at:
        s.field(N_("Cancelled at"), s.time(order.cancelled_at))
    s.field(N_("Goods used"), gettext("yes") if order.goods_used else gettext("no"))
    if order.payment:
        s.field(N_("Paid with"), s.words.channel_name(order.payment.channel))
        s.field(N_("Payment's gateway reference"), order.payment.gateway_trade_id)
    snapshot = order.snapshot
    s.heading(N_("Listing snapshot at purchase"))
    if snapshot is None:
        s.para(gettext("No snapshot of the listing was kept for this order."), "entry")
        return
    s.field(N_("Title"), snapshot.title)
    s.field(N_("Face value"), _yuan(snapshot.face_value_fen))
    s.field(N_("Price"), _yuan(snapshot.price_fen))
    if snapshot.description:
        s.field(N_("Description"), snapshot.description)
    if snapshot.policy_text:
        s.field(N_("Refund policy"), snapshot.policy_text)
    s.field(N_("Taken at"), s.time(snapshot.taken_at))


def _codes(s: _Story, case: RefundCase) -> None:
    s.heading(N_("Card code reveal log"))
    codes = case.order.codes
    if not codes:
        s.para(gettext("No card codes were delivered with this order."), "entry")
    for n, code in enumerate(codes, start=1):
        revealed = s.time(code.first_revealed_at) if code.first_revealed_at else None
        line = gettext(
            "Code %(n)s: delivered %(delivered)s; %(revealed)s",
            n=n,
            delivered=s.time(code.delivered_at),
            revealed=gettext("first revealed %(at)s", at=revealed)
            if revealed
            else gettext("never revealed"),
        )
        if code.returned_at:
            line += gettext("; returned %(at)s", at=s.time(code.returned_at))
        s.para(line, "entry")


def _timeline(s: _Story, case: RefundCase, audience: str) -> None:
    s.heading(N_("Timeline"))
    staff = audience == STAFF
    for e in timeline(case, staff=staff):
        who = gettext(labels.ROLE_LABELS.get(e.actor_role, e.actor_role))
        if e.actor_label and e.actor_role not in ("buyer", "system"):
            who = f"{who} · {e.actor_label}"
        if e.kind == "transition":
            what = labels.STATE_LABELS.get(e.to_state, e.to_state)  # type: ignore[call-overload]
        else:
            what = labels.EVENT_LABELS.get(e.kind, e.kind)
        s.para(
            gettext(
                "%(time)s %(who)s: %(what)s",
                time=s.time(e.created_at),
                who=who,
                what=gettext(what),
            ),
            "entry",
        )
        for said in (s.words.event_note(e), s.words.person_words(e)):
            if said:
                s.para(f"“{_plain(said)}”", "quote")
        gateway = s.words.gateway_text(e) if staff else None
        if gateway:
            s.para(gettext("Payment channel's words:") + " " + gateway, "quote")


def _plain(value: object) -> str:
    return value.striptags() if isinstance(value, Markup) else str(value)


def _decision(s: _Story, case: RefundCase) -> None:
    s.heading(N_("Decision"))
    s.field(N_("Amount approved"), _yuan(case.amount_approved_fen))
    said = s.words.decision_text(case.decision_msg, case.decision_note)
    if said:
        s.field(N_("Why"), _plain(said))
    if case.appeal_count:
        s.field(N_("Appeals"), case.appeal_count)
    offers = db.session.scalars(select(Offer).where(Offer.case_id == case.id).order_by(Offer.id))
    for offer in offers:
        state = labels.OFFER_LABELS.get(offer.state)  # type: ignore[call-overload]
        line = gettext(
            "Offer by %(who)s: %(amount)s, %(state)s",
            who=gettext(labels.ROLE_LABELS.get(offer.by_role, offer.by_role)),
            amount=_yuan(offer.amount_fen),
            state=gettext(state) if state else offer.state,
        )
        s.para(line, "entry")
        if offer.note:
            s.para(f"“{offer.note}”", "quote")


def _payouts(s: _Story, case: RefundCase) -> None:
    s.heading(N_("Refunds paid out"))
    payouts = list(
        db.session.scalars(select(Payout).where(Payout.case_id == case.id).order_by(Payout.id))
    )
    if not payouts:
        s.para(gettext("No refund has been paid out for this case."), "entry")
    for p in payouts:
        state = labels.PAYOUT_LABELS.get(p.state)  # type: ignore[call-overload]
        s.para(
            gettext(
                "%(channel)s: %(amount)s, %(state)s",
                channel=s.words.channel_name(p.channel),
                amount=_yuan(p.amount_fen),
                state=gettext(state) if state else p.state,
            ),
            "entry",
        )
        s.field(N_("Gateway reference"), p.gateway_reference or "—", "quote")
        s.field(N_("Sent at"), s.time(p.created_at), "quote")
        if p.settled_at:
            s.field(N_("Settled at"), s.time(p.settled_at), "quote")


def _evidence(s: _Story, case: RefundCase) -> None:
    s.heading(N_("Evidence"))
    if not case.evidence:
        s.para(gettext("No evidence files were added."), "entry")
    for row in case.evidence:
        who = gettext(labels.ROLE_LABELS.get(row.uploaded_by, row.uploaded_by))
        s.para(
            gettext(
                "%(name)s (%(type)s, %(kb)s KB), added by %(who)s %(at)s",
                name=row.original_name,
                type=row.content_type,
                kb=round(row.size / 1024, 1),
                who=who,
                at=s.time(row.created_at),
            ),
            "entry",
        )
        s.field(N_("SHA-256"), row.sha256, "hash")
        shown = case_pdf_images.picture(row)
        for msgid in shown.notes:
            s.para(gettext(msgid), "warn")
        if shown.flowable is not None:
            s.items.append(shown.flowable)
        s.items.append(Spacer(1, 2 * mm))


def build(case: RefundCase, audience: str, words: Wording) -> bytes:
    """The case's PDF for ``audience`` (staff, merchant or buyer), as the case is now, in
    the language of the current request."""
    story = _Story(words)
    _head(story, case, audience)
    _case(story, case)
    _order(story, case, audience)
    _codes(story, case)
    _timeline(story, case, audience)
    _decision(story, case)
    _payouts(story, case)
    _evidence(story, case)
    footer = gettext("Case file %(no)s", no=case.case_no)

    def page(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        text = gettext("%(file)s · page %(page)s", file=footer, page=doc.page)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, text)
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=footer,
        creator="refund-portal",
    )
    doc.build(story.items, onFirstPage=page, onLaterPages=page)
    return buffer.getvalue()
