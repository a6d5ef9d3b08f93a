"""`refund-portal dev` (what `make run` starts), twice on one machine at the same time.

Each demo has its own instance folder and web port; its gateway simulators must be on ports
of their own, or one demo's refunds would be paid by the other's simulators.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from portal.dev.devsims import free_port

pytestmark = pytest.mark.slow

READY = re.compile(r"started in [0-9.]+ s")
GATEWAY = re.compile(r"^\s+(\w+_GATEWAY_URL) = (\S+)$")


class Demo:
    """One `refund-portal dev` process whose output is read line by line as it comes."""

    def __init__(self, instance: Path) -> None:
        self.port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PORTAL_") or k == "PORTAL_ENVIRONMENT"
        }
        env["PORTAL_INSTANCE_PATH"] = str(instance)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portal.cli", "dev", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.new_line = threading.Condition()  # notified for each line read
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.new_line:
                self.lines.append(line.rstrip("\n"))
                self.new_line.notify_all()
            if READY.search(line):
                self.ready.set()
        with self.new_line:  # the process ended: nothing more will come
            self.new_line.notify_all()

    def wait_ready(self, seconds: float) -> bool:
        """True once the banner is printed; False if the process ended or time ran out."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.ready.wait(0.2):
                return True
            if self.proc.poll() is not None:
                return self.ready.wait(1)
        return False

    def gateways(self) -> dict[str, str]:
        return {m[1]: m[2] for line in self.lines if (m := GATEWAY.match(line))}

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()


def get_when_listening(url: str, seconds: float = 60) -> requests.Response:
    """GET ``url`` once its server accepts connections: the banner is printed just before the
    web server binds its port, so a loaded machine may refuse the first attempt."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return requests.get(url, timeout=10)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_two_demos_run_side_by_side_on_ports_of_their_own(tmp_path: Path) -> None:
    demos = [Demo(tmp_path / "a"), Demo(tmp_path / "b")]
    try:
        for demo in demos:
            assert demo.wait_ready(180), "\n".join(demo.lines[-30:])
        urls = [demo.gateways() for demo in demos]
        for found in urls:
            assert set(found) == {"ALIPAY_GATEWAY_URL", "WECHAT_GATEWAY_URL"}, found
        ports = {
            re.search(r":(\d+)", url)[1]  # type: ignore[index]
            for found in urls
            for url in found.values()
        }
        assert len(ports) == 4, urls  # no simulator shared, none on a fixed port of the other
        for demo in demos:
            page = get_when_listening(f"http://127.0.0.1:{demo.port}/")
            assert page.status_code == 200
            assert "退款" in page.text
        started = time.monotonic()
    finally:
        codes = [demo.stop() for demo in demos]
    assert time.monotonic() - started < 30
    assert codes == [0, 0], codes


def wait_for_line(demo: Demo, pattern: re.Pattern[str], seconds: float) -> str | None:
    """The first output line matching ``pattern``, once the demo printed it (None: not in time)."""
    deadline = time.monotonic() + seconds
    with demo.new_line:
        while True:
            found = next((line for line in demo.lines if pattern.search(line)), None)
            left = deadline - time.monotonic()
            if found is not None or demo.proc.poll() is not None or left <= 0:
                return found
            demo.new_line.wait(left)  # woken by the next line the demo prints


def test_the_demo_buyer_gets_sms_from_the_simulator_and_a_refund_is_held(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "sms")
    try:
        assert demo.wait_ready(180), "\n".join(demo.lines[-30:])
        sms = {
            m[1]: m[2]
            for line in demo.lines
            if (m := re.match(r"^\s+(SMS_\w+_URL) = (\S+)$", line))
        }
        assert set(sms) == {"SMS_ALIYUN_URL", "SMS_TENCENT_URL"}, demo.lines
        assert len(set(sms.values())) == 2
        assert any("DEMO1012: WeChat Pay holds its refund" in line for line in demo.lines)
        # the demo's rejected and waiting-for-material cases notify the buyer, who gave a
        # mobile number: the worker sends them through the Alibaba Cloud SMS simulator
        line = wait_for_line(
            demo, re.compile(r"^\[sms_aliyun simulator\] SMS to \+8613800000000"), 120
        )
        assert line is not None, "\n".join(demo.lines[-40:])
        assert '"template": "SMS_9000' in line and "退款门户演示" in line
        sent = requests.get(sms["SMS_ALIYUN_URL"] + "__sim__/sent", timeout=10).json()
        assert sent and all(s["phone"] == "+8613800000000" for s in sent)
        assert requests.get(sms["SMS_TENCENT_URL"] + "__sim__/sent", timeout=10).json() == []
    finally:
        assert demo.stop() == 0
