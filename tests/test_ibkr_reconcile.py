"""Reconciliation of the local book with Interactive Brokers' positions and cash (pure values)."""
from __future__ import annotations

import math

import pytest
from ib_async import AccountValue

from engine.execution.ibkr_reconcile import BrokerPosition, cash_from_account_values, reconcile
from engine.execution.orders import Fill, Side
from engine.portfolio.portfolio import Portfolio

ACCOUNT = "DU123"


def local_book(cash: float, *fills: Fill) -> Portfolio:
    portfolio = Portfolio(cash)
    for fill in fills:
        portfolio.apply_fill(fill)
    return portfolio


def test_reconciliation_reports_position_and_cash_differences():
    local = local_book(10_000.0, Fill("x", "QQQ", Side.BUY, 10.0, 100.0, 1.0, 0.0, 1)).snapshot()
    check = reconcile(local, [BrokerPosition("QQQ", 12.0, 99.0), BrokerPosition("SPY", -3.0, 500.0)],
                      8_700.0, ts=5, account=ACCOUNT)
    assert [(d.symbol, d.local_qty, d.broker_qty, d.delta) for d in check.positions] == [
        ("QQQ", 10.0, 12.0, 2.0), ("SPY", 0.0, -3.0, -3.0)]
    assert check.local_cash == pytest.approx(10_000.0 - 1_000.0 - 1.0)
    assert check.cash_difference == pytest.approx(8_700.0 - 8_999.0)
    assert not check.cash_matches and not check.matches
    assert check.target_positions() == {"QQQ": 12.0, "SPY": -3.0} and check.target_cash() == 8_700.0


def test_reconciliation_lists_local_positions_ib_does_not_hold():
    local = local_book(10_000.0, Fill("x", "QQQ", Side.BUY, 10.0, 100.0, 0.0, 0.0, 1)).snapshot()
    check = reconcile(local, [], 9_000.0, ts=5)
    assert [(d.symbol, d.broker_qty) for d in check.positions] == [("QQQ", 0.0)]
    assert math.isnan(check.positions[0].broker_avg_cost)
    assert check.cash_matches and not check.matches


def test_reconciliation_matches_within_the_cash_tolerance():
    local = local_book(10_000.0, Fill("x", "QQQ", Side.BUY, 10.0, 100.0, 0.0, 0.0, 1)).snapshot()
    assert reconcile(local, [BrokerPosition("QQQ", 10.0, 100.0)], 9_000.004, ts=5).matches
    assert not reconcile(local, [BrokerPosition("QQQ", 10.0, 100.0)], 9_000.02, ts=5).matches
    assert not reconcile(local, [BrokerPosition("QQQ", 10.0, 100.0)], None, ts=5).matches


def test_adopting_ib_gives_a_book_with_ibs_positions_and_cash():
    book = local_book(10_000.0, Fill("x", "QQQ", Side.BUY, 10.0, 100.0, 1.0, 0.0, 1),
                      Fill("y", "IWM", Side.BUY, 5.0, 200.0, 0.0, 0.0, 1))
    book.mark(1, "QQQ", 101.0)
    check = reconcile(book.snapshot(), [BrokerPosition("QQQ", 10.0, 100.1), BrokerPosition("SPY", -3.0, 500.0)],
                      9_500.0, ts=7)
    adopted = check.adopt(book.snapshot())
    restored = Portfolio(1.0)
    restored.restore(adopted)
    assert restored.cash == 9_500.0
    assert {p.symbol: p.qty for p in restored.positions()} == {"QQQ": 10.0, "SPY": -3.0}
    qqq = next(p for p in adopted.positions if p.symbol == "QQQ")
    assert (qqq.avg_price, qqq.entry_fees) == (100.0, 1.0)           # agreed: local history kept
    spy = next(p for p in adopted.positions if p.symbol == "SPY")
    assert (spy.avg_price, spy.last_price, spy.entry_ts) == (500.0, 500.0, 7)
    assert restored.equity == pytest.approx(9_500.0 + 10 * 101.0 - 3 * 500.0)
    assert reconcile(adopted, check.broker_positions, 9_500.0, ts=8).matches


def test_adopting_into_a_fresh_book_starts_it_at_ibs_equity():
    fresh = Portfolio(100_000.0).snapshot()
    adopted = reconcile(fresh, [BrokerPosition("QQQ", 10.0, 400.0)], 30_000.0, ts=1).adopt(fresh)
    assert adopted.initial_cash == adopted.peak_equity == adopted.equity == pytest.approx(34_000.0)
    assert adopted.drawdown == 0.0


def test_cash_is_read_from_total_cash_value_in_the_account_currency():
    values = [AccountValue(ACCOUNT, "NetLiquidation", "1", "USD", ""),
              AccountValue(ACCOUNT, "TotalCashValue", "7.5", "BASE", ""),
              AccountValue("OTHER", "TotalCashValue", "99", "USD", ""),
              AccountValue(ACCOUNT, "TotalCashValue", "5.25", "USD", "")]
    assert cash_from_account_values(values, ACCOUNT, "USD") == 5.25
    assert cash_from_account_values(values, ACCOUNT, "EUR") == 7.5      # falls back to BASE
    assert cash_from_account_values(values[:1], ACCOUNT, "USD") is None
    with pytest.raises(ValueError, match="TotalCashValue .USD. = 'n/a'"):
        cash_from_account_values([AccountValue(ACCOUNT, "TotalCashValue", "n/a", "USD", "")], ACCOUNT, "USD")
