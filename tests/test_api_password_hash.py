"""Query-password hashes a shop sends are Argon2 with bounded costs: a hash that would make
every buyer lookup burn minutes of CPU (or memory) is refused with a 422 on the way in."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from portal.services.accounts.passwords import foreign_hash_problem
from tests.api_helpers import order_body, shop

SALT, DIGEST = "c2FsdHNhbHRzYWx0c2FsdA", "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"


def _h(params: str, salt: str = SALT, digest: str = DIGEST, kind: str = "argon2id") -> str:
    return f"${kind}$v=19${params}${salt}${digest}"


HOSTILE = [
    _h("m=4194304,t=4294967295,p=1"),  # the reported one
    _h("m=4194304,t=1,p=1"),
    _h("m=65536,t=100,p=1"),
    _h("m=65537,t=1,p=1"),
    _h("m=19456,t=0,p=1"),
    _h("m=19456,t=2,p=0"),
    _h("m=19456,t=2,p=255"),
    _h("m=7,t=2,p=1"),
    _h("m=19456,t=2,p=1", salt="c2E"),  # 2-byte salt
    _h("m=19456,t=2,p=1", digest="aGFzaA"),  # 4-byte hash
    _h("m=19456,t=2,p=1", salt="c" * 200),
    "$argon2id$v=16$m=19456,t=2,p=1$" + SALT + "$" + DIGEST,
    "$argon2id$v=19$m=19456,t=2$" + SALT + "$" + DIGEST,
    "$argon2id$v=19$m=019456,t=2,p=1,p=1$" + SALT + "$" + DIGEST,
    "$2b$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
    "",
]


@pytest.mark.parametrize("encoded", HOSTILE)
def test_hostile_hashes_are_refused_with_a_422(app, client, encoded):
    s, _ = shop(client)
    body = order_body("PWH1")
    del body["query_password"]
    body["query_password_hash"] = encoded
    r = s.post("/orders", body)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["errors"][0]["field"] == "query_password_hash"
    assert s.get("/orders/PWH1").status_code == 404  # nothing written


@pytest.mark.parametrize("encoded", HOSTILE)
def test_the_one_check_names_the_problem(encoded):
    assert foreign_hash_problem(encoded)


def test_a_bounded_hash_is_accepted_and_verifies(app, client):
    s, _ = shop(client)
    body = order_body("PWH2")
    del body["query_password"]
    body["query_password_hash"] = PasswordHasher(time_cost=3, memory_cost=65536).hash("pw-5678")
    assert s.post("/orders", body).status_code == 201
    from portal.services.integration import orders

    assert orders.lookup("PWH2", body["buyer_contact"], "pw-5678").order_no == "PWH2"


def test_the_portals_own_hashes_pass_the_check(app):
    from portal.services.accounts.passwords import hash_password

    assert foreign_hash_problem(hash_password("pass1234")) is None
    assert foreign_hash_problem(PasswordHasher().hash("x")) is None  # argon2-cffi's defaults
