"""The Engine and Backtester: one path, and sma_cross checked against an independent computation."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.backtest.setup import permissive_risk
from engine.backtest.backtester import Backtester
from engine.config import load_settings, validate
from engine.data.bar import BarSeries
from engine.data.synthetic import generate_bars
from engine.engine import Engine
from engine.features.pipeline import compute_features


def random_walk_session_bars(n_days: int = 6, seed: int = 3) -> BarSeries:
    """1-minute regular-session bars of a geometric random walk (the test's own data)."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2024-03-04", periods=n_days)
    ts = np.concatenate([
        pd.date_range(pd.Timestamp(d).tz_localize("America/New_York") + pd.Timedelta(hours=9, minutes=30),
                      periods=390, freq="1min").tz_convert("UTC").as_unit("ns").asi8 for d in days])
    n = len(ts)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.0002, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n))
    return BarSeries("TEST", ts, open_, high, low, close, rng.uniform(1e3, 1e4, n))


def sma_cross_settings(fast: int, slow: int):
    data = load_settings().to_dict()
    data["agents"] = {"enabled": ["sma_cross"], "params": {"sma_cross": {"fast": fast, "slow": slow}}}
    data["adaptation"]["enabled"] = False
    data["risk"] = permissive_risk(data["risk"])
    data["execution"].update(fill="next_open", slippage_bps=0.0, slippage_atr=0.0,
                             commission_per_share=0.0, commission_bps=0.0)
    data["policy"]["rebalance_band"] = 1.0   # hold the entry size until the exit
    return validate(data)


def expected_sma_cross_trades(series: BarSeries, fast: int, slow: int, cash: float, max_position: float):
    """Independent: pandas SMAs, crosses, size at the signal bar, fill at the next open."""
    close = pd.Series(series.close)
    above = (close.rolling(fast).mean() > close.rolling(slow).mean()).to_numpy()
    valid = close.rolling(slow).mean().notna().to_numpy()
    trades, qty, entry = [], 0.0, None
    for t in range(1, len(series) - 1):
        if not (valid[t] and valid[t - 1]):
            continue
        if above[t] and not above[t - 1] and qty == 0.0:
            qty = float(math.trunc(max_position * cash / series.close[t]))
            entry = (t + 1, series.open[t + 1])
        elif not above[t] and above[t - 1] and qty > 0.0:
            exit_price = series.open[t + 1]
            trades.append((int(series.ts[entry[0]]), entry[1], int(series.ts[t + 1]), exit_price, qty))
            cash += qty * (exit_price - entry[1])
            qty = 0.0
    return trades, cash


def test_sma_cross_matches_an_independent_computation() -> None:
    series = random_walk_session_bars()
    settings = sma_cross_settings(5, 20)
    result = Backtester(settings).run(series)
    expected, final_cash = expected_sma_cross_trades(series, 5, 20, settings.portfolio.initial_cash,
                                                     settings.risk.max_position)
    got = [(t.entry_ts, t.entry_price, t.exit_ts, t.exit_price, t.qty) for t in result.trades]
    assert len(got) == len(expected) > 20
    for g, e in zip(got, expected):
        assert g[0] == e[0] and g[2] == e[2] and g[4] == e[4]
        assert g[1] == pytest.approx(e[1], rel=1e-12) and g[3] == pytest.approx(e[3], rel=1e-12)
    for t in result.trades:
        assert t.pnl == pytest.approx(t.qty * (t.exit_price - t.entry_price), rel=1e-9)
    flat_at_end = result.position[-1] == 0.0
    if flat_at_end:
        assert result.equity[-1] == pytest.approx(final_cash, rel=1e-9)


def test_backtest_makes_the_same_decisions_as_stepping_bar_by_bar() -> None:
    series = generate_bars("QQQ", days=8, seed=11)
    settings = load_settings()
    backtest = Backtester(settings).run(series)
    engine = Engine(settings, symbol=series.symbol)
    stepped = [engine.step(bar) for bar in series]
    assert np.array_equal(backtest.position, [r.position for r in stepped])
    assert np.array_equal(backtest.regime, [r.regime.regime for r in stepped])
    # The backtest's vectorised regime states: same regimes and flips; confidences equal to
    # rounding (numpy and Python may differ in the last bit of a score).
    replayed = list(Engine(settings, symbol=series.symbol).regime.replay(compute_features(series, settings)))
    assert [(s.regime, s.flipped) for s in replayed] == [(r.regime.regime, r.regime.flipped) for r in stepped]
    np.testing.assert_allclose([s.confidence for s in replayed], [r.regime.confidence for r in stepped],
                               rtol=1e-12, atol=1e-12)
    assert replayed[-1].regime is stepped[-1].regime.regime and replayed[-1].reasons[1:] == stepped[-1].regime.reasons[1:]
    np.testing.assert_allclose(backtest.equity, [r.equity for r in stepped], rtol=1e-12)
    assert len(backtest.trades) == sum(len(r.trades) for r in stepped) > 0


def test_cancel_stops_a_backtest_and_says_so() -> None:
    import threading

    series = generate_bars("QQQ", days=3, seed=1)
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 400:
            cancel.set()

    result = Backtester(load_settings()).run(series, progress=progress, cancel=cancel, progress_every=200)
    assert result.cancelled and 400 <= result.bars < len(series)
    assert seen[:2] == [200, 400]


def test_kill_switch_halts_cancels_and_flattens() -> None:
    series = generate_bars("QQQ", days=3, seed=5)
    settings = sma_cross_settings(3, 10)
    engine = Engine(settings, symbol="QQQ")
    bars = iter(series)
    for bar in bars:
        if engine.step(bar).position != 0.0:
            break
    engine.kill("test", flatten=True)
    assert engine.risk.state.value == "HALTED"
    after = [engine.step(next(bars)) for _ in range(50)]
    assert after[0].position == 0.0 and all(r.position == 0.0 for r in after)
    types = [e.type for e in engine.events.recent]
    assert "kill_switch" in types
