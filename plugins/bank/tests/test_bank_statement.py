"""Statement import: camt.053 parsed into lines matched by end-to-end id; hostile input refused."""

from __future__ import annotations

import http.server
import threading
from datetime import date

import pytest
from refund_portal_bank.channel import BankChannel
from refund_portal_bank.plugin import debtor_from_settings
from refund_portal_bank.simulator import statement_for

from portal.plugins.channels import ChannelError, ResultStatus, StatementLine

CAMT02 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def tx(e2e=None, amount=None, rtr=None):
    refs = f"<Refs><EndToEndId>{e2e}</EndToEndId></Refs>" if e2e else "<Refs><TxId>X</TxId></Refs>"
    amt = f'<AmtDtls><TxAmt><Amt Ccy="CNY">{amount}</Amt></TxAmt></AmtDtls>' if amount else ""
    ret = f"<RtrInf><Rsn><Cd>{rtr}</Cd></Rsn></RtrInf>" if rtr else ""
    return f"<TxDtls>{refs}{amt}{ret}</TxDtls>"


def entry(amount, ind, txs, *, sts="BOOK", ccy="CNY", rvsl=None, booked="2025-03-04"):
    rv = f"<RvslInd>{rvsl}</RvslInd>" if rvsl is not None else ""
    return (
        f'<Ntry><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{ind}</CdtDbtInd>{rv}'
        f"<Sts>{sts}</Sts><BookgDt><Dt>{booked}</Dt></BookgDt>"
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn>"
        f"</BkTxCd><NtryDtls>{''.join(txs)}</NtryDtls></Ntry>"
    )


DEBTOR = "<Acct><Id><Othr><Id>6200000000000000001</Id></Othr></Id></Acct>"


def camt(*entries, ns=CAMT02, prolog="", acct=DEBTOR):
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<Document xmlns="{ns}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>M1</MsgId><CreDtTm>2025-03-04T18:00:00</CreDtTm></GrpHdr>"
        "<Stmt><Id>S1</Id><CreDtTm>2025-03-04T18:00:00</CreDtTm>"
        f"{acct}{''.join(entries)}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def _batch(channel, req, now, amounts):
    requests = [req(f"RP{i:04d}", fen, trade_no=f"ORD-{i}") for i, fen in enumerate(amounts, 1)]
    return requests, channel.export_batch(requests, "pain.001", now=now)


@pytest.mark.parametrize(
    ("acct", "refusal"),
    [
        ("<Acct><Id><Othr><Id>6200000000000000002</Id></Othr></Id></Acct>", "6200000000000000002"),
        ("<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>", "DE89370400440532013000"),
        ("<Acct><Id><Othr><Id></Id></Othr></Id></Acct>", "names no account"),
        ("", "names no account"),
    ],
)
def test_statement_for_another_account_is_refused(channel, acct, refusal):
    data = camt(entry("1.00", "DBIT", [tx("RP0001")]), acct=acct)
    with pytest.raises(ChannelError, match=refusal) as info:
        channel.reconcile_statement(data)
    assert "BANK_DEBTOR_ACCOUNT" in str(info.value) or "names no account" in refusal


def test_one_foreign_statement_refuses_the_whole_file(channel):
    ours = entry("1.00", "DBIT", [tx("RP0001")])
    data = camt(ours).replace(
        b"</BkToCstmrStmt>",
        b"<Stmt><Id>S2</Id><Acct><Id><Othr><Id>999</Id></Othr></Id></Acct>"
        + ours.encode()
        + b"</Stmt></BkToCstmrStmt>",
    )
    with pytest.raises(ChannelError, match="statement 2 is for account '999'"):
        channel.reconcile_statement(data)


def test_statement_account_matches_configured_debtor(req, now):
    other = BankChannel(debtor_from_settings({"BANK_DEBTOR_ACCOUNT": "1001234567890123456"}))
    requests, pain = _batch(other, req, now, (500,))
    lines = other.reconcile_statement(statement_for(pain))
    assert [ln.idempotency_key for ln in lines] == [requests[0].idempotency_key]
    with pytest.raises(ChannelError, match="not the configured debtor account"):
        other.reconcile_statement(camt(entry("5.00", "DBIT", [tx("RP0001")])))
    spaced = "<Acct><Id><Othr><Id> 1001 2345 6789 0123 456 </Id></Othr></Id></Acct>"
    assert other.reconcile_statement(camt(entry("5.00", "DBIT", [tx("RP0001")]), acct=spaced))


