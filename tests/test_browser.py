"""Real-browser tests: Debian's Chromium driven by Playwright against the portal over HTTP.

The buyer's whole path (look up, apply with an image, see the case) with JavaScript on and
off; the upload progress bar under a slow upload; files kept and oversize files stopped in
the browser; the htmx forms (reveal a code, withdraw, the reviewer's panel) swapping their
fragment with JavaScript and posting plainly without it; screenshots of the main pages in
test-artifacts/screenshots/.
"""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image
from sqlalchemy import select

from portal.extensions import db
from portal.models import Evidence, RefundCase
from tests import factories as f
from tests.chromium import chromium, screenshot_path
from tests.images import image_bytes
from tests.live import serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chrome():
    cm = chromium()
    try:
        browser = cm.__enter__()
    except RuntimeError as exc:
        pytest.skip(f"Chromium cannot be started here: {exc}")
    yield browser
    cm.__exit__(None, None, None)


@pytest.fixture
def live(app):
    app.config["SERVER_NAME"] = None  # the browser asks for 127.0.0.1:<port>
    with serve(app) as base:
        yield base


def big_screenshot(tmp_path, name="screen.png", size=(3000, 2000)) -> str:
    """A PNG larger than the portal keeps (3000 px wide, 1-8 MB): blocky noise."""
    im = Image.effect_noise((size[0] // 4, size[1] // 4), 60).resize(size).convert("RGB")
    path = tmp_path / name
    im.save(path, "PNG")
    assert 1024 * 1024 < path.stat().st_size < 8 * 1024 * 1024
    return str(path)


def look_up(page, base, order):
    page.goto(base + "/")
    page.fill("#order_no", order.order_no)
    page.fill("#contact", f.CONTACT)
    page.fill("#password", f.PASSWORD)
    page.click("form[action='/lookup'] button")
    page.wait_for_url(f"**/orders/{order.order_no}")


def fill_application(page, explanation="The code says already used", amount=""):
    page.check("input[name=reason][value=unusable]")
    page.fill("#amount", amount)
    page.fill("#explanation", explanation)


def new_page(chrome, javascript=True, locale="en-US"):
    context = chrome.new_context(
        java_script_enabled=javascript, locale=locale, viewport={"width": 390, "height": 844}
    )
    return context, context.new_page()


@pytest.mark.parametrize(
    ("locale", "submitted"), [("zh-CN", "申请已提交"), ("en-US", "Your application was submitted")]
)
@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_buyer_path(app, live, chrome, clock, tmp_path, javascript, locale, submitted):
    """The buyer's whole path on a phone-sized screen, in Chinese and in English, with and
    without JavaScript; screenshots of each page kept in test-artifacts/screenshots/."""
    order = f.order(clock(), codes=2)
    db.session.commit()
    context, page = new_page(chrome, javascript, locale)
    tag = f"{'js' if javascript else 'nojs'}-{locale}"
    try:
        page.goto(live + "/")
        page.screenshot(path=screenshot_path(f"lookup-{tag}"), full_page=True)
        look_up(page, live, order)
        page.screenshot(path=screenshot_path(f"order-{tag}"), full_page=True)
        page.click(f"a[href='/orders/{order.order_no}/apply']")
        page.wait_for_url("**/apply")
        fill_application(page)
        page.set_input_files("#files", big_screenshot(tmp_path))
        if javascript:  # scaled down in the browser before sending
            page.wait_for_selector(".upload-status:not([hidden])")
            page.wait_for_function(
                "() => !document.querySelector('form[data-upload]').hasAttribute('data-busy')"
            )
        page.screenshot(path=screenshot_path(f"apply-{tag}"), full_page=True)
        page.click("form[data-upload] button")
        page.wait_for_url("**/cases/*")
        page.wait_for_selector(f"text={submitted}")
        page.screenshot(path=screenshot_path(f"case-{tag}"), full_page=True)
        db.session.rollback()
        case = db.session.scalar(select(RefundCase).where(RefundCase.order_id == order.id))
        assert case is not None and case.case_no in page.content()
        ev = db.session.scalar(select(Evidence).where(Evidence.case_id == case.id))
        if javascript:
            # the browser sent a smaller WebP instead of the 3000 px PNG (kept as JPEG: WebP's
            # encoder costs several times JPEG's, docs/performance.md)
            assert ev.content_type == "image/jpeg" and ev.original_name == "screen.webp"
        else:
            assert ev.content_type == "image/png" and ev.original_name == "screen.png"
        with Image.open(os.path.join(app.config["EVIDENCE_DIR"], ev.stored_name)) as im:
            assert max(im.size) <= 2560
    finally:
        context.close()


def test_upload_progress_bar(app, live, chrome, clock, tmp_path):
    order = f.order(clock())
    db.session.commit()
    context, page = new_page(chrome)
    try:
        look_up(page, live, order)
        page.goto(f"{live}/orders/{order.order_no}/apply")
        fill_application(page)
        # about 630 KB that does not compress: under upload.js's RESIZE_ABOVE (1 MB), so it is
        # sent as it is, and at 256 KB/s its upload lasts over two seconds (resizing in the
        # browser is tested in test_buyer_path)
        photo = tmp_path / "photo.jpg"
        Image.effect_noise((900, 675), 90).convert("RGB").save(photo, "JPEG", quality=95)
        assert 500_000 < photo.stat().st_size < 1024 * 1024
        page.set_input_files("#files", str(photo))
        page.wait_for_function(
            "() => !document.querySelector('form[data-upload]').hasAttribute('data-busy')"
        )
        page.evaluate(
            """() => { window.seen = [];
            document.addEventListener('htmx:xhr:progress', () =>
              window.seen.push(document.querySelector('.upload-progress').value)); }"""
        )
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(  # a slow upload: 256 KB/s
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 50, "downloadThroughput": -1, "uploadThroughput": 262144},
        )
        page.click("form[data-upload] button")
        page.wait_for_function(
            "() => { const b = document.querySelector('.upload-progress');"
            " return b && !b.hidden && b.value > 0 && b.value < 100; }",
            timeout=20_000,
        )
        page.screenshot(path=screenshot_path("apply-uploading"), full_page=True)
        page.wait_for_url("**/cases/*", timeout=60_000)
        seen = page.evaluate("window.seen || []")
        # the page was swapped by htmx, so the listener list survives only until the swap
        assert seen == sorted(seen) and len(seen) >= 3, seen
    finally:
        context.close()


def test_refusals_keep_the_form_in_the_browser(app, live, chrome, clock, tmp_path):
    order = f.order(clock())
    db.session.commit()
    context, page = new_page(chrome)
    try:
        look_up(page, live, order)
        page.goto(f"{live}/orders/{order.order_no}/apply")
        # 1. a refusal that is not about the files: the chosen file stays chosen
        fill_application(page, "keep this text", amount="999")
        shot = tmp_path / "s.png"
        shot.write_bytes(image_bytes(size=(200, 150)))
        page.set_input_files("#files", str(shot))
        page.click("form[data-upload] button")
        page.wait_for_selector("text=at most 100.00")
        page.wait_for_function("() => document.querySelector('#files').files.length === 1")
        assert page.input_value("#explanation") == "keep this text"
        # 2. a file over 8 MB is stopped before anything is sent
        big = tmp_path / "statement.pdf"
        big.write_bytes(b"%PDF-1.4\n" + os.urandom(9 * 1024 * 1024))
        page.set_input_files("#files", str(big))
        page.fill("#amount", "")
        posts = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.click("form[data-upload] button")
        page.wait_for_selector("text=statement.pdf is larger than 8.0 MB")
        page.wait_for_timeout(300)
        assert posts == []
        assert page.input_value("#explanation") == "keep this text"
        db.session.rollback()
        assert db.session.scalar(select(RefundCase)) is None
    finally:
        context.close()


def test_reviewer_pages_screenshots(app, live, chrome, clock):
    from portal.domain.policy import Kind, Reason
    from portal.services.refunds import cases
    from portal.services.uploads import evidence

    order = f.order(clock())
    stored = evidence.store(io.BytesIO(image_bytes("JPEG", (900, 1600), seed=4)), "error.jpg")
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 5000, "code rejected", (stored,))
    )
    f.staff("shotrev")
    db.session.commit()
    context, page = new_page(chrome)
    try:
        page.goto(live + "/staff/login")
        page.fill("#username", "shotrev")
        page.fill("#password", "password-123")
        page.click("form button")
        page.wait_for_url("**/review/**")
        page.goto(live + "/review/")
        page.screenshot(path=screenshot_path("review-queue"), full_page=True)
        page.goto(f"{live}/review/cases/{case.case_no}")
        # The thumbnail is lazy: the element exists before its bytes arrive, so read its
        # size once it has loaded (or failed, which reads 0).
        loaded = page.locator("img[src$='/thumb']").evaluate(
            """img => img.complete ? img.naturalWidth : new Promise(done => {
                img.addEventListener("load", () => done(img.naturalWidth));
                img.addEventListener("error", () => done(0));
            })"""
        )
        assert 0 < loaded <= 240
        page.screenshot(path=screenshot_path("review-case"), full_page=True)
    finally:
        context.close()


