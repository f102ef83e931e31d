"""Embedded synthetic market data: realistic one-minute bars with known regimes.

A Markov chain of phases switches between the four regimes; each phase has its own return
process, chosen so the regime shows in the features the classifier reads:

- TREND: drift in one direction that wanders around its mean over ~20 bars, so
  increments are positively autocorrelated (Hurst > 0.5, variance ratio > 1, high ADX);
- MEAN_REVERSION: an Ornstein-Uhlenbeck deviation around a slowly moving level (negative
  autocorrelation of returns, Hurst < 0.5, low ADX);
- COMPRESSION: a quiet OU process at a fraction of normal volatility (tight ranges);
- EXPANSION: high volatility with bursts of one-way jumps (displacement candles), which
  leave three-candle fair value gaps.

On top: a slowly varying log-volatility (volatility clustering), a U-shaped intraday profile
for volatility and volume, opening gaps between sessions and OHLC taken from an intrabar
Brownian bridge, so open and close always lie within [low, high]. Prices are rounded to
cents, volumes to whole shares.
Everything is numpy; the only Python loops run once per phase or per day.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Iterable

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from engine.data.bar import BarSeries
from engine.data.calendar import SESSION_MINUTES, SESSION_OPEN_MINUTE, trading_days
from engine.regime.regime import Regime

EXCHANGE_TZ = "America/New_York"
_MINUTES_PER_YEAR = 252 * SESSION_MINUTES
_NS_PER_MINUTE = 60_000_000_000


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    """What makes one symbol's synthetic tape its own."""

    price: float          # price on the first bar
    annual_vol: float     # average one-minute volatility, annualised; daily realised
                          # volatility runs about 2x higher because trends persist
    minute_volume: float  # average shares traded per minute


PROFILES: dict[str, SymbolProfile] = {
    "QQQ": SymbolProfile(405.0, 0.22, 115_000.0),
    "SPY": SymbolProfile(472.0, 0.16, 180_000.0),
    "AAPL": SymbolProfile(185.0, 0.27, 140_000.0),
    "MSFT": SymbolProfile(375.0, 0.25, 57_000.0),
    "IWM": SymbolProfile(198.0, 0.24, 78_000.0),
}


@dataclass(frozen=True, slots=True)
class _RegimeStyle:
    vol_scale: float      # multiple of the symbol's base volatility
    volume_scale: float   # multiple of the symbol's average volume
    min_bars: int         # phase duration range, inclusive
    max_bars: int
    range_scale: float    # intrabar volatility relative to close-to-close volatility:
                          # > 1 is microstructure noise widening the wicks; expansion's
                          # displacement candles have the thin wicks that leave gaps


_STYLES: dict[Regime, _RegimeStyle] = {
    Regime.TREND: _RegimeStyle(1.0, 1.15, 60, 300, 1.4),
    Regime.MEAN_REVERSION: _RegimeStyle(0.9, 0.9, 60, 300, 1.4),
    Regime.COMPRESSION: _RegimeStyle(0.35, 0.55, 45, 240, 1.4),
    Regime.EXPANSION: _RegimeStyle(1.5, 2.0, 30, 120, 1.0),
}

# Next-phase probabilities (rows: current regime in Regime order). Compression tends to
# break out into expansion, expansion resolves into trend or a range.
_TRANSITIONS = np.array([
    [0.00, 0.45, 0.30, 0.25],   # trend ->
    [0.40, 0.00, 0.40, 0.20],   # mean reversion ->
    [0.25, 0.25, 0.00, 0.50],   # compression ->
    [0.50, 0.35, 0.15, 0.00],   # expansion ->
])

TREND_DRIFT = 0.18              # mean drift per bar, in units of the bar's volatility
TREND_DRIFT_WANDER = 0.50       # sd of the drift's wander around that mean ...
TREND_DRIFT_PERSISTENCE = 0.95  # ... an AR(1) with a memory of about 20 bars
MR_PULL = 0.25                  # share of the deviation from the level removed each bar
MR_LEVEL_SD = 0.10              # random-walk step of the level, in units of volatility
EXPANSION_BURST_PROB = 0.15     # chance a jump burst starts on a bar
EXPANSION_BURST_MAX = 3         # longest burst, in bars
EXPANSION_JUMP_MIN = 2.0        # smallest jump, in units of the bar's volatility
EXPANSION_JUMP_SIZE = 3.5       # mean jump, same units
COMPRESSION_PULL = 0.10         # a gentler pull keeps compression's ranges tight
LOGVOL_SD = 0.15                # stationary sd of the clustering log-volatility ...
LOGVOL_PERSISTENCE = 0.995      # ... whose spells last a few hundred bars
OPEN_VOL_LIFT = 0.5             # extra volatility at the open (decays over ~25 minutes) ...
CLOSE_VOL_LIFT = 0.25           # ... and into the close
OPEN_GAP_DAILY_SD = 0.30        # sd of the overnight gap, in units of daily volatility
LEVEL_ANCHOR = 4.0              # how strongly a trend's direction leans back to the first price


