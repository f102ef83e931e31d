"""Backtest statistics against arithmetic written out by hand."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backtest.stats import NS_PER_YEAR, breakdown, compute_stats, trade_stats
from engine.portfolio.trades import PositionSide, Trade

MINUTE = 60_000_000_000


def minutes(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * MINUTE


def stats_of(equity: list[float], trades: list[Trade] | None = None, *, ts: np.ndarray | None = None,
             ppy: float = 4.0, turnover: float = 0.0, exposure: list[bool] | None = None):
    eq = np.array(equity, dtype=np.float64)
    return compute_stats(
        eq, minutes(len(eq)) if ts is None else ts, trades or [],
        exposure=np.array(exposure if exposure is not None else [False] * len(eq)),
        turnover=turnover, fees=12.5, periods_per_year=ppy,
    )


def trade(pnl: float, *, regime: str = "trend", agent: str = "trend", bars: int = 1) -> Trade:
    # Entry notional 100 x 10 = 1,000, so return_pct = pnl / 1,000.
    return Trade("QQQ", PositionSide.LONG, 100.0, 0, 10.0, 1, 10.0 + pnl / 100.0, pnl, 0.0, agent, regime, bars)


# --- the equity-curve figures ------------------------------------------------------------

def test_sharpe_sortino_and_volatility_of_a_small_curve_match_hand_arithmetic() -> None:
    s = stats_of([100.0, 110.0, 99.0, 121.0, 121.0], ppy=4.0)
    # r = 10/100, -11/110, 22/99, 0  =  1/10, -1/10, 2/9, 0
    r = [Fraction(1, 10), Fraction(-1, 10), Fraction(2, 9), Fraction(0)]
    mean = sum(r) / 4                                     # (2/9) / 4 = 1/18
    assert mean == Fraction(1, 18)
    sample_var = sum((x - mean) ** 2 for x in r) / 3      # ddof = 1
    std = math.sqrt(sample_var)
    assert s.volatility == pytest.approx(std * 2.0)       # sqrt(periods_per_year = 4) = 2
    assert s.sharpe == pytest.approx(float(mean) / std * 2.0)
    # downside deviation: sqrt(mean(min(r, 0)^2)) = sqrt((1/10)^2 / 4) = 1/20
    # Sortino = (1/18) / (1/20) x 2 = 20/9
    assert s.sortino == pytest.approx(20.0 / 9.0)
    assert s.total_return == pytest.approx(0.21)
    assert (s.start_equity, s.end_equity, s.bars) == (100.0, 121.0, 5)


def test_max_drawdown_and_its_duration_run_from_peak_to_recovery() -> None:
    s = stats_of([100.0, 110.0, 99.0, 121.0, 121.0])
    # running peaks 100 110 110 121 121: the fall 110 -> 99 is 99/110 - 1 = -10 %,
    # from the peak at bar 1 back to >= 110 at bar 3: 2 bars, 2 minutes.
    assert s.max_drawdown == pytest.approx(-0.1)
    assert (s.max_drawdown_bars, s.max_drawdown_seconds, s.max_drawdown_recovered) == (2, 120.0, True)


def test_an_unrecovered_drawdown_lasts_to_the_end() -> None:
    s = stats_of([100.0, 120.0, 90.0, 100.0])
    assert s.max_drawdown == pytest.approx(90.0 / 120.0 - 1.0)
    assert (s.max_drawdown_bars, s.max_drawdown_recovered) == (2, False)


def test_the_duration_is_that_of_the_deepest_drawdown_not_the_longest() -> None:
    # 100 -> 90 takes 4 bars to recover (shallow); 100.5 -> 80 is deeper and recovers in 2.
    s = stats_of([100.0, 90.0, 95.0, 99.0, 100.5, 80.0, 101.0])
    assert s.max_drawdown == pytest.approx(80.0 / 100.5 - 1.0)
    assert s.max_drawdown_bars == 2


def test_cagr_uses_calendar_time_and_calmar_divides_it_by_the_drawdown() -> None:
    ts = np.array([0, NS_PER_YEAR, 2 * NS_PER_YEAR], dtype=np.int64)
    s = stats_of([100.0, 90.0, 121.0], ts=ts)
    # 121/100 over two years: (1.21)^(1/2) - 1 = 10 %; drawdown 90/100 - 1 = -10 % -> Calmar 1
    assert s.cagr == pytest.approx(0.10)
    assert s.calmar == pytest.approx(1.0)


def test_exposure_turnover_and_fees_are_reported() -> None:
    s = stats_of([100.0, 100.0, 100.0, 100.0], exposure=[False, True, True, False], turnover=1_000.0)
    assert s.exposure == 0.5
    assert s.turnover == pytest.approx(10.0)     # 1,000 traded / mean equity 100
    assert s.fees == 12.5


def test_flat_equity_has_zero_volatility_sharpe_sortino_and_drawdown() -> None:
    s = stats_of([100.0] * 10)
    assert (s.volatility, s.sharpe, s.sortino, s.max_drawdown, s.calmar) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert (s.max_drawdown_bars, s.max_drawdown_recovered, s.total_return) == (0, True, 0.0)


def test_steady_gains_with_no_losing_bar_give_an_infinite_sortino() -> None:
    s = stats_of([100.0, 101.0, 103.0, 104.0])
    assert s.sortino == math.inf and s.sharpe > 0.0


def test_too_few_bars_leave_the_return_ratios_undefined() -> None:
    s = stats_of([100.0, 101.0])
    assert math.isnan(s.volatility) and math.isnan(s.sharpe) and math.isnan(s.sortino)
    one = stats_of([100.0])
    assert one.total_return == 0.0 and math.isnan(one.cagr)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(1.0, 1_000.0), min_size=1, max_size=60))
def test_max_drawdown_equals_the_worst_fall_over_all_pairs_of_bars(equity: list[float]) -> None:
    worst = 0.0
    for j in range(len(equity)):
        for i in range(j + 1):
            worst = min(worst, equity[j] / equity[i] - 1.0)
    assert stats_of(equity).max_drawdown == pytest.approx(worst, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1.0, 1_000.0), min_size=3, max_size=60), st.floats(0.01, 100.0))
def test_return_ratios_do_not_depend_on_the_size_of_the_account(equity: list[float], scale: float) -> None:
    a = stats_of(equity)
    b = stats_of([e * scale for e in equity])
    for name in ("total_return", "volatility", "sharpe", "sortino", "max_drawdown"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-9, abs=1e-12), name


# --- trade figures -----------------------------------------------------------------------

def test_trade_figures_from_a_hand_made_trade_list() -> None:
    trades = [trade(100.0, bars=2), trade(-50.0, bars=4), trade(30.0, bars=6), trade(0.0, bars=2), trade(-20.0, bars=1)]
    s = stats_of([100.0, 100.0, 100.0], trades)
    assert s.trades == 5
    assert s.win_rate == pytest.approx(2 / 5)                  # 100 and 30 win; 0 is not a win
    assert s.profit_factor == pytest.approx(130.0 / 70.0)      # (100 + 30) / (50 + 20)
    assert s.expectancy == pytest.approx(60.0 / 5)             # (100 - 50 + 30 + 0 - 20) / 5
    assert s.avg_trade_return == pytest.approx(0.012)          # 12 / 1,000 entry notional
    assert (s.best_trade, s.worst_trade) == (100.0, -50.0)
    assert s.avg_bars_held == pytest.approx(3.0)               # (2 + 4 + 6 + 2 + 1) / 5


def test_no_trades_leave_the_trade_figures_undefined() -> None:
    s = stats_of([100.0, 101.0, 102.0])
    assert s.trades == 0
    for name in ("win_rate", "profit_factor", "expectancy", "avg_trade_return", "best_trade", "worst_trade"):
        assert math.isnan(getattr(s, name)), name


def test_profit_factor_is_infinite_without_losses_and_undefined_with_only_scratches() -> None:
    assert trade_stats([trade(5.0), trade(1.0)]).profit_factor == math.inf
    assert math.isnan(trade_stats([trade(0.0)]).profit_factor)


def test_breakdown_groups_trades_by_regime_or_agent() -> None:
    trades = [trade(10.0, regime="trend", agent="a"), trade(-4.0, regime="trend", agent="b"),
              trade(6.0, regime="compression", agent="a")]
    by_regime = breakdown(trades, "regime")
    assert list(by_regime) == ["compression", "trend"]
    assert (by_regime["trend"].count, by_regime["trend"].total_pnl, by_regime["trend"].win_rate) == (2, 6.0, 0.5)
    assert by_regime["trend"].profit_factor == pytest.approx(10.0 / 4.0)
    assert by_regime["trend"].expectancy == pytest.approx(3.0)
    by_agent = breakdown(trades, "agent")
    assert by_agent["a"].total_pnl == 16.0 and by_agent["a"].profit_factor == math.inf
    with pytest.raises(ValueError, match=r"breakdown key = 'symbol': expected 'regime' or 'agent'"):
        breakdown(trades, "symbol")  # type: ignore[arg-type]


# --- the printed table -------------------------------------------------------------------

def test_rows_format_money_with_separators_and_percentages_with_a_sign() -> None:
    s = stats_of([1_234_567.891, 1_100_000.0, 1_300_000.0], [trade(-1_500.0)])
    rows = dict(s.as_rows())
    assert rows["Start equity"] == "1,234,567.89"
    assert rows["Total return"] == "+5.30%"          # 1,300,000 / 1,234,567.891 - 1 = 0.05300...
    assert rows["Max drawdown"] == "-10.90%"          # 1,100,000 / 1,234,567.891 - 1 = -0.10899...
    assert rows["Max drawdown duration"] == "2 bars (0:02:00)"
    assert rows["Worst trade"] == "-1,500.00"
    assert rows["Profit factor"] == "0.00"
    assert dict(stats_of([100.0, 100.0]).as_rows())["Profit factor"] == "n/a"
    assert dict(stats_of([100.0, 100.0], [trade(1.0)]).as_rows())["Profit factor"] == "inf"


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("equity", "ts", "exposure", "message"),
    [
        ([], [], [], r"equity has shape \(0,\)"),
        ([100.0, -1.0], [0, 1], [0, 0], r"equity\[1\] = .*-1\.0.*expected finite equity > 0"),
        ([100.0, math.nan], [0, 1], [0, 0], r"equity\[1\] = .*nan"),
        ([100.0, 101.0], [0], [0, 0], r"ts has shape \(1,\): expected \(2,\)"),
        ([100.0, 101.0], [0, 1], [0], r"exposure has shape \(1,\)"),
        ([100.0, 101.0], [0.0, 1.0], [0, 0], r"ts has dtype float64"),
        ([100.0, 101.0, 102.0], [0, 5, 3], [0, 0, 0], r"ts\[2\] = 3 is before ts\[1\] = 5"),
    ],
)
def test_bad_inputs_are_named_in_the_error(equity: list, ts: list, exposure: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_stats(np.array(equity, dtype=np.float64), np.array(ts), [], exposure=np.array(exposure, dtype=bool),
                      turnover=0.0, fees=0.0)


def test_negative_fees_and_a_non_positive_year_are_refused() -> None:
    eq, ts, ex = np.array([1.0, 2.0]), minutes(2), np.zeros(2, dtype=bool)
    with pytest.raises(ValueError, match=r"fees = -1\.0"):
        compute_stats(eq, ts, [], exposure=ex, turnover=0.0, fees=-1.0)
    with pytest.raises(ValueError, match=r"periods_per_year = 0"):
        compute_stats(eq, ts, [], exposure=ex, turnover=0.0, fees=0.0, periods_per_year=0)
