"""The simulator's HTTP face: the v3 refund endpoints, ``GET /v3/certificates`` and the
``/__sim__`` controls.

Every ``/v3`` request must carry a valid merchant signature (checked with the
merchant public key named by ``serial_no``); a ``Wechatpay-Serial`` request header, when
present, must name one of the merchant's keys (else 400 ``INVALID_REQUEST``). Every ``/v3``
answer, errors included, is signed as WeChat Pay does: with the key that header names, else
the mode's default (see :mod:`refund_portal_wechat.simulator.keys`).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from refund_portal_wechat import crypto
from refund_portal_wechat.certificates import CERTIFICATE_AAD, CERTIFICATES_PATH
from refund_portal_wechat.simulator import abnormal, bills
from refund_portal_wechat.simulator.keys import GatewayKeys, IssuedCertificate, Signer
from refund_portal_wechat.simulator.ledger import CHINA_TZ, wechat_time

if TYPE_CHECKING:
    from refund_portal_wechat.simulator import WechatSimulator


def _signed(
    sim: WechatSimulator, status: int, payload: dict[str, Any], signer: Signer | None = None
) -> Response:
    """An answer signed by ``signer``, or by the key the request's ``Wechatpay-Serial``
    asks for (the default identity when it asks for none the merchant has)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    chosen = (
        signer
        or sim.gateway_keys.response_signer(request.headers.get("Wechatpay-Serial", ""))
        or sim.signer.default()
    )
    headers = sim.signer.headers(body, chosen)
    headers["Request-ID"] = crypto.make_nonce(24)
    return Response(body, status=status, headers=headers, content_type="application/json")


def _error(sim: WechatSimulator, status: int, code: str, message: str) -> Response:
    return _signed(sim, status, {"code": code, "message": message})


def _signed_path() -> str:
    """The request target exactly as the client sent (and signed) it."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return str(raw).encode("latin-1").decode("utf-8", "replace")
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def _authentication_problem(sim: WechatSimulator) -> str:
    """Why the request's merchant signature is not acceptable ('' when it is)."""
    try:
        auth = crypto.parse_authorization(request.headers.get("Authorization", ""))
    except crypto.SignatureError as exc:
        return str(exc)
    if auth.mchid != sim.mchid:
        return f"unknown mchid {auth.mchid!r}"
    if auth.serial_no != sim.merchant_serial:
        return f"unknown merchant certificate serial {auth.serial_no!r}"
    if not crypto.is_fresh(auth.timestamp):
        return "request timestamp is more than 5 minutes off"
    message = crypto.request_message(
        request.method, _signed_path(), auth.timestamp, auth.nonce, request.get_data()
    )
    if not crypto.verify(sim.merchant_public_key, message, auth.signature):
        return "signature does not verify with the merchant public key"
    return ""


