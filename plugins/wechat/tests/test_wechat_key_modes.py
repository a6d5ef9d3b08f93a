"""The three key modes against the simulator, hostile cases first: a notification signed with
an unknown serial, with a rotated-out key, with an expired certificate, without its serial; a
certificate download with a bad signature, a bad GCM tag, a certificate from another CA or
only expired ones; then both modes live, each key accepted, and rotation. Real HTTP."""

from __future__ import annotations

import json
import time

import pytest
from refund_portal_wechat import crypto
from refund_portal_wechat.keyring import REFRESH_EVERY_S, RETRY_AFTER_FAILURE_S
from refund_portal_wechat.simulator import WechatSimulator, build_notification
from refund_portal_wechat.simulator.ledger import Refund

from portal.plugins.channels import (
    ChannelError,
    KeyRefresher,
    MemorySharedStore,
    NotificationRejected,
    ResultStatus,
)

S = ResultStatus


class Clocks:
    """Wall clock and monotonic clock a test moves by hand (no sleeping)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def wall(self) -> float:
        return time.time() + self.offset

    def mono(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def store(clocks):
    return MemorySharedStore(clock=clocks.mono)


def _sim(keys_dir, mode):
    return WechatSimulator(keys_dir, hang_s=5.0, key_mode=mode).start()


@pytest.fixture
def cert_sim(keys_dir):
    sim = _sim(keys_dir, "platform_cert")
    yield sim
    sim.stop()


@pytest.fixture
def switch_sim(keys_dir):
    sim = _sim(keys_dir, "cert_and_public_key")
    yield sim
    sim.stop()


@pytest.fixture
def cert_channel(make_channel, keys, cert_sim, store, clocks):
    return make_channel(
        cert_sim.url,
        platform_public_key=None,
        platform_public_key_id=None,
        key_mode="platform_cert",
        trust_chain=keys["WECHAT_PLATFORM_CERT_CA"],
        shared_store=store,
        clock=clocks.wall,
        monotonic=clocks.mono,
    )


@pytest.fixture
def switch_channel(make_channel, keys, switch_sim, store, clocks):
    return make_channel(
        switch_sim.url,
        key_mode="cert_and_public_key",
        trust_chain=keys["WECHAT_PLATFORM_CERT_CA"],
        shared_store=store,
        clock=clocks.wall,
        monotonic=clocks.mono,
    )


def _refund(sim) -> Refund:
    """A settled refund on the simulator's books (to build notifications about)."""
    tid = "42" + str(time.time_ns())[-20:]
    sim.add_trade(tid, "T" + tid, 500)
    answer = sim.ledger.apply_refund(
        {
            "transaction_id": tid,
            "out_refund_no": "RF" + tid,
            "amount": {"refund": 500, "total": 500, "currency": "CNY"},
        },
        outcome=lambda: "SUCCESS",
    )
    assert answer.status == 200, answer.body
    refund = sim.ledger.get("RF" + tid)
    assert refund is not None and refund.status == "SUCCESS"
    return refund


def _notification(sim, private_key, serial, **kw):
    body = build_notification(sim.signer, _refund(sim))
    return crypto.signed_headers(private_key, serial, body, **kw), body


# -- hostile: notifications ---------------------------------------------------------------


def test_unknown_certificate_serial_triggers_one_download_then_is_refused(
    cert_channel, cert_sim, clocks
):
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers, body = _notification(cert_sim, stranger, "7A1B2C3D4E5F60718293A4B5C6D7E8F901234567")
    with pytest.raises(NotificationRejected, match="unknown platform certificate serial"):
        cert_channel.parse_notification(headers, body)
    assert cert_sim.certificate_downloads() == 1  # one refresh before refusing
    # a flood of unknown serials does not become a flood of downloads
    for n in range(5):
        h, b = _notification(cert_sim, stranger, f"{n + 1:040X}")
        with pytest.raises(NotificationRejected):
            cert_channel.parse_notification(h, b)
    assert cert_sim.certificate_downloads() == 1
    # a minute later, an unknown serial may trigger one more
    clocks.offset += 61
    with pytest.raises(NotificationRejected):
        cert_channel.parse_notification(*_notification(cert_sim, stranger, "ABCDEF"))
    assert cert_sim.certificate_downloads() == 2


def test_serial_header_missing_is_refused(cert_channel, cert_sim):
    cert = cert_sim.gateway_keys.current_certificate.signer
    headers, body = _notification(cert_sim, cert.private_key, cert.serial)
    del headers["Wechatpay-Serial"]
    with pytest.raises(NotificationRejected, match="Wechatpay-Serial"):
        cert_channel.parse_notification(headers, body)
    assert cert_sim.certificate_downloads() == 0


