"""The simulator's HTTP face: the two v3 refund endpoints plus ``/__sim__`` controls.

Every ``/v3`` request must carry a valid merchant signature (checked with the
merchant public key named by ``serial_no``); every ``/v3`` answer, errors
included, is signed with the platform key, as WeChat Pay does.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from refund_portal_wechat import crypto
from refund_portal_wechat.simulator import abnormal

if TYPE_CHECKING:
    from refund_portal_wechat.simulator import WechatSimulator


def _signed(sim: WechatSimulator, status: int, payload: dict[str, Any]) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = sim.signer.headers(body)
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


def create_app(sim: WechatSimulator) -> Flask:
    """The Flask app serving ``sim``."""
    app = Flask("refund_portal_wechat.simulator")

    @app.before_request
    def authenticate() -> Response | None:
        if not request.path.startswith("/v3/"):
            return None
        problem = _authentication_problem(sim)
        if problem:
            return _error(sim, 401, "SIGN_ERROR", problem)
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
        answer = abnormal.apply_abnormal_refund(
            sim.ledger,
            refund_id,
            fields,
            request.headers.get("Wechatpay-Serial", ""),
            lambda text: crypto.oaep_decrypt(sim.signer.private_key, text),
            sim.signer.serial,
        )
        return _signed(sim, answer.status, answer.body)

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

    @app.post("/__sim__/reset")
    def reset() -> dict[str, Any]:
        sim.reset()
        return {"ok": True}

    return app
