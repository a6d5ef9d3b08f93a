"""The simulated Alipay gateway as a Flask app: ``/gateway.do`` plus ``/__sim__`` controls.

Built from Alipay's published documentation: answers and notifications carry the documented
fields and nothing more; a refund's notification goes to the *payment's* notify_url (the
shop's), never to an address on the refund request; the bank-card completion message
``alipay.trade.refund.depositback.completed`` goes to the app's gateway address (应用网关)
when the refund asked for it with ``query_options``; in public-key certificate mode requests
must carry the right ``app_cert_sn`` and ``alipay_root_cert_sn`` and answers carry
``alipay_cert_sn``.
"""

from __future__ import annotations

import base64
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

from refund_portal_alipay import certs, signing
from refund_portal_alipay.amounts import fen_to_yuan, yuan_to_fen
from refund_portal_alipay.simulator import bills
from refund_portal_alipay.simulator.ledger import Ledger, RefundError, Trade

CHINA = ZoneInfo("Asia/Shanghai")
MODES = (
    "timeout_after_move",
    "system_error",
    "notify_twice",
    "notify_late",
    "notify_forged",
    "query_without_status",
    "refund_fee_short",
    "bill_missing",
    *bills.DAMAGE,
)
BILL_URL_QUERY = "alipay.data.dataservice.bill.downloadurl.query"
CHINA_TIME = "%Y-%m-%d %H:%M:%S"


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
    cert_keys: dict[str, str] | None = None,
) -> Flask:
    """The gateway app; ``keys`` from ``devkeys.ensure_dev_keys``.

    With ``cert_keys`` (from ``devkeys.ensure_dev_certs``) it is in public-key certificate
    mode: it signs with the current certificate's key until told to ``rotate``, then with
    the next one's.
    """
    app = Flask("alipay-simulator")
    ledger = Ledger()
    behaviour = Behaviour()
    stop = stop or threading.Event()
    app_public = signing.load_public(keys["ALIPAY_APP_PUBLIC_KEY"])
    gateway_private = signing.load_private(keys["ALIPAY_GATEWAY_PRIVATE_KEY"])
    app_id = keys["ALIPAY_APP_ID"]
    notifications: list[dict[str, Any]] = []
    signers = [("", gateway_private)]  # (alipay_cert_sn, key); the last one signs
    expected_sns: dict[str, str] = {}
    if cert_keys is not None:
        app_cert = certs.load_certs(cert_keys["ALIPAY_APP_CERT"])[0]
        app_public = certs.rsa_key(app_cert)
        expected_sns = {
            "app_cert_sn": certs.cert_sn(app_cert),
            "alipay_root_cert_sn": certs.root_cert_sn(
                certs.load_certs(cert_keys["ALIPAY_ROOT_CERT"])
            ),
        }
        signers = [
            (certs.cert_sn(certs.load_certs(cert_keys["ALIPAY_PUBLIC_CERT"])[0]), gateway_private)
        ]
        upcoming = (
            certs.cert_sn(certs.load_certs(cert_keys["ALIPAY_PUBLIC_CERT_NEXT"])[0]),
            signing.load_private(cert_keys["ALIPAY_GATEWAY_PRIVATE_KEY_NEXT"]),
        )
        cert_files = {  # SN -> the certificate file Alipay hands out (with its intermediate)
            signers[0][0]: cert_keys["ALIPAY_PUBLIC_CERT"],
            upcoming[0]: cert_keys["ALIPAY_PUBLIC_CERT_NEXT"],
        }
    state: dict[str, Any] = {"app_gateway_url": ""}
    edits = bills.BillEdits()
    downloads: dict[str, bytes] = {}  # token -> the file its bill_download_url serves
    app.extensions["sim"] = {
        "ledger": ledger,
        "behaviour": behaviour,
        "notifications": notifications,
        "state": state,
        "bill_edits": edits,
    }

    def rotate() -> str:
        """Sign from now on with the next Alipay certificate (certificate mode only)."""
        if cert_keys is None:
            raise ValueError("only a simulator in certificate mode rotates certificates")
        if signers[-1][0] != upcoming[0]:
            signers.append(upcoming)
        return signers[-1][0]

    app.extensions["sim"]["rotate"] = rotate

    def answer(method: str, body: dict[str, Any]) -> Response:
        inner = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        key = method.replace(".", "_") + "_response"
        sn, private = signers[-1]
        sign = signing.sign(inner, private)
        cert = f',"alipay_cert_sn":"{sn}"' if sn else ""
        text = '{"' + key + '":' + inner + cert + ',"sign":"' + sign + '"}'
        return Response(text, mimetype="application/json;charset=utf-8")

    def sign_message(params: dict[str, str]) -> None:
        params["sign"] = signing.sign(
            signing.string_to_sign(params, ("sign", "sign_type")), signers[-1][1]
        )

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
        for name, sn in expected_sns.items():
            if params.get(name) != sn:  # the simulator's own refusal; says which SN is wrong
                return error(
                    method, "40002", "Invalid Arguments", f"isv.invalid-{name}", f"{name} 不匹配"
                )
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
            return refund(method, biz)
        if method == "alipay.trade.fastpay.refund.query":
            return query(method, biz)
        if method == BILL_URL_QUERY:
            return bill_url(method, biz)
        if method == "alipay.open.app.alipaycert.download" and cert_keys is not None:
            pem = cert_files.get(str(biz.get("alipay_cert_sn", "")))
            if pem is None:  # the simulator's own refusal
                return error(
                    method, "40004", "Business Failed", "isv.invalid-cert-sn", "证书不存在"
                )
            content = base64.b64encode(pem.encode("ascii")).decode("ascii")
            return answer(
                method, {"code": "10000", "msg": "Success", "alipay_cert_content": content}
            )
        return error(method, "40004", "Business Failed", "isv.invalid-method", "不支持的接口")

    def refund(method: str, biz: dict[str, Any]) -> Response:
        try:
            trade = ledger.find(biz.get("trade_no"), biz.get("out_trade_no"))
            key = str(biz.get("out_request_no") or "")
            if not key or len(key) > 64:
                raise RefundError("ACQ.INVALID_PARAMETER", "out_request_no 缺失或过长")
            try:
                amount = yuan_to_fen(str(biz.get("refund_amount", "")))
            except ValueError:
                raise RefundError("ACQ.INVALID_PARAMETER", "refund_amount 不合法") from None
            options = biz.get("query_options") or []
            deposit_back = isinstance(options, list) and "deposit_back_info" in options
            done, moved = ledger.refund(
                trade, key, amount, str(biz.get("refund_reason", "")), deposit_back
            )
        except RefundError as exc:
            return error(method, "40004", "Business Failed", exc.sub_code, exc.sub_msg)
        if moved and trade.notify_url:
            notify(trade, done, trade.notify_url)
        if moved and done["deposit_back"] and state["app_gateway_url"]:
            send_deposit_back(trade, done, state["app_gateway_url"])
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
                "refund_fee": fen_to_yuan(
                    1 if behaviour.take("refund_fee_short") else trade.refunded_fen
                ),  # the trade's total refunded (a wrong one when told to)
                "buyer_user_id": "2088101117955611",
            },
        )

    def query(method: str, biz: dict[str, Any]) -> Response:
        try:
            trade = ledger.find(biz.get("trade_no"), biz.get("out_trade_no"))
        except RefundError as exc:
            return error(method, "40004", "Business Failed", exc.sub_code, exc.sub_msg)
        options = biz.get("query_options") or []
        options = options if isinstance(options, list) else []
        body: dict[str, Any] = {"code": "10000", "msg": "Success"}
        done = trade.refunds.get(str(biz.get("out_request_no", "")))
        if done is not None:
            body.update(
                trade_no=trade.trade_no,
                out_trade_no=trade.out_trade_no,
                out_request_no=done["out_request_no"],
                total_amount=fen_to_yuan(trade.total_fen),
                refund_amount=fen_to_yuan(done["amount_fen"]),
                refund_status="REFUND_SUCCESS",
            )
            if behaviour.take("query_without_status"):
                del body["refund_status"]
            if "gmt_refund_pay" in options:
                body["gmt_refund_pay"] = done["gmt_refund"]
            if "deposit_back_info" in options and trade.bank_card:
                body["deposit_back_info"] = {
                    "has_deposit_back": "true",
                    "dback_status": "S",
                    "dback_amount": fen_to_yuan(done["amount_fen"]),
                    "bank_ack_time": done["gmt_refund"],
                }
        return answer(method, body)

    def bill_url(method: str, biz: dict[str, Any]) -> Response:
        """A short-lived address of the day's bill file, or the documented refusals."""
        try:
            day = datetime.strptime(str(biz.get("bill_date", "")), "%Y-%m-%d").date()
        except ValueError:
            return error(
                method, "40004", "Business Failed", "isv.invalid-arguments", "账单日期格式不正确"
            )
        if biz.get("bill_type") != "trade":
            return error(
                method, "40004", "Business Failed", "isv.invalid-arguments", "账单类型不正确"
            )
        today = ledger.clock().astimezone(CHINA).date()
        if day > today or behaviour.take("bill_missing"):
            return error(method, "40004", "Business Failed", "isp.bill_not_exist", "账单不存在")
        damage = next((d for d in bills.DAMAGE if behaviour.take(d)), "")
        rows = bills.refund_rows(list(ledger.trades.values()), edits, day)
        token = uuid.uuid4().hex
        downloads[token] = bills.bill_zip(rows, day, damage)
        url = (
            f"{request.host_url}__bill__/downloadBillFile.resource?bizType=trade"
            f"&userId={bills.PID}0156&fileType=csv.zip&bizDates={day:%Y%m%d}"
            f"&downloadFileName={bills.PID}0156_{day:%Y%m%d}.csv.zip&fileId=%2Ftrade%2F"
            f"&timestamp={int(time.time())}&token={token}"
        )
        return answer(method, {"code": "10000", "msg": "Success", "bill_download_url": url})

    @app.get("/__bill__/downloadBillFile.resource")
    def download_bill() -> Response | tuple[str, int]:
        data = downloads.pop(str(request.args.get("token", "")), None)  # one download a link
        if data is None:
            return "下载超时，请重新下载", 404
        return Response(data, mimetype="application/zip")

    def notify(trade: Trade, done: dict[str, Any], url: str) -> None:
        """``trade_status_sync`` to the payment's notify_url, with the documented fields."""
        copies = 2 if behaviour.take("notify_twice") else 1
        delay = late_s if behaviour.take("notify_late") else 0.0
        forged = behaviour.take("notify_forged")
        notify_id = uuid.uuid4().hex  # the same on every resend of this notification

        def params() -> dict[str, str]:
            closed = trade.refunded_fen >= trade.total_fen
            p = {
                "notify_time": datetime.now(CHINA).strftime(CHINA_TIME),
                "notify_type": "trade_status_sync",
                "notify_id": notify_id,
                "app_id": app_id,
                "charset": "utf-8",
                "version": "1.0",
                "sign_type": "RSA2",
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "out_biz_no": done["out_request_no"],
                "buyer_id": "2088101117955611",
                "seller_id": "2088101117950000",
                "trade_status": "TRADE_CLOSED" if closed else "TRADE_SUCCESS",
                "total_amount": fen_to_yuan(trade.total_fen),
                "receipt_amount": fen_to_yuan(trade.total_fen),
                "buyer_pay_amount": fen_to_yuan(trade.total_fen),
                "refund_fee": fen_to_yuan(trade.refunded_fen),  # the trade's running total
                "gmt_payment": trade.gmt_payment,
                "gmt_refund": done["gmt_refund"] + ".000",
            }
            if closed:
                p["gmt_close"] = done["gmt_refund"]
            sign_message(p)
            if forged:
                p["refund_fee"] = fen_to_yuan(trade.refunded_fen + 1)  # tampered after signing
            return p

        def send() -> None:
            if delay and stop.wait(delay):
                return
            for _ in range(copies):
                deliver(url, params, done["out_request_no"])

        threading.Thread(target=send, daemon=True).start()

    def send_deposit_back(trade: Trade, done: dict[str, Any], url: str) -> None:
        """``alipay.trade.refund.depositback.completed`` to the app's gateway address."""
        notify_id = uuid.uuid4().hex

        def params() -> dict[str, str]:
            biz = {
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "out_request_no": done["out_request_no"],
                "dback_status": "S",
                "dback_amount": fen_to_yuan(done["amount_fen"]),
                "bank_ack_time": done["gmt_refund"],
            }
            p = {
                "notify_id": notify_id,
                "utc_timestamp": str(int(time.time() * 1000)),
                "msg_method": "alipay.trade.refund.depositback.completed",
                "app_id": app_id,
                "version": "1.1",
                "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
                "charset": "utf-8",
                "sign_type": "RSA2",
            }
            sign_message(p)
            return p

        def send() -> None:
            if late_s and stop.wait(late_s):
                return  # the bank's answer comes later than the refund
            deliver(url, params, done["out_request_no"])

        threading.Thread(target=send, daemon=True).start()

    def deliver(url: str, make: Callable[[], dict[str, str]], out_request_no: str) -> None:
        for attempt in range(1, 6):
            params = make()
            try:
                resp = requests.post(url, data=params, timeout=5)
                status, text = resp.status_code, resp.text.strip()
            except requests.RequestException as exc:
                status, text = 0, str(exc)
            notifications.append(
                {
                    "out_biz_no": out_request_no,
                    "kind": params.get("msg_method") or params["notify_type"],
                    "notify_id": params["notify_id"],
                    "url": url,
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
                str(data.get("notify_url") or ""),
                bool(data.get("bank_card")),
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

    @app.post("/__sim__/app-gateway")
    def app_gateway() -> Response:
        data = request.get_json(force=True, silent=True)
        state["app_gateway_url"] = str((data or {}).get("url") or "")
        return jsonify(app_gateway_url=state["app_gateway_url"])

    @app.post("/__sim__/rotate")
    def rotate_cert() -> Response | tuple[Response, int]:
        try:
            return jsonify(alipay_cert_sn=rotate())
        except ValueError as exc:
            return jsonify(error=str(exc)), 400

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
        edits.clear()
        ledger.clear()
        behaviour.clear()
        notifications.clear()
        return jsonify(ok=True)

    return app