def _regime_vol_rms() -> float:
    """RMS of the regimes' volatility scales over the long run of the phase chain.

    Dividing by it makes the symbol's `annual_vol` the average one-minute volatility,
    jumps included (trend drift comes on top).
    """
    eigenvalues, eigenvectors = np.linalg.eig(_TRANSITIONS.T)
    visits = np.real(eigenvectors[:, np.argmin(np.abs(eigenvalues - 1.0))])
    time_share = visits * np.array([(_STYLES[r].min_bars + _STYLES[r].max_bars) / 2 for r in Regime])
    time_share /= time_share.sum()
    p = EXPANSION_BURST_PROB
    in_burst = 1.0 - np.prod([1.0 - p * k / EXPANSION_BURST_MAX for k in range(1, EXPANSION_BURST_MAX + 1)])
    mean_excess = EXPANSION_JUMP_SIZE - EXPANSION_JUMP_MIN
    jump_variance = in_burst * (EXPANSION_JUMP_SIZE**2 + mean_excess**2)
    variance = np.array([_STYLES[r].vol_scale ** 2 for r in Regime])
    variance[Regime.EXPANSION] *= 1.0 + jump_variance
    return float(np.sqrt(time_share @ variance))


_REGIME_VOL_RMS = _regime_vol_rms()


def profile_for(symbol: str) -> SymbolProfile:
    """The built-in profile, or a stable one derived from the symbol's name."""
    known = PROFILES.get(symbol.upper())
    if known is not None:
        return known
    rng = np.random.default_rng(_symbol_key(symbol))
    return SymbolProfile(
        price=float(np.round(np.exp(rng.uniform(np.log(30.0), np.log(600.0))), 2)),
        annual_vol=float(rng.uniform(0.15, 0.45)),
        minute_volume=float(np.round(np.exp(rng.uniform(np.log(10_000), np.log(200_000))))),
    )


def _symbol_key(symbol: str) -> int:
    # Python's hash() is salted per process; this is stable everywhere.
    return int.from_bytes(hashlib.sha256(symbol.upper().encode()).digest()[:8], "little")