def staff_page(chrome, live, username, javascript=True):
    context, page = new_page(chrome, javascript)
    page.goto(live + "/staff/login")
    page.fill("#username", username)
    page.fill("#password", "password-123")
    page.click("form button")
    page.wait_for_url("**/review/**")
    return context, page


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_htmx_forms_with_and_without_javascript(app, live, chrome, clock, javascript):
    """The forms that name their URL once (posts_to): with JavaScript, htmx posts and swaps the
    fragment in place (no page load, the address stays); without it, the same form posts
    plainly and the browser follows the redirect to the updated page."""
    from portal.domain.policy import Kind, Reason
    from portal.services.refunds import cases

    def a_case(o):
        return cases.apply_for_refund(
            o, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "code rejected")
        )

    coded, to_withdraw, to_review = (f.order(clock(), codes=1) for _ in range(3))
    withdrawn, reviewed = a_case(to_withdraw), a_case(to_review)
    code = coded.codes[0]
    f.staff("formsrev")
    db.session.commit()
    context, page = new_page(chrome, javascript)
    staff_context = None
    posts, dialogs = [], []
    try:
        page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
        for order in (coded, to_withdraw):
            look_up(page, live, order)

        def submit(page, button, changed, url):
            """Click ``button``; wait for ``changed``; the page is still ``url`` (and, with
            JavaScript, still the same document: htmx swapped a fragment, nothing reloaded)."""
            if javascript:
                page.evaluate("window.sameDocument = true")
            page.click(button)
            page.wait_for_selector(changed)
            assert page.url.split("#")[0] == url
            assert page.locator("main").count() == 1  # a fragment, not a page inside the page
            if javascript:
                assert page.evaluate("window.sameDocument") is True

        order_url = f"{live}/orders/{coded.order_no}"
        page.goto(order_url)
        if javascript:  # htmx asks in a dialog (hx-confirm), then swaps the code in
            submit(page, f"#code-{code.id} button", f"#code-{code.id} code", order_url)
        else:  # a plain post answers with a page that asks; its form reveals
            page.click(f"#code-{code.id} button")
            page.click("text=Yes, reveal the code")
            page.wait_for_selector(f"#code-{code.id} code")
        assert page.text_content(f"#code-{code.id} code") == code.code

        case_url = f"{live}/cases/{withdrawn.case_no}"
        page.goto(case_url)
        submit(page, "form[hx-confirm] button", "#case-status .s-withdrawn", case_url)
        # the confirmation is htmx's (hx-confirm); a plain form post asks nothing
        reveal_question = "Reveal the card code? A revealed code can no longer be returned."
        assert dialogs == ([reveal_question, "Withdraw this application?"] if javascript else [])
        if not javascript:
            assert page.is_visible("text=Your application was withdrawn.")  # the flash, after PRG
        page.screenshot(path=screenshot_path(f"withdrawn-{'js' if javascript else 'nojs'}"))

        staff_context, staff = staff_page(chrome, live, "formsrev", javascript)
        staff.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
        review_url = f"{live}/review/cases/{reviewed.case_no}"
        staff.goto(review_url)
        submit(staff, "form[action$='/start'] button", "#panel .s-under_review", review_url)
        staff.fill("#info-note", "Upload the error screenshot")
        submit(staff, "form[action$='/request-info'] button", "#panel .s-needs_info", review_url)
        staff.screenshot(
            path=screenshot_path(f"review-panel-{'js' if javascript else 'nojs'}"), full_page=True
        )

        form_posts = [r for r in posts if "/login" not in r.url and "/lookup" not in r.url]
        assert [r.url.rsplit("/", 1)[-1] for r in form_posts] == [
            *(["reveal"] if javascript else ["reveal", "reveal"]),  # without JS: ask, then do
            "withdraw",
            "start",
            "request-info",
        ]
        for r in form_posts:
            headers = r.all_headers()
            # htmx's own request (a fragment is wanted), not a boosted page load; or no htmx
            assert headers.get("hx-request") == ("true" if javascript else None), r.url
            assert "hx-boosted" not in headers, r.url
        db.session.rollback()
        assert db.session.get(RefundCase, withdrawn.id).state == "withdrawn"
        assert db.session.get(RefundCase, reviewed.id).state == "needs_info"
    finally:
        if staff_context is not None:
            staff_context.close()
        context.close()


