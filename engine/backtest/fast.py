"""The backtest fast path: bar-independent work once per run, then the compiled loop.

Features, regimes and agent intents do not depend on what the portfolio does, so they are
computed for the whole series (vectorised); `kernel.run_bars` then runs the path-dependent
rest of `Engine.advance` bar by bar in compiled code. A bar the loop cannot judge exactly
makes `run_fast` return None, and the backtester steps the engine instead.
"""
from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.agents.base import Agent
from engine.backtest import kernel as kn
from engine.config import Settings
from engine.data.bar import BarSeries
from engine.data.sessions import session_days
from engine.features.frame import FeatureFrame
from engine.portfolio.trades import PositionSide, Trade
from engine.regime.engine import RegimeEngine
from engine.regime.regime import Regime
from engine.risk.var import quantile_index

_CHUNK = 8_192  # bars between two looks at the cancel flag
_LABELS = tuple(r.label for r in Regime)


@dataclass(frozen=True)
class FastRun:
    done: int                   # bars run (fewer than the series when cancelled)
    equity: np.ndarray
    drawdown: np.ndarray
    position: np.ndarray
    regime: np.ndarray          # int8 codes
    trades: tuple[Trade, ...]
    turnover: float
    fees: float
    events: int
    weights: dict[str, dict[str, float]]
    fitness: dict[str, dict[str, float]]
    cancelled: bool