def generate_bars(symbol: str = "QQQ", days: int = 20, seed: int = 0, start: str | date = "2024-01-02") -> BarSeries:
    """`days` sessions of one-minute bars from the first trading day on or after `start`.

    Deterministic: the same arguments give identical arrays. `phase` holds the true
    `Regime` code of every bar.
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError(f"generate_bars symbol must be a non-empty string, got {symbol!r}")
    if not isinstance(days, int) or days < 1:
        raise ValueError(f"generate_bars days must be a positive integer, got {days!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"generate_bars seed must be a non-negative integer, got {seed!r}")
    try:
        first = pd.Timestamp(start).date()
    except ValueError as exc:
        raise ValueError(f"generate_bars start {start!r} is not a date (expected e.g. '2024-01-02')") from exc
    symbol = symbol.strip().upper()
    profile = profile_for(symbol)
    rng = np.random.default_rng([seed, _symbol_key(symbol)])
    sessions = trading_days(first, days)
    n = days * SESSION_MINUTES
    minute = np.tile(np.arange(SESSION_MINUTES), days)

    phase = _phase_plan(rng, n)
    sigma = (
        profile.annual_vol / np.sqrt(_MINUTES_PER_YEAR) / _REGIME_VOL_RMS
        * np.array([_STYLES[r].vol_scale for r in Regime])[phase]
        * _intraday_vol_profile()[minute]
        * np.exp(_clustered_logvol(rng, n) - LOGVOL_SD**2)
    )
    gaps = np.zeros(n)
    daily_sd = profile.annual_vol / np.sqrt(252.0)
    gaps[SESSION_MINUTES::SESSION_MINUTES] = rng.normal(0.0, OPEN_GAP_DAILY_SD * daily_sd, days - 1)
    returns = _phase_returns(rng, phase, sigma, gaps)

    log_close = np.log(profile.price) + np.cumsum(returns + gaps)
    log_open = np.empty(n)
    log_open[0] = np.log(profile.price)
    log_open[1:] = log_close[:-1]
    log_open += gaps
    range_scale = np.array([_STYLES[r].range_scale for r in Regime])[phase]
    log_high, log_low = _intrabar_extremes(rng, log_open, log_close, sigma * range_scale)

    volume = _volumes(rng, profile, phase, minute, returns, sigma)
    return BarSeries(
        symbol,
        _session_timestamps(sessions),
        *(np.round(np.exp(x), 2) for x in (log_open, log_high, log_low, log_close)),
        volume,
        phase=phase,
    )


def generate_many(symbols: Iterable[str], days: int = 20, seed: int = 0, start: str | date = "2024-01-02") -> dict[str, BarSeries]:
    """One independent series per symbol; each equals `generate_bars(symbol, days, seed, start)`."""
    names = [s.strip().upper() for s in symbols]
    if not names:
        raise ValueError("generate_many needs at least one symbol, got none")
    return {name: generate_bars(name, days, seed, start) for name in dict.fromkeys(names)}


def _phase_plan(rng: np.random.Generator, n: int) -> np.ndarray:
    """True regime code per bar, from the Markov chain with random phase durations."""
    styles = [_STYLES[r] for r in Regime]
    codes: list[int] = []
    lengths: list[int] = []
    state = int(rng.integers(len(styles)))
    total = 0
    while total < n:
        style = styles[state]
        length = int(rng.integers(style.min_bars, style.max_bars + 1))
        codes.append(state)
        lengths.append(length)
        total += length
        state = int(rng.choice(len(styles), p=_TRANSITIONS[state]))
    return np.repeat(np.array(codes, dtype=np.int8), lengths)[:n]


def _clustered_logvol(rng: np.random.Generator, n: int) -> np.ndarray:
    """A persistent AR(1) log-volatility: calm and busy spells that outlast phases.

    A stochastic-volatility cousin of GARCH: it clusters volatility the same way but,
    being linear in the log, filters in one vectorised pass.
    """
    shocks = rng.standard_normal(n) * LOGVOL_SD * np.sqrt(1.0 - LOGVOL_PERSISTENCE**2)
    start = rng.standard_normal() * LOGVOL_SD
    logvol, _ = lfilter([1.0], [1.0, -LOGVOL_PERSISTENCE], shocks, zi=[LOGVOL_PERSISTENCE * start])
    return logvol


def _intraday_vol_profile() -> np.ndarray:
    """Volatility multiple per minute of the session: high at the open, a lift at the close.

    Normalised so the session's variance is that of a flat profile.
    """
    m = np.arange(SESSION_MINUTES)
    shape = 1.0 + OPEN_VOL_LIFT * np.exp(-m / 25.0) + CLOSE_VOL_LIFT * np.exp(-(SESSION_MINUTES - 1 - m) / 20.0)
    return shape / np.sqrt(np.mean(shape**2))


def _intraday_volume_profile() -> np.ndarray:
    """The U-shaped volume curve: heavy open, thin lunch, heavy close."""
    m = np.arange(SESSION_MINUTES)
    shape = 0.6 + 2.2 * np.exp(-m / 30.0) + 1.6 * np.exp(-(SESSION_MINUTES - 1 - m) / 25.0)
    return shape / shape.mean()


def _phase_returns(rng: np.random.Generator, phase: np.ndarray, sigma: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """One-minute log returns, phase by phase (the opening gaps come on top)."""
    n = len(phase)
    noise = rng.standard_normal(n) * sigma
    jumps = _jump_bursts(rng, n) * (EXPANSION_JUMP_MIN + rng.exponential(EXPANSION_JUMP_SIZE - EXPANSION_JUMP_MIN, n))
    wander = rng.standard_normal(n) * TREND_DRIFT_WANDER * np.sqrt(1.0 - TREND_DRIFT_PERSISTENCE**2)
    level_steps = rng.standard_normal(n) * MR_LEVEL_SD
    bounds = np.flatnonzero(np.diff(phase)) + 1
    starts = np.concatenate(([0], bounds))
    stops = np.concatenate((bounds, [n]))
    direction_draws = rng.random(len(starts))
    returns = np.empty(n)
    level = 0.0   # log price relative to the first bar
    for a, b, draw in zip(starts, stops, direction_draws):
        regime = Regime(int(phase[a]))
        e, s = noise[a:b], sigma[a:b]
        if regime is Regime.TREND:
            # Trends lean back toward the first price, so prices stay plausible for years.
            sign = 1.0 if draw < 1.0 / (1.0 + np.exp(LEVEL_ANCHOR * level)) else -1.0
            # The drift wanders, so increments stay positively correlated over ~20 bars:
            # Hurst > 0.5 even for estimators that remove the mean drift.
            drift = sign * TREND_DRIFT + lfilter([1.0], [1.0, -TREND_DRIFT_PERSISTENCE], wander[a:b])
            r = drift * s + e
        elif regime is Regime.EXPANSION:
            r = jumps[a:b] * s + e
        elif regime is Regime.MEAN_REVERSION:
            r = _ou_increments(e, MR_PULL) + level_steps[a:b] * s
        else:
            r = _ou_increments(e, COMPRESSION_PULL)
        returns[a:b] = r
        level += float(r.sum() + gaps[a:b].sum())
    return returns


def _ou_increments(shocks: np.ndarray, pull: float) -> np.ndarray:
    """Returns of a price whose deviation from its level decays by `pull` each bar.

    The shocks are scaled so one-bar returns keep the shocks' variance despite the pull.
    """
    keep = 1.0 - pull
    deviation = lfilter([np.sqrt((1.0 + keep) / 2.0)], [1.0, -keep], shocks)
    return np.diff(deviation, prepend=0.0)


def _jump_bursts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per bar: 0 no jump, +1 or -1 the direction of a jump.

    Jumps come in bursts of 1 to EXPANSION_BURST_MAX consecutive bars all one way: a run
    of displacement candles, each leaving a fair value gap behind it.
    """
    starts = np.flatnonzero(rng.random(n) < EXPANSION_BURST_PROB)
    ends = np.minimum(starts + rng.integers(1, EXPANSION_BURST_MAX + 1, len(starts)), n)
    sides = np.where(rng.random(len(starts)) < 0.5, 1.0, -1.0)
    edges = np.zeros(n + 1)
    np.add.at(edges, starts, 1.0)
    np.add.at(edges, ends, -1.0)
    active = np.cumsum(edges)[:n] > 0
    # Where bursts overlap, the later one decides the side.
    latest_start = np.full(n, -1)
    latest_start[starts] = starts
    latest_start = np.maximum.accumulate(latest_start)
    side_at = np.zeros(n)
    side_at[starts] = sides
    return np.where(active, side_at[np.maximum(latest_start, 0)], 0.0)


