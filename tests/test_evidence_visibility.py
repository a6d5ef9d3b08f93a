"""Every party to a case sees its evidence: the buyer their own uploads, the shop the buyer's
files on its own orders, the reviewer all; nobody else gets a file or even its name."""

from __future__ import annotations

import io

from portal.domain.policy import Kind, Reason
from portal.extensions import db
from portal.services.refunds import cases
from portal.services.uploads import evidence
from tests import factories as f
from tests.conftest import Browser
from tests.images import image_bytes
from tests.test_buyer_flow import login_order
from tests.test_dispute_pages import shop, staff_login  # noqa: F401 - the fixture


def case_with_picture(clock, shop):  # noqa: F811 - the fixture's name
    order = f.order(clock(), m=shop)
    stored = evidence.store(io.BytesIO(image_bytes("PNG", (400, 300), seed=7)), "报错截图.png")
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 5000, "code rejected", (stored,))
    )
    db.session.commit()
    return case, case.evidence[0]


def links(ev) -> tuple[str, str]:
    return f"/evidence/{ev.id}", f"/evidence/{ev.id}/thumb"


def test_the_buyer_sees_their_own_files(app, client, clock, shop):  # noqa: F811
    case, ev = case_with_picture(clock, shop)
    buyer = Browser(client)
    login_order(buyer, case.order)
    page = buyer.get(f"/cases/{case.case_no}").get_data(as_text=True)
    for url in links(ev):
        assert url in page
        assert buyer.get(url).status_code == 200
    assert "报错截图.png" in page


def test_the_shop_sees_the_buyers_files_on_its_own_orders_only(app, client, clock, shop):  # noqa: F811
    # `client` makes app.test_client() give each request a fresh ``g``, as a real server does
    case, ev = case_with_picture(clock, shop)
    own = Browser(app.test_client())
    staff_login(own, "shop-staff")
    page = own.get(f"/merchant/cases/{case.case_no}").get_data(as_text=True)
    for url in links(ev):
        assert url in page
        r = own.get(url)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store"
    rival = Browser(app.test_client())
    staff_login(rival, "rival-staff")
    assert rival.get(f"/merchant/cases/{case.case_no}").status_code == 404
    for url in links(ev):
        assert rival.get(url).status_code == 404
    stranger = app.test_client()
    for url in links(ev):
        assert stranger.get(url).status_code == 404
