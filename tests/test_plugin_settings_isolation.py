"""Each plugin sees only the settings it declared; services come as their own argument.

Hostile: a plugin that declares WECHAT_* keys tries every way a mapping offers to reach the
secret key, another plugin's credentials or the database URL, at start-up and when a notice
is delivered.
"""

from __future__ import annotations

import pytest
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
from portal.plugins.loading import BROKEN, plugin_infos
from portal.plugins.manager import ChannelRegistry, make_plugin_manager
from portal.plugins.notices import NoticeMessage
from portal.plugins.settings import PluginSettings, Setting, UndeclaredSetting
from portal.services.messaging import delivery
from tests.conftest import base_config
from tests.test_notifications import rejected_case

SECRET_KEY = "core-secret-key-0123456789"
ALIPAY_KEY = "-----BEGIN PRIVATE KEY-----alipay-private-----END PRIVATE KEY-----"
APIV3_KEY = "0123456789abcdef0123456789abcdef"
CONFIG = {
    "SECRET_KEY": SECRET_KEY,
    "DATABASE_URL": "postgresql://portal:db-password@db/portal",
    "ALIPAY_APP_ID": "2021000000000001",
    "ALIPAY_APP_PRIVATE_KEY": ALIPAY_KEY,
    "WECHAT_MCHID": "1900000109",
    "WECHAT_APIV3_KEY": APIV3_KEY,
    "WECHAT_TIMEOUT": 7,
    "REPLAY_GUARD": "not a service any more",
}
FORBIDDEN = ("SECRET_KEY", "DATABASE_URL", "ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY")


class Channel:
    label = "Nosy"

    def __init__(self, cid):
        self.id = cid

    def arrival(self, payment):
        return ArrivalWindow("instant")

    def execute_refund(self, request):
        return RefundResult(ResultStatus.SUCCEEDED, "N1")

    def query_refund(self, request):
        return RefundResult(ResultStatus.SUCCEEDED, "N1")


def reachable_text(obj, depth=6):
    """Every string reachable from ``obj``: attributes, slots, contents, closures, partials."""
    seen, found, todo = set(), [], [(obj, 0)]
    while todo:
        item, level = todo.pop()
        if id(item) in seen or level > depth:
            continue
        seen.add(id(item))
        if isinstance(item, str | bytes):
            found.append(str(item))
            continue
        children = []
        if isinstance(item, dict):
            children += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset):
            children += list(item)
        elif hasattr(item, "items") and callable(item.items):
            children += [v for kv in item.items() for v in kv]
        for cls in type(item).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if hasattr(item, name):
                    children.append(getattr(item, name))
        if not isinstance(item, type):
            children += list(getattr(item, "__dict__", {}).values())
        for name in ("__wrapped__", "func", "args", "keywords", "__self__"):
            if hasattr(item, name) and not isinstance(item, type):
                children.append(getattr(item, name))
        for cell in getattr(item, "__closure__", None) or ():
            children.append(cell.cell_contents)
        todo += [(child, level + 1) for child in children]
    return found


def _reachable_objects(obj, depth=6):
    seen, todo, found = set(), [(obj, 0)], []
    while todo:
        item, level = todo.pop()
        if id(item) in seen or level > depth or isinstance(item, str | bytes | type):
            continue
        seen.add(id(item))
        found.append(item)
        children = list(getattr(item, "__dict__", {}).values())
        children += [
            getattr(item, n) for n in ("__wrapped__", "func", "__self__") if hasattr(item, n)
        ]
        children += [c.cell_contents for c in getattr(item, "__closure__", None) or ()]
        for cls in type(item).__mro__:
            children += [
                getattr(item, n) for n in getattr(cls, "__slots__", ()) if hasattr(item, n)
            ]
        todo += [(child, level + 1) for child in children]
    return found


class NosyWechat:
    """Declares WECHAT_* and tries to read everything else."""

    def __init__(self):
        self.attempts: dict[str, str] = {}
        self.settings = None
        self.services = None

    @hookimpl
    def register_settings(self):
        return [
            Setting("WECHAT_MCHID", "mchid"),
            Setting("WECHAT_APIV3_KEY", "APIv3 key", secret=True),
            Setting("WECHAT_TIMEOUT", "timeout"),
            Setting("WECHAT_GATEWAY_URL", "gateway"),
        ]

    @hookimpl
    def register_payout_channels(self, settings, services):
        self.settings, self.services = settings, services
        for name in FORBIDDEN:
            try:
                self.attempts[name] = repr(settings[name])
            except KeyError as exc:
                self.attempts[name] = type(exc).__name__
        return [Channel("nosy")]


class Quiet:
    """Declares nothing: receives an empty mapping."""

    def __init__(self):
        self.settings = None

    @hookimpl
    def register_payout_channels(self, settings):
        self.settings = settings
        return [Channel("quiet")]


def manager(*plugins):
    pm = make_plugin_manager(load_entry_points=False)
    for name, plugin in plugins:
        pm.register(plugin, name=name)
    return pm


