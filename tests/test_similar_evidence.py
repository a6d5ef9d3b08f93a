"""Evidence reused across cases, near duplicates included: a screenshot re-saved as JPEG,
resized or mildly cropped on another case raises a signal naming that case; a different
screenshot of the same layout does not. Real images drawn with Pillow, uploaded through the
evidence path (cleaned and re-encoded as the portal does), and the lookup on the band indexes."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import event
from werkzeug.datastructures import FileStorage

from portal.domain import picture_likeness as pl
from portal.domain.risk import SignalCode
from portal.extensions import db
from portal.models import Evidence, RefundCase
from portal.services.uploads import evidence, similar_pictures
from tests import factories as f
from tests.test_risk import apply, order_for

S = SignalCode


# ---- pure: the bands find every pair within NEAR_BITS -------------------------------------


@pytest.mark.parametrize("bad", [None, "", "xyz", "0123456789abcdeg", "0123456789ABCDEF", "1" * 17])
def test_malformed_hashes_have_no_bands_and_are_never_near(bad):
    assert pl.bands(bad) == (None,) * pl.BANDS
    assert pl.band_candidates([bad] if bad is not None else []) == [set()] * pl.BANDS
    assert pl.nearest("0" * 16, [bad] if bad is not None else []) > pl.NEAR_BITS


def test_every_hash_within_near_bits_shares_a_candidate_band():
    rnd = random.Random(7)
    for _ in range(3000):
        a = rnd.getrandbits(64)
        flips = rnd.sample(range(64), rnd.randint(1, pl.NEAR_BITS))
        b = a
        for bit in flips:
            b ^= 1 << bit
        ha, hb = f"{a:016x}", f"{b:016x}"
        wanted = pl.band_candidates([ha])
        assert any(band in wanted[i] for i, band in enumerate(pl.bands(hb))), (ha, hb)
        assert pl.is_near(pl.distance(ha, hb))
    assert not pl.is_near(0) and not pl.is_near(pl.NEAR_BITS + 1)


def test_a_band_is_only_a_small_share_of_all_values():
    assert len(pl.neighbours("0000")) == 1 + 16 + 16 * 15 // 2
    assert len(set(pl.neighbours("beef"))) == 137 and "beef" in pl.neighbours("beef")


# ---- real pictures ------------------------------------------------------------------------


def screenshot(seed: int) -> Image.Image:
    """A phone screenshot of an order page: a coloured bar, rows of text blocks, a stamp."""
    rnd = random.Random(seed)
    im = Image.new("RGB", (720, 1280), (245, 245, 245))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, 720, 120), fill=(rnd.randrange(256), rnd.randrange(256), 90))
    for i in range(14):
        y = 160 + i * 75
        colour = (rnd.randrange(200), rnd.randrange(200), rnd.randrange(200))
        d.rectangle((30, y, 30 + rnd.randrange(200, 660), y + 40), fill=colour)
    box = (
        rnd.randrange(400),
        rnd.randrange(800),
        rnd.randrange(400, 700),
        rnd.randrange(800, 1200),
    )
    d.ellipse(box, fill=(200, 40, 40))
    d.text((40, 50), f"DD2026120500{seed}", fill=(0, 0, 0))
    return im


def encoded(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def crop(im: Image.Image, share: float) -> Image.Image:
    w, h = im.size
    return im.crop((int(w * share), int(h * share), int(w * (1 - share)), int(h * (1 - share))))


ORIGINAL = screenshot(1)
ALTERED = {
    "re-encoded JPEG": lambda: encoded(ORIGINAL, "JPEG", quality=30),
    "resized": lambda: encoded(ORIGINAL.resize((360, 640))),
    "cropped 3% a side": lambda: encoded(crop(ORIGINAL, 0.03)),
    "cropped off the top, re-encoded": lambda: encoded(
        ORIGINAL.crop((0, 50, 720, 1280)), "JPEG", quality=60
    ),
    "cropped, resized and re-encoded": lambda: encoded(
        crop(ORIGINAL, 0.02).resize((500, 880)), "JPEG", quality=50
    ),
}


def file_case(clock, contact: str, data: bytes, name: str = "shot.png"):
    upload = FileStorage(io.BytesIO(data), filename=name, content_type="image/png")
    with evidence.stored_uploads([upload]) as stored:
        return apply(order_for(clock, contact=contact), files=stored)


def reuse_signals(case) -> dict[str, dict]:
    return {
        s["code"]: s
        for s in case.risk_signals
        if s["code"] in (str(S.SAME_EVIDENCE), str(S.SIMILAR_EVIDENCE))
    }


@pytest.mark.parametrize("variant", list(ALTERED))
def test_an_altered_copy_on_another_case_is_flagged_with_its_reason(app, clock, variant):
    first = file_case(clock, "first@example.com", encoded(ORIGINAL))
    second = file_case(clock, "second@example.com", ALTERED[variant]())
    found = reuse_signals(second)
    assert found, f"{variant}: not recognised as the same picture"
    signal = found.get(str(S.SIMILAR_EVIDENCE)) or found[str(S.SAME_EVIDENCE)]
    assert signal["value"] == 1 and first.case_no in signal["params"]["cases"]
    assert signal["level"] == "review"  # the default rule: one other case asks for a person
    if str(S.SIMILAR_EVIDENCE) in found:
        bits = found[str(S.SIMILAR_EVIDENCE)]["params"]["bits"]
        assert 0 < bits <= pl.NEAR_BITS
    assert reuse_signals(first) == {}  # the first case was alone when filed


def test_a_crop_is_a_near_copy_and_the_reviewer_reads_why(app, browser, clock):
    first = file_case(clock, "c1@example.com", encoded(ORIGINAL))
    second = file_case(clock, "c2@example.com", ALTERED["cropped 3% a side"]())
    found = reuse_signals(second)
    assert set(found) == {str(S.SIMILAR_EVIDENCE)}
    assert found[str(S.SIMILAR_EVIDENCE)]["params"]["cases"] == first.case_no
    bits = found[str(S.SIMILAR_EVIDENCE)]["params"]["bits"]
    f.staff("rev-sim")
    browser.submit(
        "/staff/login", "/staff/login", {"username": "rev-sim", "password": "password-123"}
    )
    html = browser.get(f"/review/cases/{second.case_no}").get_data(as_text=True)
    assert "looks like one of this case" in html and f"({bits} of 64 fingerprint bits" in html
    assert first.case_no in html.split("fingerprint bits", 1)[1][:200]
    # and on the file itself, in the evidence list
    flagged = html.split("An altered copy of this picture", 1)[1][:300]
    assert first.case_no in flagged
    # the first case's page flags its file the other way round
    other = browser.get(f"/review/cases/{first.case_no}").get_data(as_text=True)
    assert second.case_no in other.split("An altered copy of this picture", 1)[1][:300]


def test_a_different_screenshot_of_the_same_layout_does_not_match(app, clock):
    file_case(clock, "d1@example.com", encoded(ORIGINAL))
    for seed in (2, 3, 4, 5):
        other = file_case(clock, f"d{seed}@example.com", encoded(screenshot(seed), "JPEG"))
        assert reuse_signals(other) == {}, seed


def test_the_case_holding_the_identical_picture_is_counted_once(app, clock):
    first = file_case(clock, "i1@example.com", encoded(ORIGINAL))
    second = file_case(clock, "i2@example.com", encoded(ORIGINAL))
    assert set(reuse_signals(second)) == {str(S.SAME_EVIDENCE)}
    assert reuse_signals(second)[str(S.SAME_EVIDENCE)]["params"]["cases"] == first.case_no


def test_near_copies_are_found_on_the_band_indexes_not_by_reading_every_hash(app, clock):
    rnd = random.Random(3)
    first = file_case(clock, "n1@example.com", encoded(ORIGINAL))
    stored = db.session.get(Evidence, first.evidence[0].id).phash
    # many unrelated pictures (random hashes), and one that is 6 bits away
    rows = [f"{rnd.getrandbits(64):016x}" for _ in range(400)]
    near = int(stored, 16)
    for bit in (1, 9, 20, 33, 47, 60):
        near ^= 1 << bit
    rows.append(f"{near:016x}")
    other = apply(order_for(clock, contact="n2@example.com"))
    for i, h in enumerate(rows):
        db.session.add(
            Evidence(
                case_id=other.id,
                stored_name=f"fake{i}.png",
                original_name="x.png",
                content_type="image/png",
                size=1,
                sha256=f"{i:064x}",
                phash=h,
                uploaded_by="buyer",
                **{f"phash_b{j}": b for j, b in enumerate(pl.bands(h))},
            )
        )
    db.session.commit()
    other_no = other.case_no
    case = db.session.get(RefundCase, first.id)
    list(case.evidence)  # loaded, as the reviewer's page has them
    seen: list[tuple[str, object]] = []

    def keep(_conn, _cursor, statement, params, _context, _many):
        seen.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        found = similar_pictures.near_on_other_cases(case)
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    assert [n.case_no for n in found] == [other_no] and found[0].bits == 6
    assert len(seen) == 1
    if db.engine.dialect.name == "sqlite":
        statement, params = seen[-1]
        plan = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
        details = " | ".join(str(r[-1]) for r in plan.all())
        assert "SCAN evidence" not in details, details
        assert "ix_evidence_phash_b" in details, details


def test_the_migration_fills_the_bands_of_pictures_already_stored(app, clock):
    from sqlalchemy import text

    from tests.test_note_migration import _migrate

    first = file_case(clock, "m1@example.com", encoded(ORIGINAL))
    stored = db.session.get(Evidence, first.evidence[0].id).phash
    db.session.commit()
    _migrate("p1_privacy", down=True)
    _migrate("head")
    row = db.session.execute(
        text("SELECT phash, phash_b0, phash_b1, phash_b2, phash_b3 FROM evidence")
    ).one()
    assert row[0] == stored and tuple(row[1:]) == pl.bands(stored)
