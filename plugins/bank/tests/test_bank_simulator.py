"""The bank simulator reads a pain.001 as a bank would and writes the matching camt.053."""

from __future__ import annotations

import subprocess
import sys

import pytest
from refund_portal_bank.simulator import BankRejected, Faults, main, read_pain001, statement_for


def _pain(channel, req, now, amounts=(100, 250)):
    requests = [req(f"RP{i:04d}", fen, trade_no=f"ORD-{i}") for i, fen in enumerate(amounts, 1)]
    return channel.export_batch(requests, "pain.001", now=now)


def test_reads_the_batch(channel, req, now):
    batch = read_pain001(_pain(channel, req, now))
    assert [(p.end_to_end_id, p.amount_fen) for p in batch.payments] == [
        ("RP0001", 100),
        ("RP0002", 250),
    ]
    assert batch.currency == "CNY"
    assert batch.debtor_account == "6200000000000000001"
    assert batch.execution_date.isoformat() == "2025-03-03"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"<CtrlSum>3.50</CtrlSum>", b"<CtrlSum>3.51</CtrlSum>", "CtrlSum does not match"),
        (b"<NbOfTxs>2</NbOfTxs>", b"<NbOfTxs>3</NbOfTxs>", "NbOfTxs does not match"),
        (b"<EndToEndId>RP0002<", b"<EndToEndId>RP0001<", "duplicate EndToEndId"),
        (b">2.50</InstdAmt>", b">2.505</InstdAmt>", "fraction of a fen"),
        (b"pain.001.001.03", b"pain.001.001.09", "not a pain.001.001.03"),
    ],
)
def test_the_bank_rejects_inconsistent_files(channel, req, now, old, new, message):
    data = _pain(channel, req, now)
    assert old in data
    with pytest.raises(BankRejected, match=message):
        statement_for(data.replace(old, new))


def test_the_bank_refuses_xml_tricks(channel, req, now):
    data = _pain(channel, req, now).replace(
        b"<Document", b'<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document', 1
    )
    with pytest.raises(BankRejected, match="DTD"):
        statement_for(data)


def test_returned_ids_must_be_in_the_batch(channel, req, now):
    with pytest.raises(ValueError, match="not in the batch: RP9999"):
        statement_for(_pain(channel, req, now), {"RP9999": "AC04"})


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        (Faults(dropped=["RP9999"]), "not in the batch: RP9999"),
        (Faults(changed={"RP0404": 1}), "not in the batch: RP0404"),
        (Faults(next_day=["RP0001", "X"]), "not in the batch: X"),
        (Faults(strangers={"RP0001": 100}), "one of the batch's"),
        (Faults(strangers={"NEW": 0}), "must be positive"),
        (Faults(changed={"RP0001": -100}), "must stay positive"),
    ],
)
def test_faults_must_name_the_batch_s_transfers(channel, req, now, faults, message):
    with pytest.raises(ValueError, match=message):
        statement_for(_pain(channel, req, now), faults=faults)


def test_a_faulty_bank_drops_changes_moves_doubles_and_invents_bookings(channel, req, now):
    pain = _pain(channel, req, now, (100, 200, 300, 400, 500))
    faults = Faults(
        dropped=["RP0001"],
        changed={"RP0002": -7},
        next_day=["RP0003"],
        twice=["RP0004"],
        strangers={"ZZ-NEVER-SENT": 999},
    )
    lines = channel.reconcile_statement(statement_for(pain, faults=faults))
    assert [(ln.idempotency_key, ln.amount_fen, ln.booked_on, ln.entry_ref) for ln in lines] == [
        ("RP0002", 193, "2025-03-03", "BK000001"),
        ("RP0003", 300, "2025-03-04", "BK000002"),
        ("RP0004", 400, "2025-03-03", "BK000003"),
        ("RP0004", 400, "2025-03-03", "BK000004"),  # booked twice: two entries of its own
        ("RP0005", 500, "2025-03-03", "BK000005"),
        ("ZZ-NEVER-SENT", 999, "2025-03-03", "BK000006"),
    ]
    assert statement_for(pain, faults=Faults()) == statement_for(pain)  # no fault: the clean one


def test_statement_is_deterministic(channel, req, now):
    data = _pain(channel, req, now)
    assert statement_for(data, {"RP0001": "AC04"}) == statement_for(data, {"RP0001": "AC04"})


def test_balances_add_up(channel, req, now):
    import xml.etree.ElementTree as ET

    data = statement_for(_pain(channel, req, now), {"RP0002": "AM04"})
    ns = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"}
    bal = {
        b.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=ns): b.findtext("c:Amt", namespaces=ns)
        for b in ET.fromstring(data).iter(f"{{{ns['c']}}}Bal")
    }
    assert bal == {"OPBD": "1000000.00", "CLBD": "999999.00"}  # -1.00 -2.50 +2.50


def test_command_line(channel, req, now, tmp_path, capsysbinary):
    path = tmp_path / "batch.xml"
    path.write_bytes(_pain(channel, req, now))
    assert main([str(path), "--return", "RP0002=AC04", "--booked-on", "2025-03-04"]) == 0
    out = capsysbinary.readouterr().out
    lines = channel.reconcile_statement(out)
    assert [(ln.idempotency_key, ln.status.value) for ln in lines] == [
        ("RP0001", "succeeded"),
        ("RP0002", "succeeded"),
        ("RP0002", "failed"),
    ]
    assert main([str(path), "--return", "RP0404=AC04"]) == 1
    argv = [str(path), "--drop", "RP0001", "--change", "RP0002=5", "--stranger", "NEW=300"]
    assert main(argv) == 0
    lines = channel.reconcile_statement(capsysbinary.readouterr().out)
    assert [(ln.idempotency_key, ln.amount_fen) for ln in lines] == [("RP0002", 255), ("NEW", 300)]
    assert main([str(path), "--twice", "RP0002", "--next-day", "RP0001"]) == 0
    lines = channel.reconcile_statement(capsysbinary.readouterr().out)
    assert [(ln.idempotency_key, ln.booked_on) for ln in lines] == [
        ("RP0001", "2025-03-04"),
        ("RP0002", "2025-03-03"),
        ("RP0002", "2025-03-03"),
    ]
    with pytest.raises(SystemExit):
        main([str(path), "--change", "RP0002=five"])


def test_command_line_as_a_module(channel, req, now, tmp_path):
    path = tmp_path / "batch.xml"
    path.write_bytes(_pain(channel, req, now))
    done = subprocess.run(
        [sys.executable, "-m", "refund_portal_bank.simulator", str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert [ln.amount_fen for ln in channel.reconcile_statement(done.stdout)] == [100, 250]
