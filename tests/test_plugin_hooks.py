"""One test per hook in portal/plugins/hookspecs.py (test_plugin_docs.py checks that each has one)."""

from __future__ import annotations

from sqlalchemy import select

from portal import hookimpl
from portal.extensions import db
from portal.models import Notice
from portal.plugins.channels import (
    ArrivalWindow,
    ChannelServices,
    MemoryReplayGuard,
    RefundResult,
    ResultStatus,
)
from portal.plugins.checks import check_channels
from portal.plugins.loading import plugin_infos
from portal.plugins.manager import make_plugin_manager
from portal.plugins.notices import NoticeMessage
from portal.plugins.settings import Setting, setting_states
from portal.services.messaging import delivery
from tests.test_notifications import rejected_case


class HookChannel:
    id = "hookpay"
    label = "Hook pay"

    def arrival(self, payment):
        return ArrivalWindow("instant")

    def execute_refund(self, request):
        return RefundResult(ResultStatus.SUCCEEDED, "H1")

    def query_refund(self, request):
        return RefundResult(ResultStatus.SUCCEEDED, "H1")


class ChannelPlugin:
    def __init__(self) -> None:
        self.seen: list = []

    @hookimpl
    def register_settings(self):
        return [Setting("HOOKPAY_KEY", "API key", secret=True)]

    @hookimpl
    def register_payout_channels(self, settings, services):
        self.seen.append((dict(settings), services))
        return [HookChannel()]


def test_hook_register_payout_channels():
    pm = make_plugin_manager(load_entry_points=False)
    plugin = ChannelPlugin()
    pm.register(plugin, name="hookpay-plugin")
    infos = plugin_infos(pm)
    services = ChannelServices(MemoryReplayGuard(), dev_keys_dir=None)
    registry = check_channels(pm, {"HOOKPAY_KEY": "k1", "OTHER_KEY": "x"}, infos, services)
    assert registry.ids() == ["hookpay"]
    # the hook got the settings its plugin declares, and the services
    assert plugin.seen == [({"HOOKPAY_KEY": "k1"}, services)]
    assert infos["hookpay-plugin"].channel_ids == ["hookpay"]


class Recorder:
    def __init__(self) -> None:
        self.notices: list[NoticeMessage] = []

    @hookimpl
    def send_notice(self, notice):
        self.notices.append(notice)


def test_hook_send_notice(app, clock):
    recorder = Recorder()
    pm = app.extensions["portal.plugins.manager"]
    pm.register(recorder, name="recorder")
    try:
        case = rejected_case(clock)
        notice = db.session.scalars(select(Notice).where(Notice.audience == "buyer")).one()
        delivery.deliver(notice.id)
    finally:
        pm.unregister(name="recorder")
    [sent] = recorder.notices
    assert isinstance(sent, NoticeMessage) and sent.id == notice.id
    assert sent.case_no == case.case_no
    assert sent.audience == "buyer" and sent.text


class SettingsPlugin:
    @hookimpl
    def register_settings(self):
        return [
            Setting("HOOKPAY_URL", "Gateway URL", required=True),
            Setting("HOOKPAY_KEY", "API key", secret=True, validator=self.key_rule),
        ]

    @staticmethod
    def key_rule(text):
        if len(text) < 8:
            raise ValueError(f"{text} is too short")


def test_hook_register_settings():
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(SettingsPlugin(), name="hookpay-settings")
    states = {s.setting.name: s for s in setting_states(pm, {"HOOKPAY_KEY": "abc"})}
    assert states["HOOKPAY_URL"].problem == "required"
    assert states["HOOKPAY_KEY"].shown == "set"
    assert states["HOOKPAY_KEY"].problem == "invalid value"  # the message would show the secret
    ok = {
        s.setting.name: s
        for s in setting_states(pm, {"HOOKPAY_URL": "http://x", "HOOKPAY_KEY": ""})
    }
    assert (ok["HOOKPAY_URL"].shown, ok["HOOKPAY_URL"].problem) == ("http://x", "")
    assert (ok["HOOKPAY_KEY"].shown, ok["HOOKPAY_KEY"].problem) == ("missing", "")
