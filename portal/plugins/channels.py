"""The payout channel contract: the values a channel receives and returns.

A payout channel is a plugin object that moves money back along the route the
original payment took (Alipay, WeChat Pay, a bank card, ...). The core never
talks to a gateway itself; it builds a :class:`RefundRequest`, hands it to the
one channel whose ``id`` matches the payment's channel, and records the
:class:`RefundResult`.

A channel that pays by batch file and settles by statement (a bank transfer) also
implements :class:`BatchExporter` and :class:`StatementImporter`; the core offers the
export and statement screens to every channel that does, whatever its id.

Everything here is plain data, protocols and an abstract base class: no Flask, no database.
"""

from __future__ import annotations

import abc
import enum
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from portal.plugins.words import OUTCOME_CODES, Note, Words


class ResultStatus(enum.StrEnum):
    """What a gateway said about one refund."""

    SUCCEEDED = "succeeded"  # money has moved (or is irrevocably on its way)
    PENDING = "pending"  # accepted, not final yet: query again or wait for a statement
    FAILED = "failed"  # final refusal: nothing moved, nothing will
    UNKNOWN = "unknown"  # timeout / system error: resolve by query with the SAME key
    #: accepted, but the buyer's account cannot receive it (WeChat Pay ABNORMAL: card closed,
    #: account frozen): the gateway holds the money until an operator redirects it; a
    #: success may still follow
    ABNORMAL = "abnormal"


@dataclass(frozen=True, slots=True)
class PaymentRef:
    """The original payment a refund goes back to."""

    channel: str  # channel id, e.g. "alipay"
    gateway_trade_id: str  # the gateway's id of the payment (trade_no / transaction_id)
    merchant_trade_no: str  # our id of the payment at the gateway (out_trade_no)
    captured_fen: int  # how much the gateway captured, in fen
    currency: str = "CNY"
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. bank account for bank


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """One refund, immutable for its whole life.

    ``idempotency_key`` is stored before the first attempt and sent unchanged on
    every retry (Alipay ``out_request_no``, WeChat ``out_refund_no``, bank
    end-to-end id). A retry sends byte-identical business fields.
    """

    idempotency_key: str
    payment: PaymentRef
    amount_fen: int
    currency: str = "CNY"
    reason: str = ""
    notify_url: str = ""

    def __post_init__(self) -> None:
        if not self.idempotency_key or len(self.idempotency_key) > 64:
            raise ValueError("idempotency_key must be 1..64 characters")
        if not isinstance(self.amount_fen, int) or isinstance(self.amount_fen, bool):
            raise TypeError("amount_fen must be an int (fen)")
        if self.amount_fen <= 0:
            raise ValueError("amount_fen must be positive")
        if self.amount_fen > self.payment.captured_fen:
            raise ValueError("amount_fen exceeds the captured amount")