def test_rotated_out_certificate_is_refused(cert_channel, cert_sim):
    old = cert_sim.gateway_keys.current_certificate.signer
    headers, body = _notification(cert_sim, old.private_key, old.serial)
    assert cert_channel.parse_notification(headers, body)[0].status is S.SUCCEEDED
    cert_sim.rotate_certificate()
    cert_sim.retire_certificates()
    cert_channel.refresh_keys()  # the scheduled download: the old one is no longer listed
    headers, body = _notification(cert_sim, old.private_key, old.serial)
    with pytest.raises(NotificationRejected, match="unknown platform certificate serial"):
        cert_channel.parse_notification(headers, body)


def test_rotated_out_public_key_is_refused(channel, sim):
    old = sim.gateway_keys.public_key
    sim.rotate_public_key()
    headers, body = _notification(sim, old.private_key, old.serial)
    assert channel.parse_notification(headers, body)  # still the configured key: accepted
    new = sim.gateway_keys.public_key
    headers, body = _notification(sim, new.private_key, new.serial)
    with pytest.raises(NotificationRejected, match="not a configured WeChat Pay public key id"):
        channel.parse_notification(headers, body)
    assert sim.certificate_downloads() == 0  # public keys are configured, never downloaded


def test_certificate_that_expired_since_download_is_refused(cert_channel, cert_sim, clocks):
    cert = cert_sim.gateway_keys.current_certificate
    cert_channel.refresh_keys()
    clocks.offset = cert.not_after - time.time() + 60  # a minute after it expired
    headers, body = _notification(
        cert_sim, cert.signer.private_key, cert.signer.serial, timestamp=int(clocks.wall())
    )
    with pytest.raises(NotificationRejected, match="not valid now"):
        cert_channel.parse_notification(headers, body)


def test_a_public_key_serial_is_refused_in_certificate_mode_and_the_reverse(
    cert_channel, cert_sim, channel, sim
):
    public = sim.gateway_keys.public_key
    with pytest.raises(NotificationRejected, match="no public key is configured"):
        cert_channel.parse_notification(*_notification(cert_sim, public.private_key, public.serial))
    cert = sim.gateway_keys.current_certificate.signer
    with pytest.raises(NotificationRejected, match=r"only the\s+WeChat Pay public key"):
        channel.parse_notification(*_notification(sim, cert.private_key, cert.serial))


# -- hostile: certificate downloads --------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("certificates_bad_signature", "bad platform signature"),
        ("certificates_bad_tag", "does not decrypt with the APIv3 key"),
        ("certificates_untrusted", "not issued by the trust chain"),
        ("certificates_expired", "expired"),
    ],
)
def test_tampered_download_is_refused_and_the_keys_held_stay(cert_channel, cert_sim, mode, why):
    held = cert_channel.refresh_keys()
    before = [c.serial for c in cert_channel.keyring.certificates()]
    cert_sim.misbehave(mode)
    with pytest.raises(ChannelError, match=why):
        cert_channel.keyring.refresh()
    assert [c.serial for c in cert_channel.keyring.certificates()] == before
    assert "platform certificates kept" in held
    # and what other processes read from the store is still the good list
    other = cert_channel.keyring
    assert other._load_stored() and [c.serial for c in other.certificates()] == before


def test_without_the_trust_chain_only_the_apiv3_key_vouches(make_channel, cert_sim, store):
    channel = make_channel(
        cert_sim.url,
        platform_public_key=None,
        platform_public_key_id=None,
        key_mode="platform_cert",
        shared_store=store,
    )
    cert_sim.misbehave("certificates_untrusted")
    channel.keyring.refresh()  # sealed with the APIv3 key and self-consistent: accepted
    assert len(channel.keyring.certificates()) == 1


def test_a_store_altered_by_someone_else_is_not_believed(cert_channel, cert_sim, store, keys):
    cert_channel.refresh_keys()
    key = f"wechat:{keys['WECHAT_MCHID']}:certificates"
    kept = json.loads(store.get(key))
    envelope = json.loads(kept["body"])
    envelope["data"][0]["encrypt_certificate"]["ciphertext"] = "A" * 64
    kept["body"] = json.dumps(envelope)
    store.put(key, json.dumps(kept).encode())
    fresh = cert_channel.keyring
    fresh._adopt([])
    assert fresh._load_stored() is False
    assert fresh.certificates() == []


