"""``BankChannel``: refunds to a bank card, paid by batch transfer and settled by statement.

Nothing is sent anywhere when a refund is executed: the request is checked and stays
PENDING under its end-to-end id (the idempotency key) until the operator exports a batch
(CSV or pain.001), uploads it to the bank, and imports the bank's camt.053 statement,
whose booked debits succeed the payouts and whose returns fail them (reopen them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from portal.plugins.channels import (
    ArrivalWindow,
    BatchExporter,
    BatchFormat,
    ChannelError,
    ConnectionCheck,
    ConnectionChecker,
    PaymentRef,
    PayoutChannel,
    RefundRequest,
    RefundResult,
    ResultStatus,
    StatementImporter,
    StatementLine,
)
from portal.plugins.words import Note, Words
from refund_portal_bank.amounts import fen_to_yuan
from refund_portal_bank.records import Debtor, InvalidTransfer, Transfer, transfer_for

FORMATS = (
    BatchFormat("csv", "csv", "text/csv"),
    BatchFormat("pain.001", "xml", "application/xml"),
)
BATCH_FORMATS = tuple(f.name for f in FORMATS)


class BankChannel(PayoutChannel, BatchExporter, StatementImporter, ConnectionChecker):
    """Payouts by bank transfer to the buyer's card, reconciled from camt.053 statements."""

    id = "bank"
    label = Words(zh="银行卡", en="Bank card")

    def __init__(self, debtor: Debtor, unset: Iterable[str] = ()) -> None:
        self.debtor = debtor
        #: the debtor settings left at their defaults (the demo's placeholders)
        self.unset = frozenset(unset)

    @property
    def currency(self) -> str:
        """The currency of the merchant's account, the only one this channel pays in."""
        return self.debtor.currency

    def arrival(self, payment: PaymentRef) -> ArrivalWindow:
        return ArrivalWindow("working_days", 1, 3)

    def _check_route(self, request: RefundRequest) -> None:
        if request.payment.channel != self.id:
            raise ChannelError(
                f"refund {request.idempotency_key} belongs to channel "
                f"{request.payment.channel!r}, not {self.id!r}"
            )

    def execute_refund(self, request: RefundRequest) -> RefundResult:
        """Check the request; PENDING until a statement books it. Sends nothing; repeatable."""
        self._check_route(request)
        try:
            transfer = transfer_for(request, self.currency)
        except InvalidTransfer as exc:
            return RefundResult(
                status=ResultStatus.FAILED,
                message=f"cannot pay by bank transfer: {exc}",
                code="INVALID_CREDITOR",
                note=Note("invalid_creditor"),
            )
        return RefundResult(
            status=ResultStatus.PENDING,
            gateway_reference=transfer.end_to_end_id,
            note=Note("awaiting_batch"),
            raw={
                "end_to_end_id": transfer.end_to_end_id,
                "amount": fen_to_yuan(transfer.amount_fen),
                "currency": transfer.currency,
                "creditor": transfer.creditor.name,
                "account": transfer.creditor.masked_account(),
                "bank": transfer.creditor.bank_name,
            },
        )

    def query_refund(self, request: RefundRequest) -> RefundResult:
        """Always PENDING: the bank statement, imported by the core, is the only truth."""
        self._check_route(request)
        return RefundResult(
            status=ResultStatus.PENDING,
            gateway_reference=request.idempotency_key,
            note=Note("awaiting_statement"),
        )

    def batch_formats(self) -> Sequence[BatchFormat]:
        return FORMATS

    def transfers(self, requests: Sequence[RefundRequest]) -> list[Transfer]:
        """The checked transfers for ``requests``; ChannelError naming every bad one."""
        transfers: list[Transfer] = []
        problems: list[str] = []
        for request in requests:
            self._check_route(request)
            try:
                transfers.append(transfer_for(request, self.currency))
            except InvalidTransfer as exc:
                problems.append(f"{request.idempotency_key}: {exc}")
        if problems:
            raise ChannelError("cannot export the batch: " + "; ".join(problems))
        return transfers

    def export_batch(
        self,
        requests: Sequence[RefundRequest],
        fmt: str,
        *,
        now: datetime | None = None,
        msg_id: str | None = None,
    ) -> bytes:
        """Write ``requests`` as a "csv" or "pain.001" batch file.

        ``now`` (the creation time) and ``msg_id`` make the pain.001 output reproducible;
        by default they are the current China Standard Time and an id derived from it and
        the batch's contents.
        """
        if fmt not in BATCH_FORMATS:
            raise ChannelError(f"unknown batch format {fmt!r}; use one of {BATCH_FORMATS}")
        transfers = self.transfers(requests)
        # the XML writers load here, not with the plugin: a web worker that serves pages
        # and never writes a batch does not carry them (the same for the two below)
        from refund_portal_bank.batch import BatchError, build_csv, build_pain001

        try:
            if fmt == "csv":
                return build_csv(transfers, self.currency)
            return build_pain001(transfers, self.debtor, now=now, msg_id=msg_id)
        except BatchError as exc:
            raise ChannelError(f"cannot export the batch: {exc}") from None

    def check_connection(self) -> ConnectionCheck:
        """No call (there is no bank interface): the offline checks of ``selfcheck``."""
        from refund_portal_bank import selfcheck

        return selfcheck.check(self.debtor, self.unset)

    def reconcile_statement(self, data: bytes) -> Sequence[StatementLine]:
        """Parse a camt.053 statement; ChannelError if it is malformed, hostile or not camt."""
        from refund_portal_bank.statement import StatementError, parse_statement

        try:
            return parse_statement(data, self.currency, self.debtor.account)
        except StatementError as exc:
            raise ChannelError(f"bank statement refused: {exc}") from None
