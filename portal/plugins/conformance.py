"""The payout channel conformance kit: a pytest plugin plugin authors run against their channel.

Installing ``refund-portal`` registers this module as a pytest plugin (the ``pytest11``
entry point ``refund_portal_conformance``). To run the kit, a plugin's test suite

1. provides a ``conformance_target`` fixture returning a :class:`ConformanceTarget`:
   the channel, pointed at the gateway's simulator or sandbox, plus the few things
   only the simulator can do (capture a payment, count money movements, misbehave);
2. collects the checks by subclassing :class:`ChannelConformance`::

       class TestConformance(ChannelConformance):
           pass

The checks follow the invariants of ``docs/plugins.md``: the same key twice moves money
once; an unknown outcome is resolved by a query with the same key; partial refunds up to
the captured amount succeed; an over-refund is refused; a forged notification is rejected;
results carry the gateway's reference; a declared batch or statement capability is whole.
A channel that implements ``BillProvider`` shows a settled refund on the day's bill, says a
day with no bill yet is missing, and refuses a damaged bill with ``BillRefused``.
A channel that implements ``ConnectionChecker`` answers its check with a ``ConnectionCheck``
and, pointed at a gateway where nothing listens, still answers (``ok`` false), never raises.
Two checks run the real core against the channel (``conformance_portal``, a throwaway
portal on SQLite): a late success after a failure is raised once, never dropped; a resent
notification is acknowledged and has no second effect.
A capability a channel does not have (a bank transfer has no synchronous call to time out,
and no notifications) raises
:class:`NotSupported` in the target and the check is skipped with that reason.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from portal.domain.payout_states import PayoutState
from portal.domain.reconciliation import beijing_day
from portal.plugins.channels import (
    ArrivalWindow,
    BatchExporter,
    BatchFormat,
    BillMissing,
    BillProvider,
    BillRefused,
    BillRow,
    ChannelError,
    ConnectionCheck,
    ConnectionChecker,
    Notification,
    NotificationRejected,
    PaymentRef,
    PayoutChannel,
    RefundRequest,
    RefundResult,
    ResultStatus,
    StatementImporter,
)
from portal.plugins.manager import REQUIRED_CHANNEL_METHODS
from portal.plugins.words import Words

S = ResultStatus
T = TypeVar("T")
Headers = Mapping[str, str]


class NotSupported(Exception):
    """Raised by a target for a capability its channel does not have; the check is skipped."""


class ConformanceTarget:
    """What the kit needs from a plugin's test suite: a channel and its gateway's simulator.

    Override the methods marked *required*; the others have defaults or raise
    :class:`NotSupported`.
    """

    #: the channel under test, pointed at the simulator or sandbox (*required*)
    channel: PayoutChannel
    #: how long ``settle`` waits for a PENDING refund to become final (seconds)
    settle_timeout_s: float = 10.0
    #: False when the channel cannot know the captured amount, so that only the core's
    #: row-locked check (invariant 1) stands between a payment and an over-refund
    refuses_over_refunds: bool = True

    def new_payment(self, captured_fen: int) -> PaymentRef:
        """*Required.* Create a captured payment of ``captured_fen`` at the gateway."""
        raise NotImplementedError("ConformanceTarget.new_payment(captured_fen)")

    def movements(self, idempotency_key: str) -> int:
        """*Required.* How many times money moved at the gateway under this key."""
        raise NotImplementedError("ConformanceTarget.movements(idempotency_key)")

    def settle(self, request: RefundRequest, result: RefundResult) -> RefundResult:
        """The final result of a refund. Default: query while it is PENDING, until timeout.

        Override when money moves outside ``execute_refund`` (a bank batch and its
        statement), returning the result the statement gives.
        """
        deadline = time.monotonic() + self.settle_timeout_s
        while result.status in (S.PENDING, S.UNKNOWN) and time.monotonic() < deadline:
            time.sleep(0.05)
            result = self.channel.query_refund(request)
        return result

    def time_out_next_call_after_moving_money(self) -> None:
        """Make the next ``execute_refund`` move the money and then time out (no answer)."""
        raise NotSupported("this target cannot make the gateway time out after moving money")

    def genuine_notification(self, request: RefundRequest) -> tuple[Headers, bytes]:
        """Headers and body of a genuine gateway notification about a settled refund."""
        raise NotSupported("this channel takes no notifications")

    def forged_notification(self, request: RefundRequest) -> tuple[Headers, bytes]:
        """Headers and body of a notification about the refund that the gateway did NOT sign."""
        raise NotSupported("this channel takes no notifications")

    def unreachable_channel(self) -> PayoutChannel:
        """The channel configured as ``channel`` is, but with a gateway address where nothing
        listens (:func:`unreachable_url` gives one), for the ``ConnectionChecker`` check."""
        raise NotSupported("this target cannot point its channel at an unreachable gateway")

    def bill_day(self) -> date:
        """The Beijing day whose bill shows a refund settled now (default: today there).

        The gateway's simulator must serve that day's bill at once (a real gateway publishes
        it the next morning)."""
        return beijing_day(datetime.now(UTC))

    def missing_bill_day(self) -> date:
        """A day the gateway has no bill for yet (default: the day after ``bill_day``)."""
        return self.bill_day() + timedelta(days=1)

    def bill_faults(self) -> list[str]:
        """Names of the ways the simulator can damage its next bill (a hash that does not
        match, a file that is not an archive, the wrong encoding ...): each is given to
        ``damage_next_bill`` in turn, and ``fetch_bill`` must refuse the bill it gets."""
        raise NotSupported("this target cannot damage a bill")

    def damage_next_bill(self, fault: str) -> None:
        """Make the next bill the simulator serves damaged in the way ``fault`` names."""
        raise NotSupported("this target cannot damage a bill")

    def close(self) -> None:
        """Stop the simulator (called by the fixture's teardown, if it wants)."""


def unreachable_url(path: str = "/") -> str:
    """An http address on this machine where nothing listens (a port just freed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def new_request(payment: PaymentRef, amount_fen: int, key: str | None = None) -> RefundRequest:
    """A refund request with a fresh idempotency key (as the core makes one per payout)."""
    return RefundRequest(
        key or "CK" + uuid.uuid4().hex[:24].upper(), payment, amount_fen, reason="conformance kit"
    )


def _supported(call: Callable[..., T], *args: Any) -> T:
    try:
        return call(*args)
    except NotSupported as exc:
        pytest.skip(str(exc))


def _final(target: ConformanceTarget, request: RefundRequest) -> RefundResult:
    first = target.channel.execute_refund(request)
    assert isinstance(first, RefundResult), f"execute_refund returned {first!r}"
    return target.settle(request, first)


class ChannelConformance:
    """The kit's checks. Subclass it as ``TestConformance`` in a test module to run them."""

    def test_channel_shape(self, conformance_target: ConformanceTarget) -> None:
        """An id, a label and every required method; arrival is a valid window."""
        channel = conformance_target.channel
        assert isinstance(channel.id, str) and channel.id, "the channel needs a non-empty id"
        assert isinstance(channel.label, Words), (
            "the channel's label must be Words(zh=..., en=...): buyers read it in their language"
        )
        for name in REQUIRED_CHANNEL_METHODS:
            assert callable(getattr(channel, name, None)), f"the channel lacks {name}()"
        payment = conformance_target.new_payment(100)
        assert payment.channel == channel.id, "new_payment must return a payment of this channel"
        window = channel.arrival(payment)
        assert isinstance(window, ArrivalWindow)
        assert window.unit in ("instant", "working_days"), window
        assert 0 <= window.low <= window.high, window

    def test_full_refund_carries_the_gateway_reference(
        self, conformance_target: ConformanceTarget
    ) -> None:
        """A refund of the whole payment succeeds once, and says under which reference."""
        payment = conformance_target.new_payment(1000)
        request = new_request(payment, 1000)
        first = conformance_target.channel.execute_refund(request)
        assert first.status in (S.SUCCEEDED, S.PENDING), first
        assert first.gateway_reference, "an accepted refund must carry the gateway's reference"
        final = conformance_target.settle(request, first)
        assert final.status is S.SUCCEEDED, final
        assert final.gateway_reference, "a settled refund must carry the gateway's reference"
        assert conformance_target.movements(request.idempotency_key) == 1
        if first.status is S.SUCCEEDED:
            query = conformance_target.channel.query_refund(request)
            assert query.status is S.SUCCEEDED, query
            assert query.gateway_reference == first.gateway_reference, (
                "query_refund must report the same gateway reference as execute_refund"
            )

    def test_same_key_twice_moves_money_once(self, conformance_target: ConformanceTarget) -> None:
        """Executing the same request again (a retry) never moves money a second time."""
        payment = conformance_target.new_payment(800)
        request = new_request(payment, 800)
        first = conformance_target.channel.execute_refund(request)
        again = conformance_target.channel.execute_refund(request)
        assert again.status in (S.SUCCEEDED, S.PENDING), again
        assert again.gateway_reference == first.gateway_reference
        final = conformance_target.settle(request, again)
        assert final.status is S.SUCCEEDED, final
        third = conformance_target.channel.execute_refund(request)
        assert third.status is not S.FAILED, f"a retry after success must not fail: {third}"
        assert conformance_target.movements(request.idempotency_key) == 1

    def test_unknown_is_resolved_by_query_with_the_same_key(
        self, conformance_target: ConformanceTarget
    ) -> None:
        """A timeout after money moved is UNKNOWN (not failed); a query with the key resolves it."""
        payment = conformance_target.new_payment(990)
        request = new_request(payment, 990)
        _supported(conformance_target.time_out_next_call_after_moving_money)
        first = conformance_target.channel.execute_refund(request)
        assert first.status is S.UNKNOWN, f"a timeout must be UNKNOWN, got {first}"
        assert conformance_target.movements(request.idempotency_key) == 1
        resolved = conformance_target.settle(
            request, conformance_target.channel.query_refund(request)
        )
        assert resolved.status is S.SUCCEEDED, resolved
        assert resolved.gateway_reference
        retry = conformance_target.channel.execute_refund(request)
        assert retry.status is not S.FAILED, retry
        assert conformance_target.movements(request.idempotency_key) == 1

    def test_partial_refunds_up_to_the_captured_amount(
        self, conformance_target: ConformanceTarget
    ) -> None:
        """Several partial refunds, each with its own key, add up to the captured amount."""
        payment = conformance_target.new_payment(1000)
        requests = [new_request(payment, fen) for fen in (300, 200, 500)]
        results = [_final(conformance_target, r) for r in requests]
        assert [r.status for r in results] == [S.SUCCEEDED] * 3, results
        references = [r.gateway_reference for r in results]
        assert all(references), references  # Alipay names the trade, WeChat each refund
        assert [conformance_target.movements(r.idempotency_key) for r in requests] == [1, 1, 1]

    def test_over_refund_is_refused(self, conformance_target: ConformanceTarget) -> None:
        """A refund beyond what is left of the captured amount fails and moves nothing."""
        if not conformance_target.refuses_over_refunds:
            pytest.skip("the channel cannot see the captured amount; the core's check stands")
        payment = conformance_target.new_payment(1000)
        first = new_request(payment, 600)
        assert _final(conformance_target, first).status is S.SUCCEEDED
        over = new_request(payment, 401)
        result = _final(conformance_target, over)
        assert result.status is S.FAILED, f"an over-refund must fail, got {result}"
        assert result.message or result.code, "say why the refund was refused"
        assert conformance_target.movements(over.idempotency_key) == 0

    def test_declared_capabilities_are_whole(self, conformance_target: ConformanceTarget) -> None:
        """A batch exporter writes every format it offers; a statement importer refuses garbage."""
        channel = conformance_target.channel
        if not isinstance(channel, BatchExporter | StatementImporter):
            pytest.skip("the channel declares neither BatchExporter nor StatementImporter")
        if isinstance(channel, BatchExporter):
            formats = list(channel.batch_formats())
            assert formats, "a BatchExporter offers at least one format"
            for fmt in formats:
                assert isinstance(fmt, BatchFormat), f"batch_formats() gave {fmt!r}"
                assert fmt.name and fmt.extension and "/" in fmt.media_type, fmt
            request = new_request(conformance_target.new_payment(1500), 1500)
            for fmt in formats:
                content = channel.export_batch([request], fmt.name)
                assert isinstance(content, bytes) and content, f"{fmt.name}: no file written"
            with pytest.raises(ChannelError):
                channel.export_batch([request], "no-such-format")
        if isinstance(channel, StatementImporter):
            for garbage in (b"", b"\x00\xff not a statement", b"<x>" * 10):
                with pytest.raises(ChannelError):
                    channel.reconcile_statement(garbage)

    def test_connection_check_answers_as_the_contract_says(
        self, conformance_target: ConformanceTarget
    ) -> None:
        """A ConnectionChecker's check returns a ConnectionCheck whose words are Words."""
        channel = conformance_target.channel
        if not isinstance(channel, ConnectionChecker):
            pytest.skip("the channel does not implement ConnectionChecker")
        found = channel.check_connection()
        assert isinstance(found, ConnectionCheck), f"check_connection() returned {found!r}"
        assert isinstance(found.ok, bool), found
        assert isinstance(found.words, Words), (
            "ConnectionCheck.words must be Words(zh=..., en=...): operators read it"
        )
        assert isinstance(found.detail, str), found

    def test_connection_check_does_not_raise_when_the_gateway_is_unreachable(
        self, conformance_target: ConformanceTarget
    ) -> None:
        """Pointed at an address where nothing listens, the check says so (``ok`` false)."""
        if not isinstance(conformance_target.channel, ConnectionChecker):
            pytest.skip("the channel does not implement ConnectionChecker")
        channel = _supported(conformance_target.unreachable_channel)
        assert isinstance(channel, ConnectionChecker)
        try:
            found = channel.check_connection()
        except Exception as exc:  # noqa: BLE001 - the failure this check reports
            pytest.fail(f"check_connection() raised {exc!r} for an unreachable gateway")
        assert isinstance(found, ConnectionCheck), f"check_connection() returned {found!r}"
        assert found.ok is False, "an unreachable gateway cannot pass the check"
        assert isinstance(found.words, Words), found

    def test_bill_shows_a_settled_refund(self, conformance_target: ConformanceTarget) -> None:
        """A BillProvider's bill of the day shows a settled refund once, by our refund number,
        with its amount and the gateway's reference; every row is a BillRow of that day."""
        channel = conformance_target.channel
        if not isinstance(channel, BillProvider):
            pytest.skip("the channel does not implement BillProvider")
        payment = conformance_target.new_payment(1300)
        request = new_request(payment, 700)
        result = _final(conformance_target, request)
        assert result.status is S.SUCCEEDED, result
        day = conformance_target.bill_day()
        rows = list(channel.fetch_bill(day))
        for row in rows:
            assert isinstance(row, BillRow), f"fetch_bill gave {row!r}, not a BillRow"
            assert beijing_day(row.at) == day, f"{row} is not dated on the bill's day {day}"
        mine = [row for row in rows if row.refund_no == request.idempotency_key]
        assert len(mine) == 1, f"the refund shows {len(mine)} times on the bill: {rows}"
        assert mine[0].amount_fen == 700, mine[0]
        assert mine[0].gateway_reference, "a bill row carries the gateway's reference"

    def test_bill_missing_or_damaged_is_said_so(
        self, conformance_target: ConformanceTarget
    ) -> None:
        """No bill yet raises BillMissing; a damaged bill raises BillRefused, nothing else."""
        channel = conformance_target.channel
        if not isinstance(channel, BillProvider):
            pytest.skip("the channel does not implement BillProvider")
        with pytest.raises(BillMissing):
            list(channel.fetch_bill(conformance_target.missing_bill_day()))
        faults = _supported(conformance_target.bill_faults)
        paid = _final(conformance_target, new_request(conformance_target.new_payment(600), 600))
        assert paid.status is S.SUCCEEDED, paid  # a bill with a row in it to damage
        day = conformance_target.bill_day()
        for fault in faults:
            conformance_target.damage_next_bill(fault)
            try:
                list(channel.fetch_bill(day))
            except BillRefused:
                continue
            except Exception as exc:  # noqa: BLE001 - the failure this check reports
                pytest.fail(f"a bill damaged by {fault!r} raised {exc!r}, not BillRefused")
            pytest.fail(f"a bill damaged by {fault!r} was accepted")

    def test_forged_notification_is_rejected(self, conformance_target: ConformanceTarget) -> None:
        """A notification the gateway did not sign is rejected; the genuine one is accepted."""
        payment = conformance_target.new_payment(1200)
        request = new_request(payment, 1200)
        result = _final(conformance_target, request)
        assert result.status is S.SUCCEEDED, result
        headers, body = _supported(conformance_target.forged_notification, request)
        with pytest.raises(NotificationRejected):
            conformance_target.channel.parse_notification(headers, body)
        with pytest.raises(NotificationRejected):
            conformance_target.channel.parse_notification({}, b"")
        headers, body = conformance_target.genuine_notification(request)
        note, reply = conformance_target.channel.parse_notification(headers, body)
        assert isinstance(note, Notification)
        assert note.idempotency_key == request.idempotency_key
        assert note.status is S.SUCCEEDED
        assert note.gateway_reference == result.gateway_reference
        assert note.amount_fen in (None, 1200)
        assert 200 <= reply.status_code < 300

    def test_late_success_after_a_failure_is_raised(
        self, conformance_target: ConformanceTarget, conformance_portal: Any
    ) -> None:
        """Money reported moved for a payout the portal holds as failed and paid another way
        is raised to operators once (an audit event, a staff notice, the payouts page), by
        every notification delivery (each acknowledged, so the gateway stops resending) and
        by a query; never dropped, and the payout is not silently rewritten."""
        portal = conformance_portal
        payment = conformance_target.new_payment(1000)
        payout_id, request = portal.approved_payout(payment, 1000)
        earlier = RefundResult(S.FAILED, code="KIT_EARLIER_FAILURE", message="refused earlier")
        portal.record_answer(payout_id, earlier)
        portal.pay_another_way(payout_id)
        assert portal.state(payout_id) == PayoutState.FAILED
        # yet the gateway pays the refund after all, under the payout's own key
        paid = _final(conformance_target, request)
        assert paid.status is S.SUCCEEDED, paid
        note = _notification(conformance_target, request)
        if note is not None:  # the gateway delivers it, and resends it: each acknowledged
            for delivery in range(2):
                status, answer = portal.notify(*_notification(conformance_target, request) or note)
                assert 200 <= status < 300, (
                    f"delivery {delivery + 1} of a success for a failed payout was answered "
                    f"{status} {answer!r}: record it and acknowledge it, or the gateway resends"
                )
        answer = conformance_target.settle(
            request, conformance_target.channel.query_refund(request)
        )
        assert answer.status is S.SUCCEEDED, f"a query must report the money moved: {answer}"
        portal.record_answer(payout_id, answer)
        portal.record_answer(payout_id, answer)  # the job's next query says it again
        raised = portal.events(payout_id, LATE_SUCCESS_EVENT)
        assert len(raised) == 1, (
            f"raised {len(raised)} times: once per gateway reference, however often it arrives "
            f"(notification {note is not None}, query twice): {raised}"
        )
        assert raised[0]["reference"] == answer.gateway_reference, (
            "notifications and queries must name the refund by the same gateway reference"
        )
        assert portal.staff_notices(DOUBLE_PAYMENT_NOTICE) == 1
        assert payout_id in portal.possible_doubles()
        assert portal.state(payout_id) == PayoutState.FAILED, "the payout's record is not rewritten"

    def test_an_acknowledged_duplicate_notification_has_no_second_effect(
        self, conformance_target: ConformanceTarget, conformance_portal: Any
    ) -> None:
        """The gateway resends a notification until it is acknowledged, and may resend one
        already acknowledged: every genuine delivery is acknowledged, and the refund is
        applied once (one success event, one ledger entry, the case refunded once). An exact
        copy of a delivery already seen may be refused, but changes nothing either."""
        portal = conformance_portal
        payment = conformance_target.new_payment(900)
        payout_id, request = portal.approved_payout(payment, 900)
        booked_before = portal.ledger_entries(payout_id)  # the refund charged to the merchant
        paid = _final(conformance_target, request)
        assert paid.status is S.SUCCEEDED, paid
        headers, body = _supported(conformance_target.genuine_notification, request)
        status, answer = portal.notify(headers, body)
        assert 200 <= status < 300, f"a genuine notification was answered {status} {answer!r}"
        assert portal.state(payout_id) == PayoutState.SUCCEEDED
        for _ in range(2):  # the gateway's resends
            status, answer = portal.notify(*conformance_target.genuine_notification(request))
            assert 200 <= status < 300, f"a resent notification was answered {status} {answer!r}"
        portal.notify(headers, body)  # an exact copy of the first delivery
        assert len(portal.events(payout_id, "payout_succeeded")) == 1
        assert portal.ledger_entries(payout_id) == booked_before + 1, "the money moved once"
        assert portal.events(payout_id, LATE_SUCCESS_EVENT) == []
        assert portal.state(payout_id) == PayoutState.SUCCEEDED


def _notification(
    target: ConformanceTarget, request: RefundRequest
) -> tuple[Headers, bytes] | None:
    try:
        return target.genuine_notification(request)
    except NotSupported:
        return None


#: what the kit's portal records when money is reported moved for a payout held as failed
LATE_SUCCESS_EVENT = "payout_late_success"
DOUBLE_PAYMENT_NOTICE = "possible_double_payment"


@pytest.fixture
def conformance_portal(conformance_target: ConformanceTarget, tmp_path: Path) -> Iterator[Any]:
    """A throwaway portal (SQLite, no Redis) with the target's channel as its only channel."""
    from portal.plugins.conformance_portal import KitPortal  # heavy: the whole portal

    with KitPortal(conformance_target.channel, tmp_path).running() as portal:
        yield portal


@pytest.fixture
def conformance_target() -> ConformanceTarget:
    """Overridden by the plugin's tests; this default says what to provide."""
    raise pytest.UsageError(
        "define a `conformance_target` fixture returning a "
        "portal.plugins.conformance.ConformanceTarget for your channel (see docs/plugins.md)"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the kit's marker."""
    config.addinivalue_line("markers", "conformance: a check of the payout channel kit")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every check collected from a ChannelConformance subclass."""
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, ChannelConformance):
            item.add_marker(pytest.mark.conformance)