def test_htmx_errors_and_outcomes_are_shown_where_they_happen(app, live, chrome, clock):
    """With JavaScript on: an action the rules forbid (the reviewer who rejected a case
    deciding its appeal, 403) shows its message on the page; a successful action says what was
    done, once: the message is not shown again on the next page."""
    from portal.domain.policy import Kind, Reason
    from portal.domain.states import Role
    from portal.services.actors import Actor
    from portal.services.refunds import cases, disputes

    order = f.order(clock())
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "code rejected")
    )
    rejecter = f.staff("rejecter")
    cases.reject(case, Actor(Role.REVIEWER, rejecter.id, "R"), "No proof")
    disputes.appeal(db.session.get(RefundCase, case.id), "The chat shows it never worked", [])
    f.staff("second")
    other = f.order(clock())
    fresh = cases.apply_for_refund(
        other, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "code rejected")
    )
    db.session.commit()
    context, page = staff_page(chrome, live, "rejecter")
    second_context = None
    try:
        url = f"{live}/review/cases/{case.case_no}"
        page.goto(url)
        page.evaluate("window.sameDocument = true")
        page.click("form[action$='/approve'] button")
        alert = page.wait_for_selector("#alerts [role=alert], #panel [role=alert]")
        assert "other than the one who rejected" in alert.text_content()
        assert page.evaluate("window.sameDocument") is True  # shown in place, no reload
        db.session.rollback()
        assert db.session.get(RefundCase, case.id).state == "appealed"

        second_context, second = staff_page(chrome, live, "second")
        fresh_url = f"{live}/review/cases/{fresh.case_no}"
        second.goto(fresh_url)
        second.click("form[action$='/start'] button")
        note = second.wait_for_selector("#alerts .flash")
        assert note.text_content() == "Review started."
        second.goto(f"{live}/review/")  # the next page does not repeat it
        assert second.locator(".flash").count() == 0
    finally:
        context.close()
        if second_context is not None:
            second_context.close()


def test_the_reviewer_page_uses_a_wide_screen(app, live, chrome, clock):
    """On a 1280 px screen the case's facts and its one action panel sit side by side."""
    from portal.domain.policy import Kind, Reason
    from portal.services.refunds import cases

    case = cases.apply_for_refund(
        f.order(clock()), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "code rejected")
    )
    f.staff("widerev")
    db.session.commit()
    context = chrome.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(live + "/staff/login")
        page.fill("#username", "widerev")
        page.fill("#password", "password-123")
        page.click("form button")
        page.wait_for_url("**/review/**")
        page.goto(f"{live}/review/cases/{case.case_no}")
        main = page.locator(".case-main").bounding_box()
        actions = page.locator(".case-actions").bounding_box()
        assert main and actions
        assert actions["x"] >= main["x"] + main["width"]  # beside, not below
        assert abs(actions["y"] - main["y"]) < 5
        assert main["width"] + actions["width"] > 1000  # the screen's width is used
        page.screenshot(path=screenshot_path("review-case-wide"), full_page=True)
    finally:
        context.close()
