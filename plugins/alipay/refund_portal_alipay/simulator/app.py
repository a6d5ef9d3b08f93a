"""The simulated Alipay gateway as a Flask app: ``/gateway.do`` plus ``/__sim__`` controls."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests
from flask import Flask, Response, jsonify, request

from refund_portal_alipay import signing
from refund_portal_alipay.amounts import fen_to_yuan, yuan_to_fen
from refund_portal_alipay.simulator.ledger import Ledger, RefundError, Trade

CHINA = ZoneInfo("Asia/Shanghai")
MODES = ("timeout_after_move", "system_error", "notify_twice", "notify_late", "notify_forged")


class Behaviour:
    """Misbehaviours queued by tests, each used up after ``times`` requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: dict[str, int] = {}

    def set(self, mode: str, times: int) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        with self._lock:
            self._queue[mode] = self._queue.get(mode, 0) + times

    def take(self, mode: str) -> bool:
        with self._lock:
            if self._queue.get(mode, 0) > 0:
                self._queue[mode] -= 1
                return True
            return False

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in self._queue.items() if v}


def create_app(
    keys: dict[str, str],
    *,
    hang_s: float = 15.0,
    late_s: float = 2.0,
    stop: threading.Event | None = None,
) -> Flask:
    """The gateway app; ``keys`` from ``devkeys.ensure_dev_keys``."""
    app = Flask("alipay-simulator")
    ledger = Ledger()
    behaviour = Behaviour()
    stop = stop or threading.Event()
    app_public = signing.load_public(keys["ALIPAY_APP_PUBLIC_KEY"])
    gateway_private = signing.load_private(keys["ALIPAY_GATEWAY_PRIVATE_KEY"])
    app_id = keys["ALIPAY_APP_ID"]
    notifications: list[dict[str, Any]] = []
    app.extensions["sim"] = {
        "ledger": ledger,
        "behaviour": behaviour,
        "notifications": notifications,
    }

    def answer(method: str, body: dict[str, Any]) -> Response:
        inner = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        key = method.replace(".", "_") + "_response"
        sign = signing.sign(inner, gateway_private)
        text = '{"' + key + '":' + inner + ',"sign":"' + sign + '"}'
        return Response(text, mimetype="application/json;charset=utf-8")

    def error(method: str, code: str, msg: str, sub_code: str, sub_msg: str) -> Response:
        return answer(method, {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg})

    @app.route("/gateway.do", methods=["GET", "POST"])
    def gateway() -> Response:
        params = {**request.args.to_dict(), **request.form.to_dict()}
        method = params.get("method", "")
        if params.get("app_id") != app_id:
            return error(
                method, "40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数"
            )
        if params.get("sign_type") != "RSA2" or not signing.verify(
            signing.string_to_sign(params), params.get("sign", ""), app_public
        ):
            return error(method, "40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            return error(
                method,
                "40002",
                "Invalid Arguments",
                "isv.invalid-parameter",
                "biz_content 不是 JSON",
            )
        if behaviour.take("system_error"):
            return error(
                method, "20000", "Service Currently Unavailable", "ACQ.SYSTEM_ERROR", "系统错误"
            )
        if method == "alipay.trade.refund":
            return refund(method, biz, params.get("notify_url", ""))
        if method == "alipay.trade.fastpay.refund.query":
            return query(method, biz)
        return error(method, "40004", "Business Failed", "isv.invalid-method", "不支持的接口")

    def refund(method: str, biz: dict[str, Any], notify_url: str) -> Response:
        try:
            trade = ledger.find(biz.get("trade_no"), biz.get("out_trade_no"))
            key = str(biz.get("out_request_no") or "")
            if not key or len(key) > 64:
                raise RefundError("ACQ.INVALID_PARAMETER", "out_request_no 缺失或过长")
            try:
                amount = yuan_to_fen(str(biz.get("refund_amount", "")))
            except ValueError:
                raise RefundError("ACQ.INVALID_PARAMETER", "refund_amount 不合法") from None
            done, moved = ledger.refund(trade, key, amount, str(biz.get("refund_reason", "")))
        except RefundError as exc:
            return error(method, "40004", "Business Failed", exc.sub_code, exc.sub_msg)
        if moved and notify_url:
            notify(trade, done, notify_url)
        if behaviour.take("timeout_after_move"):
            stop.wait(hang_s)  # the money moved; the caller times out
        return answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "buyer_logon_id": "159****5620",
                "fund_change": "Y" if moved else "N",
                "refund_fee": fen_to_yuan(trade.refunded_fen),  # the trade's total refunded
                "send_back_fee": fen_to_yuan(done["amount_fen"] if moved else 0),  # this call
                "gmt_refund_pay": done["gmt_refund"],
            },
        )

    def query(method: str, biz: dict[str, Any]) -> Response:
        try:
            trade = ledger.find(biz.get("trade_no"), biz.get("out_trade_no"))
        except RefundError as exc:
            return error(method, "40004", "Business Failed", exc.sub_code, exc.sub_msg)
        body = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": str(biz.get("out_request_no", "")),
        }
        done = trade.refunds.get(str(biz.get("out_request_no", "")))
        if done is not None:
            body.update(
                refund_amount=fen_to_yuan(done["amount_fen"]),
                total_amount=fen_to_yuan(trade.total_fen),
                refund_status="REFUND_SUCCESS",
                gmt_refund_pay=done["gmt_refund"],
            )
        return answer(method, body)

    def notify(trade: Trade, done: dict[str, Any], url: str) -> None:
        copies = 2 if behaviour.take("notify_twice") else 1
        delay = late_s if behaviour.take("notify_late") else 0.0
        forged = behaviour.take("notify_forged")

        def params() -> dict[str, str]:
            p = {
                "notify_time": datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
                "notify_type": "trade_status_sync",
                "notify_id": uuid.uuid4().hex,
                "app_id": app_id,
                "charset": "utf-8",
                "version": "1.0",
                "sign_type": "RSA2",
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "out_biz_no": done["out_request_no"],
                "refund_fee": fen_to_yuan(trade.refunded_fen),
                "send_back_fee": fen_to_yuan(done["amount_fen"]),
                "gmt_refund": done["gmt_refund"],
                "trade_status": "TRADE_SUCCESS"
                if trade.refunded_fen < trade.total_fen
                else "TRADE_CLOSED",
            }
            p["sign"] = signing.sign(
                signing.string_to_sign(p, ("sign", "sign_type")), gateway_private
            )
            if forged:
                p["send_back_fee"] = fen_to_yuan(done["amount_fen"] + 1)  # tampered after signing
            return p

        def send() -> None:
            if delay and stop.wait(delay):
                return
            for _ in range(copies):
                deliver(url, params)

        threading.Thread(target=send, daemon=True).start()

    def deliver(url: str, make: Callable[[], dict[str, str]]) -> None:
        for attempt in range(1, 6):
            params = make()
            try:
                resp = requests.post(url, data=params, timeout=5)
                status, text = resp.status_code, resp.text.strip()
            except requests.RequestException as exc:
                status, text = 0, str(exc)
            notifications.append(
                {
                    "out_biz_no": params["out_biz_no"],
                    "attempt": attempt,
                    "status": status,
                    "answer": text[:200],
                }
            )
            if status == 200 and text == "success":
                return
            if stop.wait(min(0.5 * attempt, 2.0)):
                return

    @app.post("/__sim__/trades")
    def add_trade() -> tuple[Response, int]:
        data = request.get_json(force=True, silent=True)
        try:
            if not isinstance(data, dict):
                raise ValueError("send a JSON object {trade_no, out_trade_no, total_fen}")
            ledger.add_trade(
                str(data.get("trade_no") or ""),
                str(data.get("out_trade_no") or ""),
                data.get("total_fen"),
            )
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(ok=True), 201

    @app.post("/__sim__/misbehave")
    def misbehave() -> Response | tuple[Response, int]:
        data = request.get_json(force=True, silent=True)
        try:
            if not isinstance(data, dict):
                raise ValueError("send a JSON object {mode, times}")
            behaviour.set(str(data.get("mode")), int(data.get("times", 1)))
        except (TypeError, ValueError) as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(pending=behaviour.pending())

    @app.get("/__sim__/ledger")
    def show_ledger() -> Response:
        return jsonify(
            **ledger.snapshot(),
            notifications=list(notifications),
            misbehaviour=behaviour.pending(),
            now=time.time(),
        )

    @app.post("/__sim__/reset")
    def reset() -> Response:
        ledger.clear()
        behaviour.clear()
        notifications.clear()
        return jsonify(ok=True)

    return app