def test_a_plugin_sees_only_what_it_declared():
    nosy, quiet = NosyWechat(), Quiet()
    pm = manager(("nosy", nosy), ("quiet", quiet))
    registry = check_channels(pm, CONFIG, plugin_infos(pm), ChannelServices())
    assert registry.ids() == ["nosy", "quiet"]
    settings = nosy.settings
    assert isinstance(settings, PluginSettings)
    # values as text; declared but unset keys are absent
    assert dict(settings) == {
        "WECHAT_MCHID": "1900000109",
        "WECHAT_APIV3_KEY": APIV3_KEY,
        "WECHAT_TIMEOUT": "7",
    }
    assert settings.get("WECHAT_GATEWAY_URL") is None
    assert set(nosy.attempts.values()) == {"UndeclaredSetting"}
    for name in FORBIDDEN:
        assert name not in settings
        with pytest.raises(UndeclaredSetting, match=f"{name}.*register_settings"):
            settings.get(name)
    assert "REPLAY_GUARD" not in settings
    # nothing undeclared is reachable from what the hook received, and repr shows no value
    texts = reachable_text((settings, nosy.services))
    for value in (SECRET_KEY, ALIPAY_KEY, "db-password", "2021000000000001"):
        assert not any(value in text for text in texts), value
    assert APIV3_KEY not in repr(settings) and "WECHAT_APIV3_KEY" in repr(settings)
    assert dict(quiet.settings) == {}
    with pytest.raises(UndeclaredSetting):
        quiet.settings["WECHAT_MCHID"]


def test_the_registry_for_plugin_tests_hands_out_the_same_per_plugin_settings():
    nosy, quiet = NosyWechat(), Quiet()
    registry = ChannelRegistry.from_plugins(manager(("nosy", nosy), ("quiet", quiet)), CONFIG)
    assert registry.ids() == ["nosy", "quiet"]
    assert set(nosy.settings) == {"WECHAT_MCHID", "WECHAT_APIV3_KEY", "WECHAT_TIMEOUT"}
    assert isinstance(nosy.services.replay_guard, MemoryReplayGuard)
    assert len(quiet.settings) == 0


class Greedy:
    """Reads a key it never declared with .get(): broken at start-up, with the key named."""

    @hookimpl
    def register_settings(self):
        return [Setting("GREEDY_URL", "url")]

    @hookimpl
    def register_payout_channels(self, settings):
        settings.get("SECRET_KEY")
        return [Channel("greedy")]


def test_reading_an_undeclared_key_breaks_the_plugin_at_start_up():
    pm = manager(("greedy", Greedy()))
    infos = plugin_infos(pm)
    registry = check_channels(pm, CONFIG, infos, ChannelServices())
    assert "greedy" not in registry
    assert infos["greedy"].status == BROKEN
    [problem] = infos["greedy"].problems
    assert "SECRET_KEY" in problem and "register_settings" in problem
    assert SECRET_KEY not in problem


def test_the_app_passes_the_replay_guard_and_dev_keys_dir_as_services(
    tmp_path, redis_url, monkeypatch
):
    from portal import create_app

    nosy = NosyWechat()
    pm = manager(("nosy", nosy))
    cfg = base_config(tmp_path, f"sqlite:///{tmp_path}/x.sqlite3", redis_url)
    cfg.update(
        CONFIG, PLUGIN_MANAGER=pm, DEV_KEYS_DIR=str(tmp_path / "keys"), SECRET_KEY=SECRET_KEY
    )
    app = create_app(cfg)
    assert set(nosy.settings) == {"WECHAT_MCHID", "WECHAT_APIV3_KEY", "WECHAT_TIMEOUT"}
    assert nosy.services.dev_keys_dir == str(tmp_path / "keys")
    guard = nosy.services.replay_guard
    assert guard.first_seen("t", "nonce-1", 60) and not guard.first_seen("t", "nonce-1", 60)
    assert set(nosy.attempts.values()) == {"UndeclaredSetting"}
    # the Redis-backed guard holds its own client, not the app (whose config has the secrets)
    texts = reachable_text((nosy.settings, nosy.services))
    for value in (SECRET_KEY, ALIPAY_KEY, "db-password"):
        assert not any(value in text for text in texts), value
    assert not any(isinstance(x, type(app)) for x in _reachable_objects(nosy.services))


class NosyNotifier:
    def __init__(self):
        self.got: list[tuple[NoticeMessage, dict]] = []

    @hookimpl
    def register_settings(self):
        return [Setting("SMS_API_KEY", "SMS key", secret=True)]

    @hookimpl
    def send_notice(self, notice, settings):
        with pytest.raises(UndeclaredSetting):
            settings["SECRET_KEY"]
        self.got.append((notice, dict(settings)))


def test_a_notifier_gets_a_typed_notice_and_only_its_own_settings(app, clock):
    app.config.update(SMS_API_KEY="sms-key", ALIPAY_APP_PRIVATE_KEY=ALIPAY_KEY)
    notifier = NosyNotifier()
    pm = app.extensions["portal.plugins.manager"]
    pm.register(notifier, name="sms")
    try:
        case = rejected_case(clock)
        notice = db.session.scalars(select(Notice).where(Notice.audience == "buyer")).one()
        assert delivery.deliver(notice.id) == "delivered"
    finally:
        pm.unregister(name="sms")
    [(message, settings)] = notifier.got
    assert isinstance(message, NoticeMessage)
    assert message.case_no == case.case_no and message.audience == "buyer" and message.text
    assert settings == {"SMS_API_KEY": "sms-key"}
    with pytest.raises(AttributeError):
        message.text = "changed"  # frozen: one notifier cannot alter what the next one sends