def test_round_trip_gives_succeeded_lines_with_exact_fen(channel, req, now):
    amounts = (1, 123456, 99, 100_000_000_00)
    requests, pain = _batch(channel, req, now, amounts)
    lines = channel.reconcile_statement(statement_for(pain))
    assert lines == [
        StatementLine(
            r.idempotency_key,
            r.amount_fen,
            ResultStatus.SUCCEEDED,
            "2025-03-03",
            "booked on 2025-03-03",
            entry_ref=f"BK{n:06d}",  # the bank's reference of each entry
        )
        for n, r in enumerate(requests, start=1)
    ]


def test_an_entry_without_a_bank_reference_falls_back_to_its_entry_ref_or_none(channel):
    with_ntry_ref = entry("5.00", "DBIT", [tx("RP0001")]).replace(
        "<Amt", "<NtryRef>N-77</NtryRef><Amt", 1
    )
    assert [ln.entry_ref for ln in channel.reconcile_statement(camt(with_ntry_ref))] == ["N-77"]
    plain = entry("5.00", "DBIT", [tx("RP0001")])
    assert [ln.entry_ref for ln in channel.reconcile_statement(camt(plain))] == [""]


def test_round_trip_with_booking_date(channel, req, now):
    _, pain = _batch(channel, req, now, (500,))
    lines = channel.reconcile_statement(statement_for(pain, booked_on=date(2025, 3, 5)))
    assert [(ln.booked_on, ln.status) for ln in lines] == [("2025-03-05", ResultStatus.SUCCEEDED)]


def test_returned_payment_gives_a_failed_line(channel, req, now):
    _, pain = _batch(channel, req, now, (100, 2500, 300))
    lines = channel.reconcile_statement(statement_for(pain, {"RP0002": "AC04"}, "2025-03-04"))
    assert [(ln.idempotency_key, ln.status) for ln in lines] == [
        ("RP0001", ResultStatus.SUCCEEDED),
        ("RP0002", ResultStatus.SUCCEEDED),
        ("RP0003", ResultStatus.SUCCEEDED),
        ("RP0002", ResultStatus.FAILED),
    ]
    returned = lines[-1]
    assert returned.amount_fen == 2500
    assert returned.booked_on == "2025-03-05"  # returned the day after booking
    assert "AC04" in returned.message
    assert "closed account" in returned.message


def test_proprietary_return_reason(channel, req, now):
    _, pain = _batch(channel, req, now, (100,))
    lines = channel.reconcile_statement(statement_for(pain, {"RP0001": "CARD_FROZEN"}))
    assert lines[-1].status is ResultStatus.FAILED
    assert "CARD_FROZEN" in lines[-1].message


def test_simulator_statement_is_valid_camt053(channel, req, now, camt053_schema):
    _, pain = _batch(channel, req, now, (1, 123456))
    data = statement_for(pain, {"RP0001": "AC04", "RP0002": "UNKNOWN_REASON_TEXT"})
    camt053_schema.validate(data)
    assert not camt053_schema.is_valid(data.replace(b"<Sts>BOOK</Sts>", b"", 1))


def test_reversal_indicator_is_a_return(channel):
    data = camt(
        entry("12.34", "DBIT", [tx("RP0001")]),
        entry("12.34", "CRDT", [tx("RP0001")], rvsl="true", booked="2025-03-06"),
    )
    lines = channel.reconcile_statement(data)
    assert [(ln.status, ln.amount_fen, ln.booked_on) for ln in lines] == [
        (ResultStatus.SUCCEEDED, 1234, "2025-03-04"),
        (ResultStatus.FAILED, 1234, "2025-03-06"),
    ]
    assert lines[1].message == "reversed by the bank"


def test_entries_that_are_not_our_booked_payouts_are_ignored(channel):
    data = camt(
        entry("1.00", "DBIT", [tx("RP0001")], sts="PDNG"),  # pending
        entry("2.00", "DBIT", [tx()]),  # no end-to-end id
        entry("3.00", "DBIT", [tx("NOTPROVIDED")]),  # placeholder id
        entry("4.00", "DBIT", [tx("RP0004")], ccy="EUR"),  # another currency
        entry("4.001", "DBIT", [tx("RP0005")], ccy="BHD"),  # 3 decimals: fine, not ours
        entry("5.00", "CRDT", [tx("CUST-PAYMENT-1")]),  # an incoming payment
        entry("6.00", "DBIT", [tx("RP0006")], sts="INFO"),
        entry("7.00", "DBIT", [tx("RP0007")]),  # the one that counts
    )
    lines = channel.reconcile_statement(data)
    assert [(ln.idempotency_key, ln.amount_fen) for ln in lines] == [("RP0007", 700)]


