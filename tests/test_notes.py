"""What the system writes is a code with parameters, worded when read in the reader's
language; a plugin names an outcome code or hands over both languages, never plain text."""

from __future__ import annotations

import pytest

from portal.domain.notes import NOTES, OUTCOME_CODES, Note, stored
from portal.infra.i18n import force_locale
from portal.plugins.channels import RefundResult, ResultStatus
from portal.plugins.words import Words
from portal.views.note_words import note_text


def test_a_note_refuses_unknown_codes_and_parameters_it_cannot_store():
    with pytest.raises(ValueError, match="unknown note code"):
        Note("offer #2 accepted")
    with pytest.raises(ValueError, match="text or an integer"):
        Note("auto_not_delivered", {"deadline_at": 1.5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="text or an integer"):
        Note("auto_not_delivered", {"deadline_at": True})
    assert stored({"code": "no_longer_known"}) is None
    assert stored("refunded") is None
    note = Note("awaiting_batch")
    assert stored(note.to_json()) == note


def test_a_channel_cannot_hand_over_plain_text_or_a_code_that_is_not_an_outcome():
    with pytest.raises(TypeError, match="Note or Words"):
        RefundResult(ResultStatus.PENDING, note="waiting for the statement")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an outcome code"):
        RefundResult(ResultStatus.SUCCEEDED, note=Note("offer_accepted"))
    assert OUTCOME_CODES <= set(NOTES)
    RefundResult(ResultStatus.PENDING, note=Note("awaiting_statement"))
    RefundResult(ResultStatus.FAILED, note=Words(zh="钱包已冻结", en="The wallet is frozen"))


def test_parameters_are_shown_for_the_reader(app):
    note = Note("auto_not_delivered", {"deadline_at": "2026-03-09T02:05:00+00:00"}).to_json()
    words = Words(zh="钱包已冻结", en="The wallet is frozen").to_json()
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        # China time (UTC+8), in Chinese
        assert note_text(note) == "已自动同意退款：订单记录显示，商家未在 2026-03-09 10:05 前发货。"
        assert note_text(words) == "钱包已冻结"
        assert note_text({"code": "gone"}) is None
    with app.test_request_context(), force_locale("en"):
        assert note_text(note) == (
            "Approved at once: the order was not delivered by 2026-03-09 10:05,"
            " as its own times show."
        )
        assert note_text(words) == "The wallet is frozen"
