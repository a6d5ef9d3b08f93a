"""One gateway request in a freshly forked work-horse: the channels' transport
(``portal.infra.gateway_http``, on ``http.client``) next to urllib3, measured side by side.

Each sample forks a child from a warmed parent (as RQ forks a work-horse per job), sends
one signed-size POST to a local server in another process and reads the answer; the child
reports its CPU time and page faults. ``BENCH_SAMPLES`` (200) samples per client per round,
``BENCH_ROUNDS`` (5) rounds, clients alternating.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.forked import compare, summary

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
BODY = b'{"out_refund_no":"P-0000000001","amount":{"refund":1000,"total":1000}}' * 4
HEADERS = {
    "Authorization": "WECHATPAY2-SHA256-RSA2048 " + "s" * 400,
    "Content-Type": "application/json",
}

_SERVER = """
import sys
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

@Request.application
def app(request):
    request.get_data()
    return Response('{"status":"SUCCESS","refund_id":"50000000000000000000000000000"}',
                    headers={"Wechatpay-Signature": "x" * 344}, content_type="application/json")

run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)
"""


def main() -> dict[str, float]:
    """Print the median CPU and page faults per request for each client, and their ratio."""
    import urllib3

    from bench.stack import free_port
    from portal.infra.gateway_http import GatewayHTTP

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)], stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib3.request("GET", base, timeout=1)
                break
            except urllib3.exceptions.HTTPError:
                time.sleep(0.05)
        pool = urllib3.PoolManager(retries=False)
        ours = GatewayHTTP(base, timeout=5)

        def via_urllib3() -> None:
            resp = pool.request(
                "POST", base + "/v3/refund/domestic/refunds", body=BODY, headers=HEADERS, timeout=5
            )
            assert resp.status == 200 and resp.headers.get("wechatpay-signature") and resp.data

        def via_gateway_http() -> None:
            resp = ours.request("POST", "/v3/refund/domestic/refunds", BODY, HEADERS)
            assert resp.status == 200 and resp.headers.get("wechatpay-signature") and resp.body

        clients = {"urllib3": via_urllib3, "gateway_http": via_gateway_http}
        for call in clients.values():  # the parent has imported and run both once
            call()
        pool.clear()
        cpu, faults = compare(clients, ROUNDS, SAMPLES)
    finally:
        server.terminate()
        server.wait(10)
    ratio = cpu["gateway_http"] / cpu["urllib3"]
    print(
        f"gateway_http: one request in a forked child, median of {ROUNDS} x {SAMPLES}: "
        f"{summary(cpu, faults)}; ratio {ratio:.2f}"
    )
    return {"cpu_ms": cpu["gateway_http"], "urllib3_cpu_ms": cpu["urllib3"], "ratio": ratio}


if __name__ == "__main__":
    main()
