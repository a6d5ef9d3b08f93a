"""The reconciliation bench: its bill carries exactly the faults it claims, its verdicts can
say MISSED, and a small run on PostgreSQL (skipped when there is none) measures both ways,
finds every fault by both, and writes its figures; a product that misses a fault fails it."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from bench import reconcile
from bench.tests.test_scale import _postgres_answers
from portal.domain.reconciliation import day_bounds

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/refund_portal_recon_test"


@pytest.mark.parametrize("size", [400, 1000, 100_000])
def test_the_bill_carries_each_fault_as_many_times_as_it_says(size):
    rows = list(reconcile.bill(size, lambda *r: r))
    numbers = Counter(no for no, *_ in rows)
    ours = {reconcile.key(size, i) for i in range(size)}
    faults = Counter(reconcile.fault(size, i) for i in range(size))
    assert faults == {
        None: size - 4 * reconcile.FAULTS,
        **dict.fromkeys(reconcile.FAULT_OF.values(), reconcile.FAULTS),
    }
    assert sum(1 for n in numbers.values() if n > 1) == reconcile.FAULTS  # twice
    assert len(ours - set(numbers)) == reconcile.FAULTS  # dropped
    assert len(set(numbers) - ours) == reconcile.FAULTS  # strangers
    assert len(rows) == size + reconcile.FAULTS  # a row dropped for each doubled; strangers
    start, end = day_bounds(reconcile.DAY)
    assert all(start <= at < end for *_, at in rows)
    assert all(start <= reconcile.settled(i) < end for i in range(0, size, 97))
    day_before = [i for i in range(size) if reconcile.fault(size, i) == "day_before"]
    assert all(reconcile.settled(i) - timedelta(days=1) < start for i in day_before)


def test_the_verdicts_can_say_missed():
    run = reconcile.Run(args={}, load_start=(0.0, 0.0, 0.0))
    run.product_s = {10: [4.0, 3.0, 5.0]}
    run.floor_s = {10: [1.0, 2.0, 1.5]}
    assert run.speed(10) == pytest.approx(0.375)  # below the goal
    run.product_peak_mb = {10: 2.0, 100: 4.0}
    assert run.flat() == 2.0  # above the goal
    run.found = {10: reconcile.expected(10)}
    run.floor_found = {10: {**reconcile.expected(10), "duplicate": 49}}
    assert not run.right(10)


@pytest.mark.slow
def test_a_small_run_finds_every_fault_both_ways(tmp_path, redis_url):
    reason = _postgres_answers()
    if reason:
        pytest.skip(reason)
    argv = ["--sizes", "400,4000", "--rounds", "1", "--database-url", URL]
    run = reconcile.run(reconcile.parse([*argv, "--redis-url", redis_url, "--out", str(tmp_path)]))
    for size in (400, 4000):
        assert run.found[size] == run.floor_found[size] == reconcile.expected(size)
        assert run.right(size)
        assert 0 < min(run.product_s[size]) and 0 < min(run.floor_s[size])
        assert run.product_peak_mb[size] > 0 and run.floor_peak_mb[size] > 0
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["command"].startswith("python -m bench reconcile --sizes 400,4000")
    assert "load average" in (tmp_path / "output.txt").read_text()


@pytest.mark.slow
def test_a_product_that_misses_a_duplicate_fails_the_bench(tmp_path, redis_url, monkeypatch):
    reason = _postgres_answers()
    if reason:
        pytest.skip(reason)
    from portal.services.reconciliation import staged

    real = staged.candidates

    def blind(channel_id, day, basis):  # the join's duplicates lost
        found = real(channel_id, day, basis)
        found.beside[:] = [(s, o) for s, o in found.beside if s.count == 1]
        return found

    monkeypatch.setattr(staged, "candidates", blind)
    url = URL.replace("recon_test", "recon_blind_test")  # its own: the slow tests run in parallel
    argv = ["--sizes", "400", "--rounds", "1", "--database-url", url]
    assert reconcile.main([*argv, "--redis-url", redis_url, "--out", str(tmp_path)]) == 1
