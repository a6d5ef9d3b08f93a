"""``refund-portal new-plugin``: the generated package, and the kit catching a bad channel."""

from __future__ import annotations

import importlib.util
import sys
import tomllib

import pytest

from portal.plugins.channels import (
    ArrivalWindow,
    ConnectionChecker,
    PaymentRef,
    RefundRequest,
    RefundResult,
    ResultStatus,
)
from portal.plugins.conformance import ChannelConformance, ConformanceTarget
from portal.plugins.scaffold import TemplateError, generate
from portal.plugins.settings import PluginSettings


def test_generated_package_has_entry_point_skeleton_and_kit(app, tmp_path):
    out = app.test_cli_runner().invoke(
        args=["new-plugin", "star_pay", "--directory", str(tmp_path / "p"), "--label", "Star"]
    )
    assert out.exit_code == 0, out.output
    root = tmp_path / "p"
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "refund-portal-star-pay"
    assert meta["project"]["entry-points"]["refund_portal"] == {
        "star_pay": "refund_portal_star_pay.plugin"
    }
    test_file = (root / "tests" / "test_star_pay_conformance.py").read_text()
    assert "class TestConformance(ChannelConformance)" in test_file
    sys.path.insert(0, str(root))
    try:
        from refund_portal_star_pay.channel import StarPayChannel
        from refund_portal_star_pay.plugin import register_payout_channels, register_settings

        declared = [s.name for s in register_settings()]
        assert register_payout_channels(PluginSettings({"SECRET_KEY": "x"}, declared)) == []
        [channel] = register_payout_channels(
            PluginSettings({"STAR_PAY_GATEWAY_URL": "http://127.0.0.1:1"}, declared)
        )
        assert isinstance(channel, StarPayChannel) and channel.id == "star_pay"
        payment = PaymentRef("star_pay", "T1", "O1", 100)
        with pytest.raises(NotImplementedError, match=r"StarPayChannel.execute_refund\(\)"):
            channel.execute_refund(RefundRequest("K1", payment, 100))
        with pytest.raises(NotImplementedError, match=r"query_refund\(\)"):
            channel.query_refund(RefundRequest("K1", payment, 100))
        assert isinstance(channel, ConnectionChecker)  # check-channels asks it; optional
        with pytest.raises(NotImplementedError, match=r"check_connection\(\)"):
            channel.check_connection()
        assert "def unreachable_channel" in test_file
        assert {s.name for s in register_settings()} >= {"STAR_PAY_API_KEY"}
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.startswith("refund_portal_star_pay")]:
            del sys.modules[name]
    assert importlib.util.find_spec("refund_portal_star_pay") is None


@pytest.mark.parametrize("name", ["X", "9pay", "my-pay", "a" * 31])
def test_bad_names_and_occupied_directories_write_nothing(tmp_path, name):
    with pytest.raises(TemplateError, match="plugin name"):
        generate(name, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(TemplateError, match="not empty"):
        generate("okpay", tmp_path / "busy")
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["keep.txt"]


class CarelessGateway:
    """Pays on every call, whatever the key: what the kit exists to catch."""

    def __init__(self):
        self.captured: dict[str, int] = {}
        self.paid: list[tuple[str, int]] = []


class CarelessChannel:
    id = "careless"
    label = "Careless"

    def __init__(self, gateway):
        self.gateway = gateway

    def arrival(self, payment):
        return ArrivalWindow("instant")

    def execute_refund(self, request):
        self.gateway.paid.append((request.idempotency_key, request.amount_fen))
        return RefundResult(ResultStatus.SUCCEEDED, f"R{len(self.gateway.paid)}")

    def query_refund(self, request):
        return RefundResult(ResultStatus.SUCCEEDED, "R1")


class CarelessTarget(ConformanceTarget):
    def __init__(self):
        self.gateway = CarelessGateway()
        self.channel = CarelessChannel(self.gateway)

    def new_payment(self, captured_fen):
        return PaymentRef("careless", "T", "O", captured_fen)

    def movements(self, key):
        return sum(k == key for k, _ in self.gateway.paid)


@pytest.mark.parametrize(
    "check",
    [
        "test_same_key_twice_moves_money_once",
        "test_over_refund_is_refused",
    ],
)
def test_the_kit_fails_a_channel_that_breaks_the_invariants(check):
    with pytest.raises(AssertionError):
        getattr(ChannelConformance(), check)(CarelessTarget())