@dataclass(frozen=True, slots=True)
class RefundResult:
    """A gateway's answer about one refund."""

    status: ResultStatus
    gateway_reference: str = ""  # the gateway's refund id, when it gave one
    message: str = ""  # the gateway's own text, as it said it (shown to staff only, labelled)
    code: str = ""  # gateway error code, e.g. "ACQ.TRADE_HAS_FINISHED"
    raw: Any = None  # the gateway's raw answer, JSON-serialisable
    amount_fen: int | None = None  # amount the gateway reports, when it reports one
    # what people (buyers too) read about this answer, in their language: a portal Note
    # (one of portal.domain.notes.OUTCOME_CODES) or the channel's own Words; None when the
    # state says it all
    note: Note | Words | None = None

    def __post_init__(self) -> None:
        if self.note is not None and not isinstance(self.note, (Note, Words)):
            raise TypeError("RefundResult.note must be a Note or Words (not plain text)")
        if isinstance(self.note, Note) and self.note.code not in OUTCOME_CODES:
            raise ValueError(f"{self.note.code!r} is not an outcome code a channel may use")


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified, parsed gateway notification about one refund."""

    idempotency_key: str
    status: ResultStatus
    amount_fen: int | None
    gateway_reference: str
    gateway_trade_id: str
    raw: Any = None


@dataclass(frozen=True, slots=True)
class AbnormalRedirect:
    """An operator's instruction for a refund the buyer's account could not receive
    (``ResultStatus.ABNORMAL``).

    ``to_buyer_card`` True: to the buyer's debit card (``bank_code``, one of the channel's
    ``redirect_banks()``; ``card_no``; ``holder_name``, the card holder's real name). False:
    to the merchant's own bank account (the merchant then pays the buyer); no other field.
    """

    to_buyer_card: bool
    bank_code: str = ""
    card_no: str = ""
    holder_name: str = ""

    def masked_card(self) -> str:
        """The card number as it may be stored and shown: ``6222***********0123``."""
        digits = self.card_no
        if len(digits) <= 8:
            return "*" * len(digits)
        return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


@dataclass(frozen=True, slots=True)
class NotificationReply:
    """What to answer the gateway over HTTP once a notification is handled."""

    status_code: int
    body: bytes
    content_type: str = "text/plain"


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One line of a bank statement matched (or not) to a payout."""

    idempotency_key: str  # end-to-end reference
    amount_fen: int
    status: ResultStatus  # SUCCEEDED when booked, FAILED when returned
    booked_on: str = ""  # ISO date
    message: str = ""  # the statement's own text (shown to staff only, labelled)
    #: the bank's own reference of the entry (camt.053 AcctSvcrRef or NtryRef): two
    #: bookings of one transfer are told apart by it, one entry imported twice is kept once
    entry_ref: str = ""


@dataclass(frozen=True, slots=True)
class ArrivalWindow:
    """When the buyer can expect the money, as the channel promises it.

    ``unit`` is "instant" (low=high=0) or "working_days" (e.g. 1..3).
    The core turns it into a date with the working-day calendar.
    """

    unit: str
    low: int = 0
    high: int = 0


@dataclass(frozen=True, slots=True)
class BatchFormat:
    """One file format a batch-paying channel writes (see :class:`BatchExporter`)."""

    name: str  # what the operator picks and ``export_batch`` receives, e.g. "pain.001"
    extension: str  # the downloaded file's extension, without the dot, e.g. "xml"
    media_type: str  # the download's Content-Type, e.g. "application/xml"


class ReplayGuard(Protocol):
    """Remembers notification nonces so a replayed one is refused.

    The core passes one as ``ChannelServices.replay_guard`` (Redis-backed, shared by
    every process); :class:`MemoryReplayGuard` is the single-process fallback.
    """

    def first_seen(self, namespace: str, nonce: str, ttl_seconds: int) -> bool:
        """Record ``nonce``; True the first time it is seen within ``ttl_seconds``."""
        ...


