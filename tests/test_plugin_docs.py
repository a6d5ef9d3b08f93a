"""docs/plugins.md documents every hook, channel method and contract field; every hook has a test.

Modelled on Datasette's test_plugin_hooks_are_documented / _have_tests.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from portal.plugins import channels, hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
HOOKS = sorted(n for n, f in vars(hookspecs).items() if hasattr(f, "refund_portal_spec"))
METHODS = sorted(
    n for n, v in vars(channels.PayoutChannel).items() if callable(v) and not n.startswith("_")
)
TYPES = [
    channels.PaymentRef,
    channels.RefundRequest,
    channels.RefundResult,
    channels.Notification,
    channels.NotificationReply,
    channels.StatementLine,
    channels.ArrivalWindow,
]


def headings(level: str) -> set[str]:
    return set(re.findall(rf"^{level} (\w+)\(", DOC, flags=re.MULTILINE))


def test_there_are_hooks_and_methods_to_check():
    assert {"register_payout_channels", "send_notice", "register_settings"} <= set(HOOKS)
    assert {"arrival", "execute_refund", "query_refund", "parse_notification"} <= set(METHODS)


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_are_documented(hook):
    assert hook in headings("###"), f"docs/plugins.md needs a '### {hook}(...)' section"


@pytest.mark.parametrize("method", METHODS)
def test_channel_methods_are_documented(method):
    assert method in headings("####"), f"docs/plugins.md needs a '#### {method}(...)' section"


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
def test_contract_types_and_fields_are_documented(cls):
    assert f"### {cls.__name__}" in DOC
    for field in dataclasses.fields(cls):
        assert f"`{field.name}`" in DOC, f"{cls.__name__}.{field.name} is not documented"


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_have_tests(hook):
    defined = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_hook_\w+)\(", path.read_text("utf-8"), re.M))
    assert f"test_hook_{hook}" in defined, f"write tests/…::test_hook_{hook}"
