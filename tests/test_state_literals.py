"""Every state set is an enum in ``portal/domain/``, the only place that spells its values.

A static check over ``portal/`` (domain and migrations excepted), ``jobs/``, ``bench/`` and the
templates: a string literal equal to a state value fails the test when it stands where a state
is meant. That is: compared with something named ``...state...`` (or a case's ``actions``),
passed to ``.in_()`` of a state column, assigned to a state, given as a ``state=``/``frm=``/
``to=`` argument, in a ``selectattr('state', ...)`` filter, or gathered with other values of
the same enum into a tuple, list, set or dict. The same words elsewhere (an event kind such as
``applied``, a translated ``_("returned")``, RQ's job status ``failed``) are not states.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes

from portal.domain.freeze_states import FreezeState
from portal.domain.offer_states import OfferState
from portal.domain.payout_states import PayoutState
from portal.domain.privacy import RequestState
from portal.domain.reconciliation import DifferenceState, RunStatus
from portal.domain.states import State
from portal.domain.ticket_states import TicketState

ROOT = Path(__file__).resolve().parents[1]
ENUMS = (
    State,
    PayoutState,
    FreezeState,
    OfferState,
    TicketState,
    DifferenceState,
    RunStatus,
    RequestState,
)
VALUE_SETS = [frozenset(str(m) for m in e) for e in ENUMS]
VALUES = frozenset().union(*VALUE_SETS)
#: keyword arguments that carry a state
STATE_KEYWORDS = {"state", "frm", "to", "from_state", "to_state", "new_state"}
SCANNED = ("portal", "jobs", "bench")
EXEMPT = ("portal/domain/", "portal/migrations/")


def _names_state(name: str) -> bool:
    return "state" in name.lower() or name == "actions"


def _one_enums_values(values: list[object]) -> bool:
    """At least two strings, all values of one state enum."""
    return (
        len(values) >= 2
        and all(isinstance(v, str) for v in values)
        and any(set(values) <= s for s in VALUE_SETS)
    )


# --- Python -----------------------------------------------------------------------------------


def _py_mentions_state(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and _names_state(sub.id):
            return True
        if isinstance(sub, ast.Attribute) and _names_state(sub.attr):
            return True
    return False


def _py_literals(node: ast.AST) -> Iterator[ast.Constant]:
    """The state literals ``node`` is, or directly holds (tuple, list, set)."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    for item in items:
        if isinstance(item, ast.Constant) and item.value in VALUES:
            yield item


def _py_all_literals(node: ast.AST) -> Iterator[ast.Constant]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in VALUES:
            yield sub


def python_offences(source: str) -> list[tuple[int, str]]:
    """(line, value) of each state literal standing where a state is meant."""
    found: set[tuple[int, str]] = set()

    def flag(nodes_: Iterator[ast.Constant]) -> None:
        found.update((c.lineno, c.value) for c in nodes_)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, operand in enumerate(operands):
                others = operands[:i] + operands[i + 1 :]
                if any(_py_mentions_state(o) for o in others):
                    flag(_py_literals(operand))
        elif isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("in_", "not_in")
                and _py_mentions_state(func.value)
            ):
                for arg in node.args:
                    flag(_py_literals(arg))
            for kw in node.keywords:
                if kw.arg in STATE_KEYWORDS:
                    flag(_py_all_literals(kw.value))
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None and any(_py_mentions_state(t) for t in targets):
                flag(_py_all_literals(node.value))
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            values = [e.value if isinstance(e, ast.Constant) else e for e in node.elts]
            if _one_enums_values(values):
                flag(_py_literals(node))
        elif isinstance(node, ast.Dict):
            for part in (node.keys, node.values):
                values = [e.value if isinstance(e, ast.Constant) else e for e in part]
                if _one_enums_values(values):
                    flag(c for c in part if isinstance(c, ast.Constant))
    return sorted(found)


# --- templates --------------------------------------------------------------------------------

_JINJA = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)


def _jinja_mentions_state(node: nodes.Node) -> bool:
    for sub in [node, *node.find_all((nodes.Name, nodes.Getattr))]:
        if isinstance(sub, nodes.Name) and _names_state(sub.name):
            return True
        if isinstance(sub, nodes.Getattr) and _names_state(sub.attr):
            return True
    return False


def _jinja_literals(node: nodes.Node) -> Iterator[nodes.Const]:
    items = node.items if isinstance(node, (nodes.Tuple, nodes.List)) else [node]
    for item in items:
        if isinstance(item, nodes.Const) and item.value in VALUES:
            yield item


