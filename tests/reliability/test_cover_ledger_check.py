"""The cover ledger's verdicts (tests/support/cover_ledger.py) on hand-made records: it must
catch a lost or double-counted order, a version gap and two totals for one version, or the
kill -9 scenario's cover check proves nothing."""

from __future__ import annotations

from tests.support.cover_ledger import CoverLedger, _versions

KEY = ("p", "w1", "2026-05-30")


def verdict(found: dict, expected: dict) -> list[str]:
    ledger = CoverLedger(day_keys=1)
    _versions(found, expected, "worker-day", ledger)
    return ledger.problems


def test_exact_totals_with_a_resent_version_pass():
    assert verdict({KEY: {1: {(2, 8)}, 2: {(3, 12)}}}, {KEY: (3, 12)}) == []


def test_each_fault_is_caught():
    assert verdict({KEY: {1: {(2, 8)}}}, {KEY: (3, 12)})  # an order lost
    assert verdict({KEY: {1: {(4, 16)}}}, {KEY: (3, 12)})  # an order counted twice
    assert verdict({KEY: {1: {(2, 8)}, 3: {(3, 12)}}}, {KEY: (3, 12)})  # version 2 missing
    assert verdict({KEY: {1: {(2, 8), (3, 12)}}}, {KEY: (3, 12)})  # one version, two totals
    assert verdict({}, {KEY: (3, 12)})  # never emitted
    assert verdict({KEY: {1: {(1, 4)}}}, {})  # a day no accepted order makes
