"""Loading plugins: allow-list, broken plugins (import error, duplicate id, missing method)."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import pytest

from portal import create_app, hookimpl
from portal.plugins.channels import ArrivalWindow, RefundResult, ResultStatus
from portal.plugins.loading import BROKEN, LOADED, NOT_ALLOWED, load_entry_points, parse_allowed
from portal.plugins.manager import make_plugin_manager
from portal.plugins.startup import PluginLoadError
from tests.conftest import base_config


class Good:
    id = "goodpay"
    label = "Good"

    def arrival(self, payment):
        return ArrivalWindow("instant")

    def execute_refund(self, request):
        return RefundResult(ResultStatus.SUCCEEDED, "G")

    def query_refund(self, request):
        return RefundResult(ResultStatus.SUCCEEDED, "G")


class NoQuery(Good):
    id = "halfpay"
    query_refund = None


def registering(*channels):
    class Plugin:
        @hookimpl
        def register_payout_channels(self, settings):
            return list(channels)

    return Plugin()


def app_with(tmp_path, redis_url, pm, **config):
    cfg = base_config(tmp_path, f"sqlite:///{tmp_path}/x.sqlite3", redis_url)
    cfg.update(PLUGIN_MANAGER=pm, **config)
    return create_app(cfg)


def test_parse_allowed():
    assert parse_allowed(None) is None and parse_allowed("") is None
    assert parse_allowed("Refund_Portal.Bank, refund-portal-wechat") == {
        "refund-portal-bank",
        "refund-portal-wechat",
    }


def test_allow_list_loads_only_the_named_distributions():
    eps = [ep for ep in entry_points(group="refund_portal") if ep.name in ("bank", "wechat")]
    assert len(eps) == 2, "pip install -e plugins/bank plugins/wechat"
    pm = make_plugin_manager(load_entry_points=False)
    infos = {i.name: i for i in load_entry_points(pm, parse_allowed("refund-portal-bank"), eps)}
    assert infos["bank"].status == LOADED and infos["bank"].version == "0.1.0"
    assert infos["wechat"].status == NOT_ALLOWED
    assert pm.get_plugin("bank") is not None and pm.get_plugin("wechat") is None


def test_import_error_stops_start_up_naming_the_plugin(tmp_path, redis_url):
    pm = make_plugin_manager(load_entry_points=False)
    ep = EntryPoint("ghostpay", "refund_portal_ghostpay_missing.plugin", "refund_portal")
    [info] = load_entry_points(pm, None, [ep])
    assert info.status == BROKEN and "ModuleNotFoundError" in info.problems[0]
    with pytest.raises(PluginLoadError, match=r"plugin 'ghostpay'.*cannot be imported"):
        app_with(tmp_path, redis_url, pm)


def test_broken_ok_starts_without_the_plugin_and_lists_it(tmp_path, redis_url):
    pm = make_plugin_manager(load_entry_points=False)
    load_entry_points(pm, None, [EntryPoint("ghostpay", "no_such_mod_xyz", "refund_portal")])
    pm.register(registering(Good()), name="good")
    app = app_with(tmp_path, redis_url, pm, PLUGINS_BROKEN_OK="true")
    infos = {i.name: i for i in app.extensions["portal.plugin_infos"].values()}
    assert infos["ghostpay"].status == BROKEN
    assert infos["good"].channel_ids == ["goodpay"]
    assert "goodpay" in app.extensions["portal.plugins.channels"]


def test_duplicate_channel_id_breaks_both_plugins(tmp_path, redis_url):
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(registering(Good()), name="first")
    pm.register(registering(Good()), name="second")
    with pytest.raises(PluginLoadError, match="channel id 'goodpay' is registered more than once"):
        app_with(tmp_path, redis_url, pm)
    app = app_with(tmp_path, redis_url, pm, PLUGINS_BROKEN_OK=True)
    assert "goodpay" not in app.extensions["portal.plugins.channels"]  # neither one gets payouts
    infos = app.extensions["portal.plugin_infos"]
    assert infos["first"].status == infos["second"].status == BROKEN


def test_missing_method_breaks_the_plugin_and_all_its_channels(tmp_path, redis_url):
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(registering(Good(), NoQuery()), name="half")
    with pytest.raises(PluginLoadError, match=r"plugin 'half'.*'halfpay' lacks the method"):
        app_with(tmp_path, redis_url, pm)
    app = app_with(tmp_path, redis_url, pm, PLUGINS_BROKEN_OK=True)
    assert app.extensions["portal.plugins.channels"].ids() == []  # not even its good channel


def test_failing_hook_breaks_the_plugin(tmp_path, redis_url):
    class Raising:
        @hookimpl
        def register_payout_channels(self, settings):
            raise RuntimeError("no key file")

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Raising(), name="raising")
    with pytest.raises(PluginLoadError, match=r"register_payout_channels\(\) failed: RuntimeError"):
        app_with(tmp_path, redis_url, pm)


def test_plugins_cli_lists_plugins_versions_and_channels(app):
    out = app.test_cli_runner().invoke(args=["plugins"])
    assert out.exit_code == 0, out.output
    lines = {line.split()[0]: line for line in out.output.splitlines() if line.strip()}
    assert "refund-portal-bank 0.1.0" in lines["bank"] and lines["bank"].endswith("bank")
    assert "fakepay" in lines["fakepay"]
