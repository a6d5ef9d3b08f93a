"""Batch export: the bank CSV and the pain.001.001.03 credit-transfer file."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest

from portal.plugins.channels import ChannelError

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}


def _texts(root, path):
    return [el.text for el in root.findall(path, NS)]


def test_batch_formats(channel):
    assert [(f.name, f.extension, f.media_type) for f in channel.batch_formats()] == [
        ("csv", "csv", "text/csv"),
        ("pain.001", "xml", "application/xml"),
    ]


def test_csv_content(channel, req):
    requests = [
        req("RP0001", 1, reason="不想要了"),
        req(
            "RP0002",
            123456,
            extra={
                "account_name": "李四, Ltd",
                "account_no": "6228 4800 1234 5678 901",
                "bank_name": "中国农业银行",
            },
            trade_no="ORD-2",
        ),
    ]
    data = channel.export_batch(requests, "csv")
    assert data.startswith(b"\xef\xbb\xbf")  # BOM, for Excel
    text = data[3:].decode("utf-8")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "end_to_end_id",
        "creditor_name",
        "account_no",
        "bank_name",
        "amount",
        "currency",
        "remittance_info",
    ]
    assert rows[1] == [
        "RP0001",
        "张三",
        "6222021234567890123",
        "中国工商银行",
        "0.01",
        "CNY",
        "退款 Refund ORD-1 不想要了",
    ]
    # The comma in the name is quoted, the spaces in the card number are removed.
    assert rows[2] == [
        "RP0002",
        "李四, Ltd",
        "6228480012345678901",
        "中国农业银行",
        "1234.56",
        "CNY",
        "退款 Refund ORD-2",
    ]
    assert len(rows) == 3


def _pain(channel, req, now, amounts=(1, 123456, 1000)):
    requests = [req(f"RP{i:04d}", fen, trade_no=f"ORD-{i}") for i, fen in enumerate(amounts, 1)]
    return requests, channel.export_batch(requests, "pain.001", now=now)


def test_pain001_structure(channel, req, now):
    requests, data = _pain(channel, req, now)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(data)
    assert root.tag == "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}Document"
    hdr = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert hdr.findtext("p:MsgId", namespaces=NS).startswith("RP20250303103000-")
    assert hdr.findtext("p:CreDtTm", namespaces=NS) == "2025-03-03T10:30:00+08:00"
    assert hdr.findtext("p:NbOfTxs", namespaces=NS) == "3"
    assert hdr.findtext("p:CtrlSum", namespaces=NS) == "1244.57"  # 1 + 123456 + 1000 fen
    assert hdr.findtext("p:InitgPty/p:Nm", namespaces=NS) == "Refund Portal Demo Co."

    pmts = root.findall("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert len(pmts) == 1
    pmt = pmts[0]
    assert pmt.findtext("p:PmtMtd", namespaces=NS) == "TRF"
    assert pmt.findtext("p:NbOfTxs", namespaces=NS) == "3"
    assert pmt.findtext("p:CtrlSum", namespaces=NS) == "1244.57"
    assert pmt.findtext("p:ReqdExctnDt", namespaces=NS) == "2025-03-03"
    assert pmt.findtext("p:DbtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == "6200000000000000001"
    assert pmt.findtext("p:DbtrAgt/p:FinInstnId/p:BIC", namespaces=NS) == "DEMOCNSHXXX"

    txs = pmt.findall("p:CdtTrfTxInf", NS)
    assert [t.findtext("p:PmtId/p:EndToEndId", namespaces=NS) for t in txs] == [
        r.idempotency_key for r in requests
    ]
    amounts = [t.find("p:Amt/p:InstdAmt", NS) for t in txs]
    assert [a.text for a in amounts] == ["0.01", "1234.56", "10.00"]
    assert {a.get("Ccy") for a in amounts} == {"CNY"}
    assert _texts(pmt, "p:CdtTrfTxInf/p:Cdtr/p:Nm") == ["张三"] * 3
    assert _texts(pmt, "p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:Othr/p:Id") == ["6222021234567890123"] * 3
    assert pmt.findall("p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:IBAN", NS) == []
    assert _texts(pmt, "p:CdtTrfTxInf/p:RmtInf/p:Ustrd") == [
        "退款 Refund ORD-1",
        "退款 Refund ORD-2",
        "退款 Refund ORD-3",
    ]


def test_pain001_is_valid_against_the_official_xsd(channel, req, now, pain001_schema):
    requests = [
        req("RP0001", 1),
        req("RP0002", 99, extra={"bank_code": "102100099996", **_card()}, reason="质量问题"),
    ]
    data = channel.export_batch(requests, "pain.001", now=now)
    pain001_schema.validate(data)  # raises with the first violation


def _card():
    return {"account_name": "王五", "account_no": "6217001234567890", "bank_name": "建设银行"}


def test_pain001_xsd_catches_a_broken_document(pain001_schema, channel, req, now):
    # The schema check is real: the same file without its mandatory EndToEndId fails.
    data = channel.export_batch([req()], "pain.001", now=now)
    broken = data.replace(b"<EndToEndId>RP0001</EndToEndId>", b"")
    assert not pain001_schema.is_valid(broken)


def test_pain001_is_deterministic(channel, req, now):
    _, first = _pain(channel, req, now)
    _, again = _pain(channel, req, now)
    assert first == again
    _, later = _pain(channel, req, datetime(2025, 3, 3, 10, 30, 1, tzinfo=now.tzinfo))
    assert later != first


def test_pain001_explicit_message_id(channel, req, now):
    data = channel.export_batch([req()], "pain.001", now=now, msg_id="BATCH-42")
    root = ET.fromstring(data)
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=NS) == "BATCH-42"
    pmt_id = root.findtext("p:CstmrCdtTrfInitn/p:PmtInf/p:PmtInfId", namespaces=NS)
    assert pmt_id == "BATCH-42-P1"
    with pytest.raises(ChannelError, match="msg_id"):
        channel.export_batch([req()], "pain.001", now=now, msg_id="X" * 32)


def test_message_id_depends_on_the_batch(channel, req, now):
    a = channel.export_batch([req("RP0001", 100)], "pain.001", now=now)
    b = channel.export_batch([req("RP0001", 101)], "pain.001", now=now)
    mid = "p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId"
    assert ET.fromstring(a).findtext(mid, namespaces=NS) != ET.fromstring(b).findtext(
        mid, namespaces=NS
    )


def test_xml_special_characters_are_escaped(channel, req, now, pain001_schema):
    extra = {"account_name": 'A & B <Co> "x"', "account_no": "6222000011112222", "bank_name": "B"}
    data = channel.export_batch([req(extra=extra)], "pain.001", now=now)
    root = ET.fromstring(data)
    assert root.findtext(".//p:Cdtr/p:Nm", namespaces=NS) == 'A & B <Co> "x"'
    pain001_schema.validate(data)


@pytest.mark.parametrize("fmt", ["csv", "pain.001"])
def test_batch_refuses_empty_duplicates_and_bad_requests(channel, req, fmt):
    with pytest.raises(ChannelError, match="empty"):
        channel.export_batch([], fmt)
    with pytest.raises(ChannelError, match="twice"):
        channel.export_batch([req("RP0001"), req("RP0001")], fmt)
    with pytest.raises(ChannelError, match=r"RP0002: missing creditor data: account_no"):
        bad = req("RP0002", extra={"account_name": "张三", "bank_name": "工行"})
        channel.export_batch([req("RP0001"), bad], fmt)
    with pytest.raises(ChannelError, match="channel 'alipay'"):
        channel.export_batch([req(channel="alipay")], fmt)


def test_unknown_format_is_refused(channel, req):
    with pytest.raises(ChannelError, match="unknown batch format"):
        channel.export_batch([req()], "mt101")


def test_formula_like_names_are_refused_not_exported(channel, req):
    extra = {"account_name": "=HYPERLINK(1)", "account_no": "6222000011112222", "bank_name": "B"}
    with pytest.raises(ChannelError, match="must not start with '='"):
        channel.export_batch([req(extra=extra)], "csv")