class MemoryReplayGuard:
    """In-process ReplayGuard for tests and single-process use."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}

    def first_seen(self, namespace: str, nonce: str, ttl_seconds: int) -> bool:
        now = time.monotonic()
        self._seen = {k: t for k, t in self._seen.items() if t > now}
        key = (namespace, nonce)
        if key in self._seen:
            return False
        self._seen[key] = now + ttl_seconds
        return True


class SharedStore(Protocol):
    """Small values every process of the portal sees: what a channel downloads once for all
    of them (WeChat Pay's platform certificates) and short claims between processes.

    The core passes one as ``ChannelServices.shared_store`` (Redis-backed, under the
    portal's own prefix); :class:`MemorySharedStore` is the single-process fallback. Keys
    are the channel's own (start them with its id). A store that cannot be reached reads as
    empty, writes nothing and grants every claim: a channel must still work from what it
    holds in memory, and limit itself per process.
    """

    def get(self, key: str) -> bytes | None:
        """The value under ``key``, or None."""
        ...

    def put(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store ``value`` under ``key`` (for ``ttl_seconds``, or until replaced)."""
        ...

    def claim(self, key: str, ttl_seconds: int) -> bool:
        """Take ``key`` for ``ttl_seconds`` if nobody holds it; True if this caller got it."""
        ...


class MemorySharedStore:
    """In-process SharedStore for tests and single-process use."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._clock = clock

    def _live(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, until = entry
        if until is not None and until <= self._clock():
            del self._values[key]
            return None
        return value

    def get(self, key: str) -> bytes | None:
        return self._live(key)

    def put(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        until = None if ttl_seconds is None else self._clock() + ttl_seconds
        self._values[key] = (bytes(value), until)

    def claim(self, key: str, ttl_seconds: int) -> bool:
        if self._live(key) is not None:
            return False
        self.put(key, b"1", ttl_seconds)
        return True


@dataclass(frozen=True, slots=True)
class ChannelServices:
    """What the core lends the channels it asks a plugin for, besides the plugin's settings.

    Passed as the ``services`` argument of ``register_payout_channels``. The defaults suit a
    plugin's own tests; the portal passes its shared guard and its dev-keys directory.
    """

    #: remembers notification nonces across every process (Redis-backed in the portal)
    replay_guard: ReplayGuard = field(default_factory=MemoryReplayGuard)
    #: development only: where a channel may make and keep generated keys (None otherwise)
    dev_keys_dir: str | None = None
    #: values shared by every process (Redis-backed in the portal): downloaded certificates
    shared_store: SharedStore = field(default_factory=MemorySharedStore)


class NotificationRejected(Exception):
    """A notification failed verification (forged, stale, replayed, malformed)."""


class ChannelError(Exception):
    """A channel is misconfigured or misused (not a gateway answer)."""


class PayoutChannel(abc.ABC):
    """The interface every payout channel implements.

    Register instances through the ``register_payout_channels`` hook.
    """

    #: unique channel id, matching ``PaymentRef.channel`` (e.g. "alipay")
    id: str
    #: the name shown to buyers and operators, in each language: ``Words(zh="支付宝", en="Alipay")``
    label: Words | str

    def supports_partial_refund(self, payment: PaymentRef) -> bool:
        """Whether this channel can refund less than the captured amount."""
        return True

    @abc.abstractmethod
    def arrival(self, payment: PaymentRef) -> ArrivalWindow:
        """When the money is expected to arrive after a successful refund."""

    @abc.abstractmethod
    def execute_refund(self, request: RefundRequest) -> RefundResult:
        """Ask the gateway to refund. Must be safe to call again with the same request."""

    @abc.abstractmethod
    def query_refund(self, request: RefundRequest) -> RefundResult:
        """Ask the gateway what became of the refund with ``request.idempotency_key``."""

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[Notification, NotificationReply]:
        """Verify and parse a gateway notification; raise NotificationRejected if not genuine."""
        raise NotificationRejected(f"channel {self.id!r} takes no notifications")

    def failure_reply(self, status_code: int, message: str) -> NotificationReply:
        """The answer to a notification that was rejected or refused (non-2xx: resend it).

        The default is plain text; a channel whose gateway specifies a failure body (WeChat
        Pay: JSON ``{"code": "FAIL", "message": ...}``) overrides this.
        """
        return NotificationReply(status_code, message.encode(), "text/plain")


@runtime_checkable
class BatchExporter(Protocol):
    """A channel whose payouts the operator sends to the bank as a batch file.

    Declare it by subclassing (``class MyChannel(PayoutChannel, BatchExporter)``) or just by
    having both methods; the payouts page then offers a download for each format.
    """

    @abc.abstractmethod
    def batch_formats(self) -> Sequence[BatchFormat]:
        """The formats ``export_batch`` can write (at least one)."""

    @abc.abstractmethod
    def export_batch(self, requests: Sequence[RefundRequest], fmt: str) -> bytes:
        """Write pending refunds as a payout batch file in the format named ``fmt``."""


@runtime_checkable
class AbnormalRedirector(Protocol):
    """A channel whose gateway can redirect a refund the buyer's account could not receive
    (WeChat Pay's ``apply-abnormal-refund``): the payouts page offers the form for every
    payout of this channel in the ``abnormal`` state."""

    @abc.abstractmethod
    def redirect_banks(self) -> Sequence[tuple[str, Words]]:
        """The banks whose debit cards a refund may be redirected to: (code, name) pairs."""

    @abc.abstractmethod
    def redirect_abnormal(
        self, request: RefundRequest, gateway_reference: str, redirect: AbnormalRedirect
    ) -> RefundResult:
        """Ask the gateway to send the held refund where ``redirect`` says.

        ``gateway_reference`` is the gateway's id of the refund (WeChat ``refund_id``). The
        answer is the refund's new status: ``PENDING`` or ``SUCCEEDED`` when the gateway took
        the instruction, ``FAILED`` when it refused it (the refund stays held; say why),
        ``UNKNOWN`` when it cannot be told (a query settles it). Never put the card number or
        the name in the result.
        """


@runtime_checkable
class StatementImporter(Protocol):
    """A channel whose payouts settle when they appear on a statement the operator imports."""

    @abc.abstractmethod
    def reconcile_statement(self, data: bytes) -> Sequence[StatementLine]:
        """Parse a statement file into lines matched by idempotency key."""


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """What one harmless, signed call to the gateway found (``refund-portal check-channels``).

    ``ok`` is true only when the gateway answered and accepted our credentials and we could
    verify its answer. ``words`` says what was found in a sentence an operator reads;
    ``detail`` holds the gateway's own code or message (staff only, never translated).
    """

    ok: bool
    words: Words
    detail: str = ""


@runtime_checkable
class ConnectionChecker(Protocol):
    """A channel that can prove its configuration with one call that moves no money
    (a refund query for a reference that does not exist, a certificate download, ...)."""

    @abc.abstractmethod
    def check_connection(self) -> ConnectionCheck:
        """Make one signed call that changes nothing at the gateway and say what it showed.

        Never raise for a gateway's refusal or a network failure: return ``ok=False`` naming
        it (wrong app id, signature refused, certificate unknown, timeout).
        """


@runtime_checkable
class KeyRefresher(Protocol):
    """A channel whose gateway's verification keys are downloaded and rotate (WeChat Pay's
    platform certificates). The worker's sweep asks every minute whether a refresh is due
    and, when it is, runs ``jobs.channel_keys.refresh_keys`` with the channel's id."""

    @abc.abstractmethod
    def refresh_due(self) -> bool:
        """Whether the keys should be downloaded again now (cheap: no gateway call)."""

    @abc.abstractmethod
    def refresh_keys(self) -> str:
        """Download, check and keep the gateway's current keys; say what was kept (for the
        log). Safe to run twice and from several processes at once. Raise ChannelError when
        the download failed or did not check out: the keys held so far stay in use."""


@dataclass(frozen=True, slots=True)
class BillRow:
    """One refund as a gateway's own daily bill shows it, in the portal's neutral form.

    ``refund_no`` is our refund number at the gateway (the payout's idempotency key: Alipay
    ``out_request_no``, WeChat ``out_refund_no``, the bank's end-to-end id);
    ``gateway_reference`` the gateway's id of the refund; ``amount_fen`` what the bill says
    moved, in fen (positive); ``at`` when the gateway says it happened (aware).
    """

    refund_no: str
    gateway_reference: str
    amount_fen: int
    at: datetime

    def __post_init__(self) -> None:
        if not self.refund_no or len(self.refund_no) > 64:
            raise ValueError("refund_no must be 1..64 characters")
        if not isinstance(self.amount_fen, int) or isinstance(self.amount_fen, bool):
            raise TypeError("amount_fen must be an int (fen)")
        if self.amount_fen <= 0:
            raise ValueError("amount_fen must be positive")
        if self.at.tzinfo is None:
            raise ValueError("at must be timezone-aware")


class BillMissing(Exception):
    """The gateway has no bill for that day yet (or says none exists): ask again later."""


class BillRefused(Exception):
    """The bill was fetched but cannot be trusted: it does not parse, its hash does not
    match, it is for another day. The message (the gateway's words or the parser's) is shown
    to staff only, labelled; nothing of the bill is recorded as reconciled."""


@runtime_checkable
class BillProvider(Protocol):
    """A channel whose gateway publishes a daily bill of the refunds it processed.

    The core fetches the bill of each past Beijing day (the gateways' day, UTC+8) and
    matches its rows against the payouts it holds as settled on that day.
    """

    @abc.abstractmethod
    def fetch_bill(self, day: date) -> Iterable[BillRow]:
        """The refund rows of the gateway's bill for the Beijing day ``day``.

        Raise :class:`BillMissing` when the gateway has no bill for the day yet (the core
        retries later), :class:`BillRefused` when what it gave cannot be trusted. May be a
        generator: rows are read once, in order.
        """