def _intrabar_extremes(
    rng: np.random.Generator, log_open: np.ndarray, log_close: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """High and low of a Brownian bridge from open to close with the bar's volatility.

    The maximum M of such a bridge satisfies P(M > m) = exp(-2 (m - a)(m - b) / sigma^2)
    for m >= max(a, b); inverting it samples the exact extreme from one uniform draw.
    (High and low are drawn independently, a small simplification of their joint law.)
    """
    n = len(sigma)
    span = (log_close - log_open) ** 2
    mid = log_open + log_close
    high = 0.5 * (mid + np.sqrt(span - 2.0 * sigma**2 * np.log1p(-rng.random(n))))
    low = 0.5 * (mid - np.sqrt(span - 2.0 * sigma**2 * np.log1p(-rng.random(n))))
    return high, low


def _volumes(
    rng: np.random.Generator, profile: SymbolProfile, phase: np.ndarray, minute: np.ndarray,
    returns: np.ndarray, sigma: np.ndarray,
) -> np.ndarray:
    """Shares per bar: U-shaped through the day, heavier in busy regimes and on big moves."""
    regime_scale = np.array([_STYLES[r].volume_scale for r in Regime])[phase]
    surprise = 1.0 + 0.3 * np.minimum(np.abs(returns) / sigma, 6.0)
    noise = rng.lognormal(-0.5 * 0.35**2, 0.35, len(phase))
    return np.round(profile.minute_volume * _intraday_volume_profile()[minute] * regime_scale * surprise * noise)


def _session_timestamps(sessions: list[date]) -> np.ndarray:
    """Open time (ns UTC) of every minute of every session, 09:30-15:59 exchange time."""
    opens = pd.DatetimeIndex(
        [pd.Timestamp(day) + pd.Timedelta(minutes=SESSION_OPEN_MINUTE) for day in sessions]
    ).tz_localize(EXCHANGE_TZ).tz_convert("UTC").as_unit("ns").asi8
    return (opens[:, None] + np.arange(SESSION_MINUTES, dtype=np.int64) * _NS_PER_MINUTE).ravel()