def regime_codes(frame: FeatureFrame, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(regime code, flipped on this bar) per bar, as `RegimeEngine.replay` gives them."""
    engine = RegimeEngine(settings.regime)
    codes = engine.classify_frame(frame)   # leaves the engine as it was: fresh, at its start regime
    flipped = np.empty(len(codes), dtype=np.bool_)
    if len(codes):
        flipped[0] = codes[0] != engine.current
        np.not_equal(codes[1:], codes[:-1], out=flipped[1:])
    return codes, flipped


def _params(s: Settings, bars_per_year: float) -> np.ndarray:
    P = np.zeros(kn.P_SIZE)
    risk, execution, adaptation = s.risk, s.execution, s.adaptation
    P[kn.P_MAX_POSITION] = risk.max_position
    P[kn.P_BAND] = s.policy.rebalance_band
    P[kn.P_MIN_CONF] = s.policy.min_confidence
    P[kn.P_CONFLICT] = s.policy.conflict_threshold
    P[kn.P_DAILY] = risk.daily_loss_limit
    P[kn.P_SOFT] = risk.soft_drawdown
    P[kn.P_HARD] = risk.hard_drawdown
    P[kn.P_SOFT_SCALE] = risk.soft_drawdown_scale
    P[kn.P_BREAKER_LOSSES] = risk.circuit_breaker.consecutive_losses
    P[kn.P_COOLDOWN] = risk.circuit_breaker.cooldown_bars
    P[kn.P_VOL_ON] = risk.volatility_scaling.enabled
    P[kn.P_VOL_TARGET] = risk.volatility_scaling.target_annual_vol
    P[kn.P_VOL_MIN] = risk.volatility_scaling.min_scale
    P[kn.P_ANNUALISER] = math.sqrt(bars_per_year)
    var = risk.var
    P[kn.P_VAR_ON] = var.enabled
    P[kn.P_VAR_LIMIT] = var.limit
    P[kn.P_VAR_LEFT_LO], P[kn.P_VAR_LEFT_FRAC] = quantile_index(var.lookback_bars, 1.0 - var.confidence)
    P[kn.P_VAR_RIGHT_LO], P[kn.P_VAR_RIGHT_FRAC] = quantile_index(var.lookback_bars, var.confidence)
    P[kn.P_FILL_CLOSE] = execution.fill == "close"
    P[kn.P_VOLUME_SHARE] = math.nan if execution.max_volume_share is None else execution.max_volume_share
    P[kn.P_SLIP_BPS] = execution.slippage_bps
    P[kn.P_SLIP_ATR] = execution.slippage_atr
    P[kn.P_COMM_SHARE] = execution.commission_per_share
    P[kn.P_COMM_BPS] = execution.commission_bps
    P[kn.P_ADAPT_ON] = adaptation.enabled
    P[kn.P_ADAPT_EVERY] = adaptation.update_interval_bars
    P[kn.P_LEARNING_RATE] = adaptation.learning_rate
    P[kn.P_FLOOR] = adaptation.weight_floor
    P[kn.P_CAP] = adaptation.weight_cap
    P[kn.P_DECAY] = adaptation.fitness_decay
    for code, label in enumerate(_LABELS):
        P[kn.P_CAP_TREND + code] = risk.regime_caps[label]
    return P


def _initial_state(s: Settings) -> tuple[np.ndarray, np.ndarray]:
    cash = s.portfolio.initial_cash
    S = np.zeros(kn.S_SIZE)
    K = np.zeros(kn.K_SIZE, dtype=np.int64)
    S[kn.S_CASH] = S[kn.S_PEAK] = S[kn.S_LAST_EQUITY] = S[kn.S_DD_PEAK] = cash
    S[kn.S_PRICE] = S[kn.S_LAST_ATR] = S[kn.S_DAY_START] = S[kn.S_VAR_PRICE] = math.nan
    S[kn.S_DAY_FLOOR] = -math.inf
    S[kn.S_DD_SOFT_FLOOR] = cash * (1.0 - s.risk.soft_drawdown)
    S[kn.S_DD_HARD_FLOOR] = cash * (1.0 - s.risk.hard_drawdown)
    return S, K


def run_fast(series: BarSeries, frame: FeatureFrame, settings: Settings, agents: Sequence[Agent],
             bars_per_year: float, *, progress: Callable[[int, int], None] | None,
             cancel: threading.Event | None, progress_every: int, regimes: bool = True) -> FastRun | None:
    """The backtest of `series`, or None when a bar needs the engine's own judgement.

    `regimes=False` skips the regime engine; the caller has checked that no decision reads
    the regime (`regime_free_problems`). Trades then carry no regime label and the per-bar
    regime is -1.
    """
    n = len(series)
    names = [a.name for a in agents]
    if regimes:
        codes, flipped = regime_codes(frame, settings)
    else:  # any code does: weights and caps are the same in every regime
        codes, flipped = np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.bool_)
    # Copies: feeding an agent its series changes its streaming state, and a fallback to
    # stepping must start from the agents as they were handed in.
    columns = [copy.deepcopy(agent).columns(frame, codes) for agent in agents]
    spoke = np.ascontiguousarray([c.spoke for c in columns], dtype=np.bool_).reshape(len(agents), n)
    direction = np.ascontiguousarray([c.direction for c in columns], dtype=np.int8).reshape(len(agents), n)
    strength = np.ascontiguousarray([c.strength for c in columns], dtype=np.float64).reshape(len(agents), n)
    confidence = np.ascontiguousarray([c.confidence for c in columns], dtype=np.float64).reshape(len(agents), n)
    ts = np.ascontiguousarray(series.ts, dtype=np.int64)
    day = session_days(ts, settings.data.timezone)
    P = _params(settings, bars_per_year)
    S, K = _initial_state(settings)
    a = len(agents)
    weights = np.full((len(Regime), a), 1.0 / a)
    reported = weights.copy()
    fitness = np.zeros((len(Regime), a))
    tcount = np.zeros((len(Regime), a), dtype=np.int64)
    entry_mask, order_mask = np.zeros(a, dtype=np.bool_), np.zeros(a, dtype=np.bool_)
    entry_share, order_share = np.zeros(a), np.zeros(a)
    lookback = settings.risk.var.lookback_bars
    var_ring, var_sorted = np.zeros(lookback), np.zeros(lookback + 1)
    equity, drawdown, position = np.empty(n), np.empty(n), np.empty(n)
    cols = frame.columns
    arrays = (ts, np.ascontiguousarray(series.open, dtype=np.float64),
              np.ascontiguousarray(series.close, dtype=np.float64),
              np.ascontiguousarray(series.volume, dtype=np.float64),
              np.ascontiguousarray(cols["atr"], dtype=np.float64),
              _bar_sigma(frame, settings), day, codes, flipped,
              spoke, direction, strength, confidence)
    trades: list[Trade] = []
    done = 0
    cancelled = False
    while done < n:
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        stop = min(n, (done // _CHUNK + 1) * _CHUNK, (done // progress_every + 1) * progress_every)
        TF = np.empty((stop - done + 1, 5))
        TI = np.empty((stop - done + 1, 6), dtype=np.int64)
        K[kn.K_TRADES] = 0
        kn.run_bars(done, stop, *arrays, P, S, K, weights, fitness, tcount, reported, entry_mask,
                    entry_share, order_mask, order_share, var_ring, var_sorted, equity, drawdown,
                    position, TF, TI)
        if K[kn.K_ERROR]:
            return None
        trades.extend(_trades(series.symbol, TF[:K[kn.K_TRADES]], TI[:K[kn.K_TRADES]], names,
                              _LABELS if regimes else ("",) * len(_LABELS)))
        done = stop
        if progress is not None and done % progress_every == 0:
            progress(done, n)
    return FastRun(
        done, equity[:done], drawdown[:done], position[:done],
        codes[:done] if regimes else np.full(done, -1, dtype=np.int8), tuple(trades),
        float(S[kn.S_TURNOVER]), float(S[kn.S_FEES]), int(K[kn.K_EVENTS]),
        {label: dict(zip(names, weights[code].tolist())) for code, label in enumerate(_LABELS)},
        {name: {label: float(fitness[code, k]) for code, label in enumerate(_LABELS) if regimes}
         for k, name in enumerate(names)},
        cancelled,
    )


def regime_free_problems(settings: Settings, agents: Sequence[Agent]) -> list[str]:
    """Why this run's decisions depend on the regime (empty when they do not)."""
    problems = []
    if settings.adaptation.enabled:
        problems.append("adaptation learns weights per regime (turn it off)")
    if len(set(settings.risk.regime_caps.values())) > 1:
        problems.append("risk.regime_caps differ by regime")
    readers = [a.name for a in agents if a.reads_regime]
    if readers:
        problems.append(f"agents {', '.join(readers)} read the regime")
    return problems


def _bar_sigma(frame: FeatureFrame, settings: Settings) -> np.ndarray:
    """GARCH sigma for volatility scaling, its only reader in the loop; with scaling off the
    loop never looks at it, and NaN spares the GARCH refits."""
    if settings.risk.volatility_scaling.enabled:
        return np.ascontiguousarray(frame.columns["garch_vol"], dtype=np.float64)
    return np.full(len(frame), math.nan)


def _trades(symbol: str, TF: np.ndarray, TI: np.ndarray, names: Sequence[str],
            labels: Sequence[str]) -> list[Trade]:
    return [
        Trade(symbol, PositionSide.LONG if side > 0 else PositionSide.SHORT, qty, entry_ts, entry_price,
              exit_ts, exit_price, pnl, fees, names[agent] if agent >= 0 else "", labels[regime], held)
        for (qty, entry_price, exit_price, pnl, fees), (side, entry_ts, exit_ts, agent, regime, held)
        in zip(TF.tolist(), TI.tolist())
    ]
