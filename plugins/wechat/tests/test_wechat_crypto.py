"""Signatures, AES-256-GCM and the dev key set."""

from __future__ import annotations

import base64
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from refund_portal_wechat import crypto
from refund_portal_wechat.devkeys import ensure_dev_keys


@pytest.fixture(scope="module")
def merchant(keys):
    return (
        crypto.load_private_key(keys["WECHAT_PRIVATE_KEY"]),
        crypto.load_public_key(keys["WECHAT_MERCHANT_PUBLIC_KEY"]),
    )


@pytest.fixture(scope="module")
def platform(keys):
    return (
        crypto.load_private_key(keys["WECHAT_PLATFORM_PRIVATE_KEY"]),
        {
            keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"]: crypto.load_public_key(
                keys["WECHAT_PLATFORM_PUBLIC_KEY"]
            )
        },
    )


def test_request_signature_round_trip(merchant):
    private, public = merchant
    body = '{"out_refund_no":"R1","reason":"卡密无效"}'.encode()
    header = crypto.build_authorization(
        mchid="1900000109",
        serial_no="ABC123",
        private_key=private,
        method="POST",
        path="/v3/refund/domestic/refunds",
        body=body,
    )
    auth = crypto.parse_authorization(header)
    assert header.startswith("WECHATPAY2-SHA256-RSA2048 mchid=")
    assert (auth.mchid, auth.serial_no) == ("1900000109", "ABC123")
    assert crypto.is_fresh(auth.timestamp)
    message = crypto.request_message(
        "POST", "/v3/refund/domestic/refunds", auth.timestamp, auth.nonce, body
    )
    assert message.endswith(body + b"\n")
    assert message.startswith(b"POST\n/v3/refund/domestic/refunds\n")
    assert crypto.verify(public, message, auth.signature)
    # any change to method, path, body or timestamp breaks it
    for bad in (
        crypto.request_message(
            "GET", "/v3/refund/domestic/refunds", auth.timestamp, auth.nonce, body
        ),
        crypto.request_message(
            "POST", "/v3/refund/domestic/refunds?x=1", auth.timestamp, auth.nonce, body
        ),
        crypto.request_message(
            "POST", "/v3/refund/domestic/refunds", auth.timestamp, auth.nonce, body + b" "
        ),
        crypto.request_message("POST", "/v3/refund/domestic/refunds", "1", auth.nonce, body),
    ):
        assert not crypto.verify(public, bad, auth.signature)
    assert not crypto.verify(public, message, "not base64!!")


def test_parse_authorization_rejects_other_schemes():
    with pytest.raises(crypto.SignatureError):
        crypto.parse_authorization('WECHATPAY2-SM2-WITH-SM3 mchid="1"')
    with pytest.raises(crypto.SignatureError, match="serial_no"):
        crypto.parse_authorization(
            'WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",signature="s",timestamp="1"'
        )


def test_platform_signature_verification(platform):
    private, keys = platform
    serial = next(iter(keys))
    body = b'{"status":"SUCCESS"}'
    headers = crypto.signed_headers(private, serial, body)
    assert crypto.verify_platform_signature(headers, body, keys) == (
        serial,
        headers["Wechatpay-Nonce"],
    )
    # header names are case-insensitive, WSGI style works too
    lower = {k.lower(): v for k, v in headers.items()}
    assert crypto.verify_platform_signature(lower, body, keys)[0] == serial
    wsgi = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    assert crypto.verify_platform_signature(wsgi, body, keys)[0] == serial

    with pytest.raises(crypto.SignatureError, match="bad platform signature"):
        crypto.verify_platform_signature(headers, body + b" ", keys)
    with pytest.raises(crypto.SignatureError, match="unknown platform key serial"):
        crypto.verify_platform_signature(
            {**headers, "Wechatpay-Serial": "PUB_KEY_ID_X"}, body, keys
        )
    old = crypto.signed_headers(private, serial, body, timestamp=int(time.time()) - 301)
    with pytest.raises(crypto.SignatureError, match="stale"):
        crypto.verify_platform_signature(old, body, keys)
    future = crypto.signed_headers(private, serial, body, timestamp=int(time.time()) + 400)
    with pytest.raises(crypto.SignatureError, match="stale"):
        crypto.verify_platform_signature(future, body, keys)
    with pytest.raises(crypto.SignatureError, match="missing"):
        crypto.verify_platform_signature({}, body, keys)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(crypto.SignatureError, match="bad platform signature"):
        crypto.verify_platform_signature(crypto.signed_headers(other, serial, body), body, keys)


def test_aes_gcm_round_trip(keys):
    key = keys["WECHAT_APIV3_KEY"]
    plain = b'{"refund_status":"SUCCESS","amount":{"refund":100}}'
    sealed = crypto.aes_gcm_encrypt(key, "abcdefghijkl", "refund", plain)
    assert plain not in base64.b64decode(sealed)
    assert crypto.aes_gcm_decrypt(key, "abcdefghijkl", "refund", sealed) == plain
    raw = bytearray(base64.b64decode(sealed))
    raw[3] ^= 0x01
    tampered = base64.b64encode(bytes(raw)).decode()
    for args in (
        (key, "abcdefghijkl", "refund", tampered),
        (key, "abcdefghijkm", "refund", sealed),
        (key, "abcdefghijkl", "transaction", sealed),
        ("x" * 32, "abcdefghijkl", "refund", sealed),
        (key, "abcdefghijkl", "refund", "%%% not base64"),
    ):
        with pytest.raises(crypto.SignatureError):
            crypto.aes_gcm_decrypt(*args)
    with pytest.raises(crypto.SignatureError, match="32 bytes"):
        crypto.aes_gcm_encrypt("short", "abcdefghijkl", "", plain)


def test_dev_keys_are_generated_once_and_reused(tmp_path):
    first = ensure_dev_keys(tmp_path)
    second = ensure_dev_keys(tmp_path)
    assert first == second
    assert first["WECHAT_PRIVATE_KEY"].startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert len(first["WECHAT_APIV3_KEY"].encode()) == 32
    assert first["WECHAT_PLATFORM_PUBLIC_KEY_ID"].startswith("PUB_KEY_ID_")
    assert len(first["WECHAT_CERT_SERIAL"]) == 40
    private = crypto.load_private_key(first["WECHAT_PRIVATE_KEY"])
    public = crypto.load_public_key(first["WECHAT_MERCHANT_PUBLIC_KEY"])
    assert private.key_size == 2048
    assert crypto.verify(public, b"m", crypto.sign(private, b"m"))
    assert (tmp_path / "wechat" / "merchant_private_key.pem").stat().st_mode & 0o077 == 0
    assert ensure_dev_keys(tmp_path / "other")["WECHAT_APIV3_KEY"] != first["WECHAT_APIV3_KEY"]


@pytest.mark.parametrize("length", [12, 24, 32])
def test_nonces_are_upper_case_letters_and_digits_of_the_asked_length(length):
    nonces = {crypto.make_nonce(length) for _ in range(200)}
    assert len(nonces) == 200  # no repeats
    for nonce in nonces:
        assert len(nonce) == length
        assert nonce.isascii() and nonce.isalnum() and nonce == nonce.upper()