def _certificate_entry(
    apiv3_key: str, cert: IssuedCertificate, *, tamper: bool = False
) -> dict[str, Any]:
    nonce = crypto.make_nonce(12)
    ciphertext = crypto.aes_gcm_encrypt(apiv3_key, nonce, CERTIFICATE_AAD, cert.pem.encode("ascii"))
    if tamper:  # one byte of the sealed certificate changed: its GCM tag no longer holds
        raw = bytearray(base64.b64decode(ciphertext))
        raw[len(raw) // 2] ^= 0x01
        ciphertext = base64.b64encode(bytes(raw)).decode("ascii")
    return {
        "serial_no": cert.signer.serial,
        "effective_time": wechat_time(cert.not_before),
        "expire_time": wechat_time(cert.not_after),
        "encrypt_certificate": {
            "algorithm": crypto.AEAD_ALGORITHM,
            "nonce": nonce,
            "associated_data": CERTIFICATE_AAD,
            "ciphertext": ciphertext,
        },
    }


def _certificate_list(sim: WechatSimulator, issued: list[IssuedCertificate]) -> Response:
    """``GET /v3/certificates``: every listed certificate sealed with the APIv3 key, the answer
    signed; or, when told to misbehave, tampered with in one of four ways."""
    keys = sim.gateway_keys
    apiv3_key = sim.signer.apiv3_key
    signer: Signer | None = None
    tamper = False
    if sim.take("certificates_untrusted"):
        from refund_portal_wechat.devkeys import new_ca

        ca_private, ca_pem = new_ca("Not Tenpay Root CA")
        stranger = GatewayKeys.issue_with(ca_private, ca_pem)
        issued, signer = [stranger], stranger.signer
    elif sim.take("certificates_expired"):
        now = time.time()
        old = keys.issue_certificate(not_before=now - 400 * 86400, not_after=now - 86400)
        issued, signer = [old], old.signer
    elif sim.take("certificates_bad_tag"):
        tamper = True
    payload = {
        "data": [
            _certificate_entry(apiv3_key, cert, tamper=tamper and i == 0)
            for i, cert in enumerate(issued)
        ]
    }
    if sim.take("certificates_bad_signature"):
        from cryptography.hazmat.primitives.asymmetric import rsa

        real = signer or keys.response_signer(request.headers.get("Wechatpay-Serial", ""))
        real = real or sim.signer.default()
        forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signer = Signer(real.serial, forger)
    return _signed(sim, 200, payload, signer)


def create_app(sim: WechatSimulator) -> Flask:
    """The Flask app serving ``sim``."""
    app = Flask("refund_portal_wechat.simulator")

    @app.before_request
    def authenticate() -> Response | None:
        if not request.path.startswith("/v3/"):
            return None
        sim.record_request(
            request.method, request.path, request.headers.get("Wechatpay-Serial", "")
        )
        problem = _authentication_problem(sim)
        if problem:
            return _error(sim, 401, "SIGN_ERROR", problem)
        requested = request.headers.get("Wechatpay-Serial", "")
        if requested and sim.gateway_keys.response_signer(requested) is None:
            return _error(
                sim,
                400,
                "INVALID_REQUEST",
                f"Wechatpay-Serial {requested} 不是商户可用的公钥或证书",
            )
        if sim.take("system_error"):
            return _error(sim, 500, "SYSTEM_ERROR", "系统错误")
        return None

    @app.post("/v3/refund/domestic/refunds")
    def create_refund() -> Response:
        try:
            fields = json.loads(request.get_data())
        except ValueError:
            return _error(sim, 400, "PARAM_ERROR", "body is not JSON")
        if not isinstance(fields, dict):
            return _error(sim, 400, "PARAM_ERROR", "body is not a JSON object")
        answer = sim.ledger.apply_refund(fields, outcome=sim.next_outcome)
        if answer.status == 200 and sim.take("timeout_after_move"):
            sim.hang()  # the money has moved; the merchant sees a timeout
        return _signed(sim, answer.status, answer.body)

    @app.post("/v3/refund/domestic/refunds/<refund_id>/apply-abnormal-refund")
    def apply_abnormal(refund_id: str) -> Response:
        try:
            fields = json.loads(request.get_data())
        except ValueError:
            return _error(sim, 400, "PARAM_ERROR", "body is not JSON")
        if not isinstance(fields, dict):
            return _error(sim, 400, "PARAM_ERROR", "body is not a JSON object")
        serial = request.headers.get("Wechatpay-Serial", "")
        key = sim.gateway_keys.private_key_for(serial) if serial else None
        answer = abnormal.apply_abnormal_refund(
            sim.ledger,
            refund_id,
            fields,
            serial,
            lambda text: crypto.oaep_decrypt(key, text) if key else "",
            serial if key is not None else "\x00",
        )
        return _signed(sim, answer.status, answer.body)

    @app.get(CERTIFICATES_PATH)
    def certificates() -> Response:
        sim.count_certificate_download()
        issued = sim.gateway_keys.certificates()
        if not issued:
            return _error(sim, 404, "RESOURCE_NOT_EXISTS", "无可用的平台证书")
        return _certificate_list(sim, issued)

    downloads: dict[str, bytes] = {}  # token -> the bill file its download_url serves

    @app.get("/v3/bill/tradebill")
    def trade_bill() -> Response:
        try:
            day = datetime.strptime(request.args.get("bill_date", ""), "%Y-%m-%d").date()
        except ValueError:
            return _error(sim, 400, "PARAM_ERROR", "bill_date 格式不正确")
        bill_type = request.args.get("bill_type", "ALL")
        tar_type = request.args.get("tar_type", "")
        if bill_type not in ("ALL", "SUCCESS", "REFUND") or tar_type not in ("", "GZIP"):
            return _error(sim, 400, "PARAM_ERROR", "bill_type 或 tar_type 不正确")
        today = datetime.fromtimestamp(sim.ledger.clock(), CHINA_TZ).date()
        if day > today or sim.take("bill_missing"):
            return _error(sim, 400, "NO_STATEMENT_EXIST", "账单文件不存在")
        damage = next((d for d in bills.DAMAGE if sim.take(d)), "")
        with sim.ledger.lock:
            refunds = list(sim.ledger.refunds.values())
        rows = bills.refund_rows(refunds, sim.bill_edits, day) if bill_type != "SUCCESS" else []
        data, digest = bills.publish(rows, sim.mchid, tar_type == "GZIP", damage)
        token = secrets.token_urlsafe(24)
        downloads[token] = data
        return _signed(
            sim,
            200,
            {
                "hash_type": "SHA1",
                "hash_value": digest,
                "download_url": f"{request.host_url}v3/billdownload/file?token={token}",
            },
        )

    @app.get("/v3/billdownload/file")
    def download_bill() -> Response:
        data = downloads.pop(request.args.get("token", ""), None)  # one download a link
        if data is None:
            return _error(sim, 400, "INVALID_REQUEST", "下载链接已失效")
        return Response(data, status=200, content_type="application/octet-stream")

    @app.get("/v3/refund/domestic/refunds/<path:out_refund_no>")
    def query_refund(out_refund_no: str) -> Response:
        refund = sim.ledger.get(out_refund_no)
        if refund is None:
            return _error(sim, 404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return _signed(sim, 200, refund.as_wechat())

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_here(exc: Exception) -> Response:
        status = getattr(exc, "code", 404) or 404
        return _error(sim, status, "NOT_FOUND" if status == 404 else "METHOD_NOT_ALLOWED", str(exc))

    @app.post("/__sim__/trades")
    def add_trade() -> tuple[dict[str, Any], int]:
        data = request.get_json(force=True, silent=True) or {}
        try:
            sim.add_trade(str(data["transaction_id"]), str(data["out_trade_no"]), data["total_fen"])
        except (KeyError, ValueError) as exc:
            return {"error": f"bad trade: {exc}"}, 400
        return {"ok": True}, 201

    @app.post("/__sim__/misbehave")
    def misbehave() -> tuple[dict[str, Any], int]:
        data = request.get_json(force=True, silent=True) or {}
        try:
            sim.misbehave(str(data.get("mode", "")), int(data.get("times", 1)))
        except ValueError as exc:
            return {"error": str(exc)}, 400
        return {"ok": True}, 200

    @app.get("/__sim__/ledger")
    def ledger() -> dict[str, Any]:
        return {
            **sim.ledger.snapshot(),
            "notifications": sim.notifications(),
            "misbehaviour": sim.pending_misbehaviour(),
            "now": time.time(),
        }

    @app.post("/__sim__/recover")
    def recover() -> tuple[dict[str, Any], int]:
        data = request.get_json(force=True, silent=True) or {}
        if not sim.ledger.recover(str(data.get("out_refund_no", ""))):
            return {"error": "no such abnormal refund"}, 404
        return {"ok": True}, 200

    @app.post("/__sim__/keys")
    def keys() -> tuple[dict[str, Any], int]:
        data = request.get_json(force=True, silent=True) or {}
        action = str(data.get("action", ""))
        if action == "rotate_certificate":
            return {"serial": sim.rotate_certificate()}, 200
        if action == "retire_certificates":
            return {"retired": sim.retire_certificates()}, 200
        if action == "rotate_public_key":
            return {
                "public_key_id": sim.rotate_public_key(),
                "public_key": sim.public_key_pem(),
            }, 200
        if action == "notify_with":
            try:
                sim.notify_with(str(data.get("choice", "")))
            except ValueError as exc:
                return {"error": str(exc)}, 400
            return {"ok": True}, 200
        return {"error": f"unknown action {action!r}"}, 400

    @app.post("/__sim__/reset")
    def reset() -> dict[str, Any]:
        sim.reset()
        return {"ok": True}

    return app