def test_batched_entry_uses_each_transactions_amount(channel):
    data = camt(
        entry("3.50", "DBIT", [tx("RP0001", "1.25"), tx("RP0002", "2.25")]),
        entry("0.10", "CRDT", [tx("RP0003", "0.10", rtr="AC01"), tx("CUST-9", "9.99")]),
    )
    lines = channel.reconcile_statement(data)
    assert [(ln.idempotency_key, ln.amount_fen, ln.status) for ln in lines] == [
        ("RP0001", 125, ResultStatus.SUCCEEDED),
        ("RP0002", 225, ResultStatus.SUCCEEDED),
        ("RP0003", 10, ResultStatus.FAILED),
    ]
    assert "AC01 (incorrect account number)" in lines[2].message


def test_batched_entry_without_amounts_is_refused(channel):
    data = camt(entry("3.50", "DBIT", [tx("RP0001"), tx("RP0002")]))
    with pytest.raises(ChannelError, match="gives no amount"):
        channel.reconcile_statement(data)


@pytest.mark.parametrize("amount", ["12.345", "0.001", "1.0000001"])
def test_sub_fen_amounts_are_refused(channel, amount):
    with pytest.raises(ChannelError, match="fraction of a fen"):
        channel.reconcile_statement(camt(entry(amount, "DBIT", [tx("RP0001")])))


@pytest.mark.parametrize("amount", ["-1.00", "1e2", "abc", "", "0.00"])
def test_bad_amounts_are_refused(channel, amount):
    with pytest.raises(ChannelError, match="statement 1, entry 1"):
        channel.reconcile_statement(camt(entry(amount, "DBIT", [tx("RP0001")])))


def test_later_camt053_versions_with_status_code(channel):
    v08 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    data = camt(entry("1.00", "DBIT", [tx("RP0001")], sts="<Cd>BOOK</Cd>"), ns=v08)
    assert [ln.amount_fen for ln in channel.reconcile_statement(data)] == [100]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   ",
        b"<Document",
        b"not xml at all",
        b"<?xml version='1.0'?><a><b></a>",
        "<Document>\u00e9</Document>".encode("latin-1"),
    ],
)
def test_malformed_xml_is_refused(channel, data):
    with pytest.raises(ChannelError, match="bank statement refused"):
        channel.reconcile_statement(data)


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><root/>',
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><x/></Document>',
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02"><x/></Document>',
        b"<Document><BkToCstmrStmt/></Document>",
        f'<Document xmlns="{CAMT02}"><BkToCstmrNtfctn/></Document>'.encode(),
    ],
)
def test_non_camt_documents_are_refused(channel, data):
    with pytest.raises(ChannelError, match=r"not a camt\.053 bank statement"):
        channel.reconcile_statement(data)


def test_pain001_batch_is_not_a_statement(channel, req, now):
    _, pain = _batch(channel, req, now, (100,))
    with pytest.raises(ChannelError, match=r"not a camt\.053"):
        channel.reconcile_statement(pain)


def test_external_entity_file_is_refused(channel):
    prolog = '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
    data = camt(entry("1.00", "DBIT", [tx("&xxe;")]), prolog=prolog)
    with pytest.raises(ChannelError, match="DTD or entities"):
        channel.reconcile_statement(data)


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012

    def do_GET(self):
        _Recorder.hits.append(self.path)
        body = b"RP0001"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_external_entity_over_the_network_is_refused_and_never_fetched(channel):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/e2e"
        for prolog in (
            f'<!DOCTYPE Document [<!ENTITY xxe SYSTEM "{url}">]>',
            f'<!DOCTYPE Document [<!ENTITY % p SYSTEM "{url}"> %p;]>',
            f'<!DOCTYPE Document SYSTEM "{url}">',
        ):
            data = camt(
                entry("1.00", "DBIT", [tx("&xxe;" if "xxe" in prolog else "RP1")]), prolog=prolog
            )
            with pytest.raises(ChannelError, match="refused"):
                channel.reconcile_statement(data)
    finally:
        server.shutdown()
        server.server_close()
    assert _Recorder.hits == []


def test_entity_expansion_bomb_is_refused(channel):
    prolog = (
        '<!DOCTYPE Document [<!ENTITY a "RPRPRPRPRP">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    )
    data = camt(entry("1.00", "DBIT", [tx("&c;")]), prolog=prolog)
    with pytest.raises(ChannelError, match="DTD or entities"):
        channel.reconcile_statement(data)