# -- the three modes working -----------------------------------------------------------------


def test_certificate_mode_refunds_and_notifications(
    cert_channel, cert_sim, sink, new_trade, new_refund, wait_until
):
    sink.channel = cert_channel
    payment = new_trade(cert_sim, 900)
    request = new_refund(payment, 900, notify_url=sink.url)
    assert cert_channel.execute_refund(request).status is S.SUCCEEDED
    [note] = wait_until(sink.accepted)
    assert note.idempotency_key == request.idempotency_key
    assert cert_sim.certificate_downloads() == 1  # downloaded once, on the first answer
    # certificate-only requests name no public key
    assert {r["wechatpay_serial"] for r in cert_sim.requests()} == {""}


def test_certificate_rotation_is_followed_without_a_restart(
    cert_channel, cert_sim, new_trade, new_refund, clocks
):
    payment = new_trade(cert_sim, 1000)
    assert cert_channel.execute_refund(new_refund(payment, 100)).status is S.SUCCEEDED
    new_serial = cert_sim.rotate_certificate()
    clocks.offset += 61  # an unknown serial triggers a download at most once a minute
    assert cert_channel.execute_refund(new_refund(payment, 100)).status is S.SUCCEEDED
    assert new_serial in {c.serial for c in cert_channel.keyring.certificates()}
    assert cert_sim.certificate_downloads() == 2


def test_a_second_process_uses_the_stored_download(
    cert_channel, make_channel, cert_sim, store, keys, new_trade, new_refund
):
    cert_channel.refresh_keys()
    other = make_channel(
        cert_sim.url,
        platform_public_key=None,
        platform_public_key_id=None,
        key_mode="platform_cert",
        trust_chain=keys["WECHAT_PLATFORM_CERT_CA"],
        shared_store=store,
    )
    payment = new_trade(cert_sim, 300)
    assert other.execute_refund(new_refund(payment, 300)).status is S.SUCCEEDED
    assert cert_sim.certificate_downloads() == 1