def template_offences(source: str) -> list[tuple[int, str]]:
    """(line, value) of each state literal a template compares a state with."""
    found: set[tuple[int, str]] = set()
    tree = _JINJA.parse(source)
    for node in tree.find_all(nodes.Compare):
        operands = [node.expr, *(op.expr for op in node.ops)]
        for i, operand in enumerate(operands):
            others = operands[:i] + operands[i + 1 :]
            if any(_jinja_mentions_state(o) for o in others):
                found.update((c.lineno, c.value) for c in _jinja_literals(operand))
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        args = node.args
        if (
            node.name in ("selectattr", "rejectattr")
            and args
            and isinstance(args[0], nodes.Const)
            and _names_state(str(args[0].value))
        ):
            for arg in args[1:]:
                found.update((c.lineno, c.value) for c in _jinja_literals(arg))
    for node in tree.find_all((nodes.Tuple, nodes.List)):
        values = [i.value if isinstance(i, nodes.Const) else i for i in node.items]
        if _one_enums_values(values):
            found.update((c.lineno, c.value) for c in _jinja_literals(node))
    return sorted(found)


# --- the check, and the checker's own cases ----------------------------------------------------


def _python_files() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if not rel.startswith(EXEMPT):
                yield path


def test_no_module_outside_the_domain_spells_a_state():
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in _python_files()
        for line, value in python_offences(path.read_text(encoding="utf-8"))
    ]
    assert not offences, "use the enum or a named group from portal/domain/:\n" + "\n".join(
        offences
    )


def test_no_template_spells_a_state():
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in sorted((ROOT / "portal/templates").rglob("*.html"))
        for line, value in template_offences(path.read_text(encoding="utf-8"))
    ]
    assert not offences, "compare with State/PayoutState/... or a group:\n" + "\n".join(offences)


def test_the_scan_covers_the_code_that_changes_states():
    scanned = {p.relative_to(ROOT).as_posix() for p in _python_files()}
    for must in (
        "portal/services/money/settlement.py",
        "portal/services/refunds/tickets.py",
        "portal/views/payouts.py",
        "portal/models.py",
        "jobs/settlement.py",
        "bench/settlement.py",
    ):
        assert must in scanned


@pytest.mark.parametrize(
    "source",
    [
        'PAYOUT_COMMITTED = ("created", "pending", "unknown", "succeeded")',
        'q.where(Payout.state.in_(("created", "pending")))',
        'q.where(Payout.state == "pending")',
        'done = seen.state in ("succeeded", "failed")',
        'if new_state == "returned": pass',
        'ticket.state = "open" if buyer else "answered"',
        'row.state, row.ended_at = "released", now',
        'state: Mapped[str] = mapped_column(String(20), default="frozen")',
        'Payout(state="created")',
        'update(Offer).values(state="countered")',
        'LABELS = {"open": "x", "accepted": "y", "countered": "z"}',
        'STATES = ["submitted", "under_review"]',
        "write_result(seen, new_state='succeeded')",
    ],
)
def test_the_python_check_finds(source):
    assert python_offences(source), source


@pytest.mark.parametrize(
    "source",
    [
        'record("applied", actor, case=case)',  # an event kind
        'return "applied" if ok else "duplicate"',  # a callback's outcome
        'if outcome in ("applied", "duplicate"): pass',
        'data = {"lines": 3, "applied": 2, "unmatched": 1}',
        'THREAD_KINDS = ("message", "offer", "offer_accepted", "transition", "applied")',
        "q.where(Payout.state == PayoutState.PENDING)",
        'N_("returned")',
    ],
)
def test_the_python_check_lets_other_words_be(source):
    assert python_offences(source) == [], source


@pytest.mark.parametrize(
    "source",
    [
        "{% if p.state == 'succeeded' %}x{% endif %}",
        "{% if case.state in ('submitted', 'under_review') %}x{% endif %}",
        "{% if 'approved' in actions %}x{% endif %}",
        "{% if payouts|selectattr('state', 'in', ['created','pending'])|list %}x{% endif %}",
        "{{ 'late' if p.state not in ('succeeded',) else '' }}",
        "{% set waiting = ('created', 'pending', 'unknown') %}",
    ],
)
def test_the_template_check_finds(source):
    assert template_offences(source), source


@pytest.mark.parametrize(
    "source",
    [
        "{% if status == 'failed' %}x{% endif %}",  # RQ's job status
        "{{ _('returned') }}",
        "{% if p.state == PayoutState.SUCCEEDED %}x{% endif %}",
        "{% if case.state in case_states.REVIEW_QUEUE_STATES %}x{% endif %}",
        "{% if e.kind == 'applied' %}x{% endif %}",
    ],
)
def test_the_template_check_lets_other_words_be(source):
    assert template_offences(source) == [], source
