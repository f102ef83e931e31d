"""Portfolio: average-cost positions, realised/unrealised PnL, fees, equity curve, snapshots."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.execution.orders import Fill, Side
from engine.portfolio import Portfolio, PortfolioSnapshot, PositionSide

_ids = iter(range(10**9))


def fill(side: Side, qty: float, price: float, commission: float = 0.0, *, ts: int = 0, symbol: str = "QQQ",
         agent: str = "trend", regime: str = "trend", slippage: float = 0.0) -> Fill:
    return Fill(f"f{next(_ids)}", symbol, side, qty, price, commission, slippage, ts, agent, regime)


BUY, SELL = Side.BUY, Side.SELL


# --- hand-worked examples ----------------------------------------------------------------

def test_buying_twice_averages_the_price_and_pays_cash_and_fees() -> None:
    p = Portfolio(100_000.0)
    assert p.apply_fill(fill(BUY, 100, 10.0, 1.0)) is None
    assert p.apply_fill(fill(BUY, 100, 12.0, 1.0)) is None
    (pos,) = p.positions()
    assert (pos.qty, pos.avg_price, pos.entry_fees) == (200, 11.0, 2.0)   # (100x10 + 100x12) / 200
    assert p.cash == 100_000.0 - 1_000.0 - 1.0 - 1_200.0 - 1.0
    assert p.fees == 2.0


def test_a_partial_sell_realises_pnl_net_of_its_share_of_entry_fees_and_its_exit_fee() -> None:
    p = Portfolio(100_000.0)
    p.apply_fill(fill(BUY, 100, 10.0, 1.0))
    p.apply_fill(fill(BUY, 100, 12.0, 1.0))
    trade = p.apply_fill(fill(SELL, 150, 13.0, 1.5, ts=5))
    assert trade is not None
    # gross (13 - 11) x 150 = 300; fees 150/200 of the 2.00 entry commission + 1.50 exit = 3.00
    assert (trade.side, trade.qty, trade.entry_price, trade.exit_price) == (PositionSide.LONG, 150, 11.0, 13.0)
    assert trade.fees == pytest.approx(3.0)
    assert trade.pnl == pytest.approx(297.0)
    assert p.realised_pnl == pytest.approx(297.0)
    assert p.position("QQQ") == 50
    (pos,) = p.positions()
    assert pos.avg_price == 11.0 and pos.entry_fees == pytest.approx(0.5)


def test_one_fill_flips_long_to_short_closing_one_trade_and_opening_the_rest() -> None:
    p = Portfolio(100_000.0)
    p.apply_fill(fill(BUY, 100, 10.0, 1.0, ts=1, agent="trend", regime="trend"))
    trade = p.apply_fill(fill(SELL, 150, 12.0, 1.5, ts=2, agent="fvg", regime="expansion"))
    assert trade is not None
    # closes 100: gross 200; fees 1.00 entry + 100/150 of 1.50 exit = 2.00
    assert (trade.qty, trade.pnl, trade.fees, trade.agent, trade.entry_ts) == (100, 198.0, 2.0, "trend", 1)
    (pos,) = p.positions()
    # opens 50 short at 12 carrying the other 0.50 of the fill's commission, owned by the flip's agent
    assert (pos.qty, pos.avg_price, pos.entry_ts, pos.agent, pos.regime) == (-50, 12.0, 2, "fvg", "expansion")
    assert pos.entry_fees == pytest.approx(0.5)
    cover = p.apply_fill(fill(BUY, 50, 11.0, 0.5, ts=3))
    assert cover is not None and cover.side is PositionSide.SHORT
    assert cover.pnl == pytest.approx((12.0 - 11.0) * 50 - 0.5 - 0.5)
    assert p.position("QQQ") == 0.0 and p.positions() == ()


def test_a_short_gains_when_the_price_falls() -> None:
    p = Portfolio(100_000.0)
    p.apply_fill(fill(SELL, 100, 20.0))
    assert p.cash == 102_000.0
    p.mark(1, "QQQ", 18.0)
    assert p.unrealised_pnl == pytest.approx(200.0)
    assert p.market_value == pytest.approx(-1_800.0)
    assert p.equity == pytest.approx(100_200.0)
    trade = p.apply_fill(fill(BUY, 100, 18.0))
    assert trade is not None and trade.pnl == pytest.approx(200.0)


def test_slippage_is_tracked_but_not_charged_twice() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill(BUY, 10, 100.1, 0.05, slippage=1.0))     # the 1.00 slippage is inside 100.1
    assert p.cash == pytest.approx(10_000.0 - 1_001.0 - 0.05)
    assert (p.slippage, p.fees) == (1.0, 0.05)


def test_bars_held_counts_the_marks_between_entry_and_exit() -> None:
    p = Portfolio(10_000.0)
    p.mark(0, "QQQ", 10.0)
    p.apply_fill(fill(BUY, 1, 10.0, ts=1))
    for ts in (1, 2, 3):
        p.mark(ts, "QQQ", 10.0)
    trade = p.apply_fill(fill(SELL, 1, 10.0, ts=4))
    assert trade is not None and trade.bars_held == 3


def test_drawdown_is_the_fall_below_the_peak_mark() -> None:
    p = Portfolio(100.0)
    p.apply_fill(fill(BUY, 10, 10.0))
    p.mark(1, "QQQ", 10.0)
    p.mark(2, "QQQ", 11.0)                 # equity 110: the peak
    p.mark(3, "QQQ", 9.9)                  # equity 99
    assert p.peak_equity == pytest.approx(110.0)
    assert p.drawdown == pytest.approx(99.0 / 110.0 - 1.0)
    p.mark(4, "QQQ", 12.0)
    assert p.drawdown == 0.0


def test_the_equity_curve_records_one_point_per_bar_and_grows_without_limit() -> None:
    p = Portfolio(1_000.0)
    p.apply_fill(fill(BUY, 1, 100.0))
    prices = 100.0 + np.arange(5_000) * 0.01
    for i, price in enumerate(prices):
        p.mark(i * 60_000_000_000, "QQQ", float(price))
    curve = p.curve()
    assert np.array_equal(curve.ts, np.arange(5_000, dtype=np.int64) * 60_000_000_000)
    np.testing.assert_allclose(curve.equity, 900.0 + prices)
    assert curve.exposure.dtype == bool and curve.exposure.all()


def test_marks_of_several_symbols_at_one_ts_give_one_curve_point() -> None:
    p = Portfolio(1_000.0)
    p.apply_fill(fill(BUY, 1, 100.0, symbol="A"))
    p.apply_fill(fill(BUY, 2, 50.0, symbol="B"))
    p.mark(7, "A", 110.0)
    p.mark(7, "B", 55.0)
    curve = p.curve()
    assert list(curve.ts) == [7] and list(curve.equity) == [800.0 + 110.0 + 2 * 55.0]   # cash 1000 - 100 - 100


# --- the accounting identities under random fills ----------------------------------------

fills_strategy = st.lists(
    st.tuples(
        st.sampled_from([BUY, SELL]),
        st.floats(0.5, 500.0),                # qty
        st.floats(1.0, 200.0),                # fill price
        st.floats(0.0, 5.0),                  # commission
        st.floats(1.0, 200.0),                # the next mark
    ),
    min_size=1, max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(steps=fills_strategy, close_price=st.floats(1.0, 200.0))
def test_cash_plus_market_value_is_equity_at_every_step(
    steps: list[tuple[Side, float, float, float, float]], close_price: float
) -> None:
    p = Portfolio(1_000_000.0)
    # An independent ledger: cash flows and shares only, no average prices.
    cash, shares, commissions, trade_pnl = 1_000_000.0, 0.0, 0.0, 0.0
    for ts, (side, qty, price, commission, mark) in enumerate(steps):
        trade = p.apply_fill(fill(side, qty, price, commission, ts=ts))
        trade_pnl += trade.pnl if trade else 0.0
        sign = 1 if side is BUY else -1
        cash -= sign * qty * price + commission
        shares += sign * qty
        commissions += commission
        for last in (price, mark):
            if last is mark:
                p.mark(ts, "QQQ", mark)
            scale = 1_000_000.0 + abs(shares) * last
            assert p.cash == pytest.approx(cash, abs=1e-9 * scale)
            assert p.position("QQQ") == pytest.approx(shares, abs=1e-6)
            assert p.equity == pytest.approx(cash + shares * last, abs=1e-9 * scale)
            assert p.equity == pytest.approx(p.initial_cash + p.realised_pnl + p.unrealised_pnl, abs=1e-9 * scale)
    assert p.fees == pytest.approx(commissions)
    assert p.realised_pnl == pytest.approx(trade_pnl)
    # Flatten: everything is realised, and realised PnL is exactly the change in cash.
    held = p.position("QQQ")
    if held != 0.0:
        p.apply_fill(fill(SELL if held > 0 else BUY, abs(held), close_price, 1.0))
        commissions += 1.0
    assert p.positions() == ()
    assert p.realised_pnl == pytest.approx(p.cash - 1_000_000.0, abs=1e-6 * (1 + abs(p.cash)))
    assert p.fees == pytest.approx(commissions)


# --- snapshot and restore ----------------------------------------------------------------

def test_a_restored_portfolio_continues_exactly_like_the_original() -> None:
    original = Portfolio(50_000.0)
    original.apply_fill(fill(BUY, 100, 10.0, 1.0, ts=1))
    original.mark(1, "QQQ", 12.0)
    original.mark(2, "QQQ", 11.0)
    original.apply_fill(fill(SELL, 30, 11.5, 0.3, ts=3))
    snap = original.snapshot()
    restored = Portfolio(1.0)
    restored.restore(PortfolioSnapshot.from_dict(json.loads(json.dumps(snap.to_dict()))))
    assert restored.snapshot() == snap
    for p in (original, restored):
        p.mark(4, "QQQ", 13.0)
    a = original.apply_fill(fill(SELL, 70, 13.0, 0.7, ts=5))
    b = restored.apply_fill(fill(SELL, 70, 13.0, 0.7, ts=5))
    assert a == b and original.snapshot() == restored.snapshot()
    assert len(restored.curve().ts) == 1


def test_restore_refuses_a_position_without_a_price() -> None:
    p = Portfolio(1_000.0)
    p.apply_fill(fill(BUY, 1, 10.0))
    snap = p.snapshot()
    broken = PortfolioSnapshot.from_dict({**snap.to_dict(), "prices": []})
    with pytest.raises(ValueError, match=r"positions without a price: \['QQQ'\]"):
        Portfolio(1.0).restore(broken)


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("cash", [0.0, -1.0, math.nan, math.inf])
def test_initial_cash_must_be_a_positive_finite_amount(cash: float) -> None:
    with pytest.raises(ValueError, match=r"initial_cash = .*: expected a finite amount > 0"):
        Portfolio(cash)


@pytest.mark.parametrize("price", [0.0, -3.0, math.nan, math.inf])
def test_mark_refuses_a_non_positive_or_non_finite_price(price: float) -> None:
    with pytest.raises(ValueError, match=r"mark price for 'QQQ' = .*: expected a finite price > 0"):
        Portfolio(1_000.0).mark(1, "QQQ", price)


def test_mark_refuses_time_going_backwards() -> None:
    p = Portfolio(1_000.0)
    p.mark(10, "QQQ", 1.0)
    with pytest.raises(ValueError, match=r"mark ts = 9 .* before the previous mark ts = 10"):
        p.mark(9, "QQQ", 1.0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (fill(BUY, 0.0, 10.0), r"qty = 0\.0"),
        (fill(BUY, math.nan, 10.0), r"qty = nan"),
        (fill(BUY, 1.0, -10.0), r"price = -10\.0"),
        (fill(BUY, 1.0, 10.0, -1.0), r"commission = -1\.0"),
        (fill(BUY, 1.0, 10.0, slippage=math.inf), r"slippage = inf"),
    ],
)
def test_apply_fill_refuses_bad_fills_and_changes_nothing(bad: Fill, message: str) -> None:
    p = Portfolio(1_000.0)
    with pytest.raises(ValueError, match=message):
        p.apply_fill(bad)
    assert p.cash == 1_000.0 and p.positions() == ()