def test_public_key_mode_names_the_key_on_every_request(channel, sim, new_trade, new_refund, keys):
    payment = new_trade(sim, 300)
    assert channel.execute_refund(new_refund(payment, 300)).status is S.SUCCEEDED
    serials = {r["wechatpay_serial"] for r in sim.requests()}
    assert serials == {keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"]}


def test_a_public_key_id_the_gateway_does_not_know_is_refused(make_channel, sim, keys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    channel = make_channel(
        sim.url, platform_public_key=pem, platform_public_key_id="PUB_KEY_ID_0100000000000000000"
    )
    check = channel.check_connection()
    assert not check.ok
    assert "WECHAT_PLATFORM_PUBLIC_KEY_ID" in check.words.en
    assert "INVALID_REQUEST" in check.detail


def test_switching_mode_accepts_each_key_and_steers_answers_to_the_public_key(
    switch_channel, switch_sim, sink, new_trade, new_refund, wait_until, keys
):
    sink.channel = switch_channel
    payment = new_trade(switch_sim, 1000)
    for _ in range(4):  # notifications alternate between the certificate and the public key
        switch_channel.execute_refund(new_refund(payment, 100, notify_url=sink.url))
    notes = wait_until(lambda: len(sink.accepted()) == 4 and sink.accepted())
    serials = {e["headers"]["Wechatpay-Serial"] for e in sink.entries()}
    cert_serial = switch_sim.gateway_keys.current_certificate.signer.serial
    assert serials == {keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"], cert_serial}
    assert len(notes) == 4 and all(e["status"] == 204 for e in sink.entries())
    # our requests name the public key, so every answer was signed with it: the certificate
    # was needed (and downloaded) only for the notifications it signed
    assert {r["wechatpay_serial"] for r in switch_sim.requests()} == {
        keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"]
    }
    assert switch_sim.certificate_downloads() == 1


def test_switching_mode_each_key_alone(switch_channel, switch_sim):
    switch_sim.notify_with("platform_cert")
    cert = switch_sim.gateway_keys.current_certificate.signer
    assert switch_channel.parse_notification(
        *_notification(switch_sim, cert.private_key, cert.serial)
    )
    public = switch_sim.gateway_keys.public_key
    assert switch_channel.parse_notification(
        *_notification(switch_sim, public.private_key, public.serial)
    )
    # the certificate's key under the public key's id (or the reverse) does not verify
    with pytest.raises(NotificationRejected, match="bad platform signature"):
        switch_channel.parse_notification(
            *_notification(switch_sim, cert.private_key, public.serial)
        )
    with pytest.raises(NotificationRejected, match="bad platform signature"):
        switch_channel.parse_notification(
            *_notification(switch_sim, public.private_key, cert.serial)
        )


def test_switching_channel_redirects_with_the_public_key(switch_channel):
    serial, _key = switch_channel.keyring.encryption_key()
    assert serial.startswith("PUB_KEY_ID_")


def test_certificate_channel_encrypts_with_the_newest_certificate(cert_channel, cert_sim):
    cert_sim.rotate_certificate()
    serial, _key = cert_channel.keyring.encryption_key()
    assert serial == cert_sim.gateway_keys.current_certificate.signer.serial


# -- the scheduled refresh ----------------------------------------------------------------------


def test_refresh_is_due_at_first_then_every_few_hours_and_pauses_after_a_failure(
    cert_channel, cert_sim, channel, clocks
):
    assert isinstance(cert_channel, KeyRefresher)
    assert channel.refresh_due() is False  # public-key mode downloads nothing
    assert cert_channel.refresh_due() is True
    cert_channel.refresh_keys()
    assert cert_channel.refresh_due() is False
    assert cert_channel.refresh_keys()  # safe to run twice
    clocks.offset += REFRESH_EVERY_S
    assert cert_channel.refresh_due() is True
    cert_sim.misbehave("system_error")
    with pytest.raises(ChannelError):
        cert_channel.refresh_keys()
    assert cert_channel.refresh_due() is False  # no hammering while WeChat Pay fails
    clocks.offset += RETRY_AFTER_FAILURE_S + 1
    assert cert_channel.refresh_due() is True


# -- check_connection -----------------------------------------------------------------------------


def test_check_connection_in_each_mode(channel, cert_channel, switch_channel):
    for ch in (channel, cert_channel, switch_channel):
        check = ch.check_connection()
        assert check.ok, (ch.key_mode, check)
        assert check.words.zh and check.words.en
    assert "certificates:" in cert_channel.check_connection().detail
    assert "public key" in switch_channel.check_connection().words.en


def test_check_connection_names_what_is_wrong(make_channel, keys, sim, cert_sim):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger_pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_mode = {"platform_public_key": None, "platform_public_key_id": None}
    cases = [
        (make_channel(sim.url, private_key=stranger_pem), "WECHAT_PRIVATE_KEY"),
        (
            make_channel(cert_sim.url, key_mode="platform_cert", apiv3_key="x" * 32, **cert_mode),
            "WECHAT_APIV3_KEY",
        ),
        (
            make_channel(sim.url, key_mode="platform_cert", **cert_mode),
            "WECHAT_KEY_MODE=public_key",
        ),
        (
            make_channel(
                sim.url,
                platform_public_key=stranger.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode(),
            ),
            "WECHAT_PLATFORM_PUBLIC_KEY",
        ),
        (make_channel("http://127.0.0.1:9", timeout=1.0), "gateway address"),
    ]
    for ch, hint in cases:
        check = ch.check_connection()
        assert not check.ok
        assert hint in check.words.en, (hint, check)
        assert check.detail


def test_the_certificate_list_has_the_documented_shape(cert_channel, cert_sim):
    resp = cert_channel._send("GET", "/v3/certificates", b"")
    assert resp.status == 200
    [entry] = json.loads(resp.body)["data"]
    assert set(entry) == {"serial_no", "effective_time", "expire_time", "encrypt_certificate"}
    sealed = entry["encrypt_certificate"]
    assert sealed["algorithm"] == "AEAD_AES_256_GCM"
    assert sealed["associated_data"] == "certificate"
    assert entry["serial_no"] == cert_sim.gateway_keys.current_certificate.signer.serial
    assert entry["expire_time"].endswith("+08:00")  # RFC 3339, China Standard Time
    assert resp.headers["Wechatpay-Serial"] == entry["serial_no"]  # signed by the certificate


def test_a_stale_download_is_refused(cert_channel, cert_sim, clocks):
    """A signed certificate list replayed later (more than 5 minutes) is not believed."""
    recorded = cert_channel._download_certificates()  # genuine, signed, fresh now
    cert_channel.keyring._download = lambda: recorded  # a man in the middle replays it
    clocks.offset = 400
    with pytest.raises(ChannelError, match="stale timestamp"):
        cert_channel.keyring.refresh()
    assert cert_channel.keyring.certificates() == []
