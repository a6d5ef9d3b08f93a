"""Hashing and checking query passwords and staff passwords (Argon2id).

A stored hash is verified in a web worker only when its Argon2 cost is within the bound
(``stored_hash_problem``): the bound on hashes a shop sends, or the portal's own configured
cost if that is higher. Rows written before the bound existed, or edited in the database, can
hold any cost (``m=4194304,t=4294967295`` would keep a worker busy for hours); such a hash is
never verified: the check fails (costing what a miss costs), and the log says which row and
how to fix it (``refund-portal password-hashes`` lists them all).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from portal.infra.heap import release_free_heap
from portal.services import context

log = logging.getLogger(__name__)
_DUMMY: dict[tuple[int, int], str] = {}

#: the bound on an Argon2 hash from outside (the pattern below spells the same numbers)
FOREIGN_MAX_MEMORY_KIB = 65536
FOREIGN_MAX_TIME_COST = 3
FOREIGN_MAX_PARALLELISM = 4

#: Argon2 hashes made elsewhere (a shop sends them), costs bounded: each lookup verifies one
#: in a web worker, so its cost is ours. m 32..65536 KiB, t 1..3, p 1..4 (the upper ends are
#: RFC 9106's lower-memory profile; m >= 32 keeps m >= 8p), salt 8..64 and hash 16..64 bytes.
#: The API document carries this same pattern, so the check cannot drift from it.
FOREIGN_ARGON2_PATTERN = (
    r"^\$argon2(id|i|d)\$v=19"
    r"\$m=(3[2-9]|[4-9][0-9]|[1-9][0-9]{2,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}"
    r"|655[0-2][0-9]|6553[0-6]),t=[1-3],p=[1-4]"
    r"\$[A-Za-z0-9+/]{11,86}\$[A-Za-z0-9+/]{22,86}$"
)
_FOREIGN = re.compile(FOREIGN_ARGON2_PATTERN)


def foreign_hash_problem(encoded: str) -> str | None:
    """Why an Argon2 hash from outside is refused (malformed, or costs out of bounds), or None."""
    if _FOREIGN.match(encoded) and not encoded.endswith("\n"):
        return None
    return (
        "give an Argon2 hash $argon2id$v=19$m=…,t=…,p=…$salt$hash with m 32..65536, t 1..3, p 1..4"
    )


def verify_bound() -> tuple[int, int, int]:
    """The most (memory KiB, time cost, parallelism) a stored hash may ask of a web worker:
    the bound on hashes from outside, or the portal's own cost where that is higher."""
    hasher = _hasher()
    return (
        max(FOREIGN_MAX_MEMORY_KIB, hasher.memory_cost),
        max(FOREIGN_MAX_TIME_COST, hasher.time_cost),
        max(FOREIGN_MAX_PARALLELISM, hasher.parallelism),
    )


def stored_hash_problem(encoded: str) -> str | None:
    """Why a stored hash must not be verified here (its cost is over the bound), or None.

    Reading the parameters costs nothing; a hash that cannot be parsed is left to ``verify``,
    which refuses it as quickly."""
    try:
        params = extract_parameters(encoded)
    except (InvalidHashError, ValueError):
        return None
    m, t, p = verify_bound()
    if params.memory_cost > m or params.time_cost > t or params.parallelism > p:
        return (
            f"its Argon2 cost m={params.memory_cost},t={params.time_cost},p={params.parallelism}"
            f" is over the bound m<={m},t<={t},p<={p}"
        )
    return None


def _hasher() -> PasswordHasher:
    return PasswordHasher(
        time_cost=int(context.setting("ARGON2_TIME_COST")),
        memory_cost=int(context.setting("ARGON2_MEMORY_COST")),
    )


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    try:
        return _hasher().hash(password)
    finally:
        release_free_heap()  # Argon2's working memory, not kept by the worker


def order_fix(order_no: str, merchant_slug: str) -> str:
    """What the operator runs to replace an order's query-password hash."""
    return (
        f"Set a new query password with `refund-portal set-query-password {order_no} "
        f"--merchant {merchant_slug}` and tell the buyer; `refund-portal password-hashes` "
        "lists every such row"
    )


def staff_fix(username: str) -> str:
    """What the operator runs to replace a staff login's password hash."""
    return (
        f"Give it a new password with `refund-portal set-password {username}`; "
        "`refund-portal password-hashes` lists every such row"
    )


def check_password(
    stored_hash: str | None,
    password: str,
    owner: Callable[[], tuple[str, str]] | None = None,
) -> bool:
    """Whether ``password`` matches; takes as long when there is no stored hash, or one whose
    cost is over the bound: that one is never verified, and the warning names the row and
    the fix (``owner()`` gives both, and is called only then)."""
    hasher = _hasher()
    problem = stored_hash_problem(stored_hash) if stored_hash is not None else None
    if problem:
        who, fix = owner() if owner else ("a stored row", "")
        log.warning("password hash of %s not verified, the check fails: %s. %s", who, problem, fix)
        stored_hash = None
    if stored_hash is None:
        key = (hasher.time_cost, hasher.memory_cost)
        if key not in _DUMMY:
            _DUMMY[key] = hasher.hash("not-a-password")
        stored_hash = _DUMMY[key]
        password = password + "\0"
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    finally:
        release_free_heap()  # Argon2's working memory, not kept by the worker
