"""docs/plugins.md documents every hook, channel method and contract field; every hook has a test.

Modelled on Datasette's test_plugin_hooks_are_documented / _have_tests. Also: no documented
method is one the core never calls, the docs link to nothing outside the repository, and
their code examples compile and import only what exists.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

from portal.plugins import channels, hookspecs, notices, risk_signals, settings, suppliers

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
HOOKS = sorted(n for n, f in vars(hookspecs).items() if hasattr(f, "refund_portal_spec"))
CONTRACT_CLASSES = [
    channels.PayoutChannel,
    channels.BatchExporter,
    channels.StatementImporter,
    channels.AbnormalRedirector,
    channels.ConnectionChecker,
    channels.KeyRefresher,
    channels.BillProvider,
]
METHODS = sorted(
    n
    for cls in CONTRACT_CLASSES
    for n, v in vars(cls).items()
    if callable(v) and not n.startswith("_")
)
TYPES = [
    channels.PaymentRef,
    channels.RefundRequest,
    channels.RefundResult,
    channels.Notification,
    channels.NotificationReply,
    channels.StatementLine,
    channels.ArrivalWindow,
    channels.BatchFormat,
    channels.AbnormalRedirect,
    channels.ChannelServices,
    notices.NoticeMessage,
    suppliers.SupplierQuery,
    suppliers.RedemptionAnswer,
    risk_signals.RiskApplication,
    risk_signals.PluginSignal,
]
CODE_BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC, flags=re.MULTILINE | re.DOTALL)


def headings(level: str) -> set[str]:
    return set(re.findall(rf"^{level} (\w+)\(", DOC, flags=re.MULTILINE))


def test_there_are_hooks_and_methods_to_check():
    assert {"register_payout_channels", "send_notice", "register_settings"} <= set(HOOKS)
    assert {"arrival", "execute_refund", "query_refund", "parse_notification"} <= set(METHODS)
    assert {"batch_formats", "export_batch", "reconcile_statement"} <= set(METHODS)
    assert len(CODE_BLOCKS) >= 5


def test_documented_methods_exist():
    documented = headings("####")
    assert documented, "no '#### method(...)' headings found"
    assert documented <= set(METHODS), (
        f"documented but not in the contract: {documented - set(METHODS)}"
    )


@pytest.mark.parametrize("method", METHODS)
def test_the_core_calls_every_channel_method(method):
    """No method in the contract that the core never calls (as supports_refund once was)."""
    contract = {ROOT / "portal/plugins/channels.py", ROOT / "portal/plugins/conformance.py"}
    callers = [
        path
        for folder in ("portal", "jobs")
        for path in (ROOT / folder).rglob("*.py")
        if path not in contract and f".{method}(" in path.read_text("utf-8")
    ]
    assert callers, f"nothing in portal/ or jobs/ calls {method}(): drop it from the contract"


def test_hooks_are_typed_with_the_contracts_own_types():
    for name in HOOKS:
        hints = inspect.get_annotations(getattr(hookspecs, name), eval_str=True)
        assert "return" in hints, name
        for value in hints.values():
            assert "Any" not in repr(value), f"{name}: {value!r} is not a contract type"
    assert inspect.get_annotations(hookspecs.register_payout_channels, eval_str=True) == {
        "settings": settings.PluginSettings,
        "services": channels.ChannelServices,
        "return": hookspecs.Sequence[channels.PayoutChannel],
    }


def test_the_docs_are_self_contained():
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = doc.read_text("utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)", text) + re.findall(r"`(\.\./[^`]+)`", text):
            if "://" in target:
                continue
            resolved = (doc.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), (
                f"{doc.name} points outside the repository: {target}"
            )
            assert resolved.exists(), f"{doc.name} links to a missing file: {target}"


@pytest.mark.parametrize("block", range(len(CODE_BLOCKS)))
def test_code_examples_compile_and_import_what_exists(block):
    tree = ast.parse(CODE_BLOCKS[block])  # a SyntaxError fails the test
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == "portal"
        ):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"


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
