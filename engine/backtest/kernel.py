"""The backtest's compiled loop: `Engine.advance` for a run of bars, in numba.

It does exactly what the engine does after features, regime and agent intents are known
(they are pure functions of the bars, computed once per run): meta-policy blend, risk
manager, paper broker (market orders, next-open or close fills, slippage, commission,
volume cap), portfolio, rewards, outlier PnL, weight adaptation, and the count of events
the engine would log. Same float operations in the same order, so results are identical,
not close: `tests/test_fast_backtest.py` proves it against stepping bar by bar in many
configurations. Anything the loop cannot judge exactly (a bad price, a NaN ATR under ATR
slippage, a day going back) sets K[K_ERROR] and stops it; the caller then steps the engine,
which raises the engine's own error.

State lives in two flat arrays (`S` floats, `K` integers) indexed by the constants below,
plus small per-agent arrays, so a run can stop after any bar (progress, cancel) and go on.
"""
from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path

import numpy as np
from numba import njit

from engine.adaptation.adaptor import PolicyAdaptor, bounded_simplex_array, moved_weights
from engine.engine import HIGH_CONFIDENCE, needs_trade
from engine.portfolio.portfolio import QTY_EPS
from engine.risk.sizing import reduce_only, volatility_scale

# -- parameters (P) -------------------------------------------------------------------
(P_MAX_POSITION, P_BAND, P_MIN_CONF, P_CONFLICT, P_DAILY, P_SOFT, P_HARD, P_SOFT_SCALE,
 P_BREAKER_LOSSES, P_COOLDOWN, P_VOL_ON, P_VOL_TARGET, P_VOL_MIN, P_ANNUALISER, P_VAR_ON,
 P_VAR_LIMIT, P_VAR_LEFT_LO, P_VAR_LEFT_FRAC, P_VAR_RIGHT_LO, P_VAR_RIGHT_FRAC,
 P_FILL_CLOSE, P_VOLUME_SHARE, P_SLIP_BPS, P_SLIP_ATR, P_COMM_SHARE, P_COMM_BPS, P_ADAPT_ON,
 P_ADAPT_EVERY, P_LEARNING_RATE, P_FLOOR, P_CAP, P_DECAY, P_CAP_TREND, P_CAP_MR, P_CAP_COMP,
 P_CAP_EXP, P_SIZE) = range(37)

# -- float state (S) ------------------------------------------------------------------
(S_CASH, S_FEES, S_PEAK, S_QTY, S_AVG, S_ENTRY_FEES, S_PRICE, S_LAST_ATR, S_PNL_MEAN, S_PNL_M2,
 S_LAST_EQUITY, S_DAY_START, S_DAY_FLOOR, S_DD_PEAK, S_DD_SOFT_FLOOR, S_DD_HARD_FLOOR,
 S_VAR_PRICE, S_VAR_LONG, S_VAR_SHORT, S_W_REMAINING, S_TURNOVER, S_SIZE) = range(22)

# -- integer state (K) ----------------------------------------------------------------
(K_HAS_POS, K_ENTRY_TS, K_ENTRY_BAR, K_POS_AGENT, K_POS_REGIME, K_MARKS, K_PNL_N, K_DAY,
 K_HAS_DAY, K_DAY_HIT, K_SOFT, K_HARD, K_LOSSES, K_COOLDOWN, K_BLOCKING, K_STATE, K_VAR_N,
 K_VAR_HEAD, K_WORKING, K_W_SIDE, K_W_AGENT, K_W_REGIME, K_EVENTS, K_PENDING, K_ADAPT_BARS,
 K_ENTRY_ANY, K_ORDER_ANY, K_ERROR, K_TRADES, K_SIZE) = range(30)

ACTIVE, REDUCING, HALTED = 0, 1, 2
# The engine's own constants, read once at compile time, and its own plain numeric
# functions, compiled: one source for both paths, so they cannot drift apart.
REPORT_THRESHOLD = PolicyAdaptor.REPORT_THRESHOLD
BPS = 1e-4  # a basis point, as in engine.execution.costs
_needs_trade = njit(cache=True)(needs_trade)
_reduce_only = njit(cache=True)(reduce_only)
_volatility_scale = njit(cache=True)(volatility_scale)
_moved_weights = njit(cache=True)(moved_weights)
_bounded_simplex = njit(cache=True)(bounded_simplex_array)
_COMPILED_IN = ("engine.adaptation.adaptor", "engine.engine", "engine.portfolio.portfolio", "engine.risk.sizing")


def forget_stale_compilations(cache: Path = Path(__file__).with_name("__pycache__")) -> None:
    """Drop this module's cached machine code when an engine module compiled into it changed.

    numba's cache notices edits to this file only, not to the constants and functions it
    compiles in from `_COMPILED_IN`; a fingerprint of their sources, kept beside the cache,
    tells. An unwritable cache folder is left alone (numba then caches elsewhere).
    """
    digest = hashlib.sha256(b"".join(Path(sys.modules[name].__file__ or "").read_bytes()
                                     for name in _COMPILED_IN)).hexdigest()
    stamp = cache / "kernel.engine-sources"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for compiled in cache.glob("kernel.*.nb[ic]"):
            compiled.unlink()
        stamp.write_text(digest)
    except OSError:
        pass


forget_stale_compilations()

# Trade record columns
(T_QTY, T_ENTRY_PRICE, T_EXIT_PRICE, T_PNL, T_FEES) = range(5)
(T_SIDE, T_ENTRY_TS, T_EXIT_TS, T_AGENT, T_REGIME, T_BARS_HELD) = range(6)


@njit(cache=True)
def _equity(S: np.ndarray, K: np.ndarray) -> float:
    equity = S[S_CASH]
    if K[K_HAS_POS]:
        equity += S[S_QTY] * S[S_PRICE]
    return equity


@njit(cache=True)
def _position(S: np.ndarray, K: np.ndarray) -> float:
    return S[S_QTY] if K[K_HAS_POS] else 0.0


@njit(cache=True)
def _update_state(K: np.ndarray) -> None:
    if K[K_HARD]:
        new = HALTED
    elif K[K_DAY_HIT] or K[K_BLOCKING]:
        new = REDUCING
    else:
        new = ACTIVE
    if new != K[K_STATE]:
        K[K_STATE] = new
        K[K_PENDING] += 1


@njit(cache=True)
def _open(S: np.ndarray, K: np.ndarray, qty: float, price: float, commission: float, ts: int,
          agent: int, regime: int) -> None:
    K[K_HAS_POS] = 1
    S[S_QTY] = qty
    S[S_AVG] = price
    S[S_ENTRY_FEES] = commission
    K[K_ENTRY_TS] = ts
    K[K_ENTRY_BAR] = K[K_MARKS]
    K[K_POS_AGENT] = agent
    K[K_POS_REGIME] = regime


@njit(cache=True)
def _apply_fill(S: np.ndarray, K: np.ndarray, TF: np.ndarray, TI: np.ndarray, sign: int, qty: float,
                price: float, commission: float, ts: int, agent: int, regime: int) -> int:
    """Portfolio.apply_fill; returns the closed trade's row in TF/TI, or -1."""
    S[S_CASH] -= sign * qty * price + commission
    S[S_FEES] += commission
    S[S_PRICE] = price
    if not K[K_HAS_POS]:
        _open(S, K, qty if sign > 0 else -qty, price, commission, ts, agent, regime)
        return -1
    if S[S_QTY] * sign > 0:
        held = abs(S[S_QTY])
        S[S_AVG] = (S[S_AVG] * held + price * qty) / (held + qty)
        S[S_QTY] += sign * qty
        S[S_ENTRY_FEES] += commission
        return -1
    held = abs(S[S_QTY])
    closing = qty if qty < held - QTY_EPS else held
    opening = qty - closing
    exit_fees = commission * closing / qty
    entry_fees = S[S_ENTRY_FEES] * closing / held
    direction = 1 if S[S_QTY] > 0 else -1
    fees = entry_fees + exit_fees
    row = K[K_TRADES]
    if row >= TF.shape[0]:
        K[K_ERROR] = 1
        return -1
    K[K_TRADES] = row + 1
    pnl = (price - S[S_AVG]) * closing * direction - fees
    TF[row, T_QTY] = closing
    TF[row, T_ENTRY_PRICE] = S[S_AVG]
    TF[row, T_EXIT_PRICE] = price
    TF[row, T_PNL] = pnl
    TF[row, T_FEES] = fees
    TI[row, T_SIDE] = direction
    TI[row, T_ENTRY_TS] = K[K_ENTRY_TS]
    TI[row, T_EXIT_TS] = ts
    TI[row, T_AGENT] = K[K_POS_AGENT]
    TI[row, T_REGIME] = K[K_POS_REGIME]
    TI[row, T_BARS_HELD] = K[K_MARKS] - K[K_ENTRY_BAR]
    if closing == held:
        K[K_HAS_POS] = 0
        S[S_QTY] = 0.0
    else:
        S[S_QTY] -= direction * closing
        S[S_ENTRY_FEES] -= entry_fees
    if opening > QTY_EPS:
        _open(S, K, opening if sign > 0 else -opening, price, commission - exit_fees, ts, agent, regime)
    return row


@njit(cache=True)
def _book_trade(P: np.ndarray, S: np.ndarray, K: np.ndarray, TF: np.ndarray, TI: np.ndarray, row: int,
                fitness: np.ndarray, tcount: np.ndarray, entry_mask: np.ndarray, entry_share: np.ndarray) -> None:
    """Engine._book_trade: circuit breaker, rewards, trade_closed and outlier events."""
    pnl = TF[row, T_PNL]
    if pnl < 0.0:
        K[K_LOSSES] += 1
        if K[K_LOSSES] >= P[P_BREAKER_LOSSES]:
            K[K_LOSSES] = 0
            K[K_COOLDOWN] = int(P[P_COOLDOWN])
            K[K_BLOCKING] = 1
            K[K_PENDING] += 1
    elif pnl > 0.0:
        K[K_LOSSES] = 0
    _update_state(K)
    equity = _equity(S, K)
    if equity > 0.0 and K[K_ENTRY_ANY]:
        bps = 1e4 * pnl / equity
        regime = TI[row, T_REGIME]
        decay = P[P_DECAY]
        for a in range(entry_mask.shape[0]):
            if entry_mask[a]:
                fitness[regime, a] = decay * fitness[regime, a] + (1.0 - decay) * bps * entry_share[a]
                tcount[regime, a] += 1
    K[K_EVENTS] += 1  # trade_closed
    K[K_PNL_N] += 1
    n = K[K_PNL_N]
    d = pnl - S[S_PNL_MEAN]
    S[S_PNL_MEAN] += d / n
    S[S_PNL_M2] += d * (pnl - S[S_PNL_MEAN])
    if n >= 20:
        sd = math.sqrt(S[S_PNL_M2] / (n - 1))
        if sd > 0.0 and abs(pnl - S[S_PNL_MEAN]) > 3.0 * sd:
            K[K_EVENTS] += 1  # outlier_pnl


@njit(cache=True)
def _fill_working(P: np.ndarray, S: np.ndarray, K: np.ndarray, TF: np.ndarray, TI: np.ndarray,
                  reference: float, atr: float, volume: float, ts: int, fitness: np.ndarray,
                  tcount: np.ndarray, entry_mask: np.ndarray, entry_share: np.ndarray,
                  order_mask: np.ndarray, order_share: np.ndarray) -> None:
    """PaperBroker._execute of the one working market order, then Engine._settle."""
    qty = S[S_W_REMAINING]
    share = P[P_VOLUME_SHARE]
    if share == share:
        left = volume * share if volume > 0.0 else 0.0
        if left <= 0.0:
            return
        if left < qty:
            qty = left
    slip = reference * P[P_SLIP_BPS] * BPS
    if P[P_SLIP_ATR] > 0.0:
        if not (math.isfinite(atr) and atr >= 0.0):
            K[K_ERROR] = 1
            return
        slip += P[P_SLIP_ATR] * atr
    sign = K[K_W_SIDE]
    price = reference + slip if sign > 0 else reference - slip
    if not 0.0 < price < np.inf:
        K[K_ERROR] = 1
        return
    commission = qty * P[P_COMM_SHARE] + qty * price * P[P_COMM_BPS] * BPS
    if qty == S[S_W_REMAINING]:
        S[S_W_REMAINING] = 0.0
        K[K_WORKING] = 0
    else:
        S[S_W_REMAINING] -= qty
    K[K_PENDING] += 1  # FILLED or PARTIALLY_FILLED order event
    S[S_TURNOVER] += qty * price
    before = _position(S, K)
    row = _apply_fill(S, K, TF, TI, sign, qty, price, commission, ts, K[K_W_AGENT], K[K_W_REGIME])
    after = _position(S, K)
    K[K_EVENTS] += 1  # fill
    if row >= 0:
        _book_trade(P, S, K, TF, TI, row, fitness, tcount, entry_mask, entry_share)
    if after != 0.0 and (before == 0.0 or (after > 0.0) != (before > 0.0)):
        K[K_ENTRY_ANY] = K[K_ORDER_ANY]
        for a in range(entry_mask.shape[0]):
            entry_mask[a] = order_mask[a]
            entry_share[a] = order_share[a]


@njit(cache=True)
def _risk_on_bar(P: np.ndarray, S: np.ndarray, K: np.ndarray, day: int, price: float, equity: float,
                 var_ring: np.ndarray, var_sorted: np.ndarray) -> None:
    """AdvancedRiskManager.on_bar: daily loss, drawdown, breaker, VaR window, state."""
    if not K[K_HAS_DAY] or day != K[K_DAY]:
        if K[K_HAS_DAY] and day < K[K_DAY]:
            K[K_ERROR] = 1
            return
        lifted = K[K_DAY_HIT]
        K[K_HAS_DAY] = 1
        K[K_DAY] = day
        S[S_DAY_START] = S[S_LAST_EQUITY]
        K[K_DAY_HIT] = 0
        S[S_DAY_FLOOR] = S[S_DAY_START] * (1.0 - P[P_DAILY])
        if lifted:
            K[K_PENDING] += 1
    if not K[K_DAY_HIT] and equity <= S[S_DAY_FLOOR]:
        K[K_DAY_HIT] = 1
        K[K_PENDING] += 1
    if equity > S[S_DD_PEAK]:
        S[S_DD_PEAK] = equity
        S[S_DD_SOFT_FLOOR] = equity * (1.0 - P[P_SOFT])
        S[S_DD_HARD_FLOOR] = equity * (1.0 - P[P_HARD])
    if not K[K_HARD] and equity <= S[S_DD_HARD_FLOOR]:
        K[K_HARD] = 1
        K[K_PENDING] += 1
    soft = 1 if equity <= S[S_DD_SOFT_FLOOR] else 0
    if soft != K[K_SOFT]:
        K[K_SOFT] = soft
        K[K_PENDING] += 1
    if K[K_COOLDOWN]:
        K[K_COOLDOWN] -= 1
    elif K[K_BLOCKING]:
        K[K_BLOCKING] = 0
        K[K_PENDING] += 1
    if P[P_VAR_ON]:
        _var_update(P, S, K, price, var_ring, var_sorted)
    S[S_LAST_EQUITY] = equity
    _update_state(K)


@njit(cache=True)
def _var_update(P: np.ndarray, S: np.ndarray, K: np.ndarray, price: float, ring: np.ndarray,
                ordered: np.ndarray) -> None:
    """RollingHistoricalVaR.update: a ring of returns in arrival order and a sorted copy."""
    last = S[S_VAR_PRICE]
    S[S_VAR_PRICE] = price
    if last != last:
        return
    r = price / last - 1.0
    lookback = ring.shape[0]
    n = K[K_VAR_N]
    pos = np.searchsorted(ordered[:n], r, side="right")  # bisect.insort
    ordered[pos + 1:n + 1] = ordered[pos:n].copy()
    ordered[pos] = r
    n += 1
    if n > lookback:
        head = K[K_VAR_HEAD]
        old = ring[head]
        ring[head] = r
        K[K_VAR_HEAD] = (head + 1) % lookback
        at = np.searchsorted(ordered[:n], old, side="left")
        ordered[at:n - 1] = ordered[at + 1:n].copy()
        n -= 1
    else:
        ring[n - 1] = r
    K[K_VAR_N] = n
    if n < lookback:
        return
    lo = int(P[P_VAR_LEFT_LO])
    frac = P[P_VAR_LEFT_FRAC]
    left = ordered[lo]
    if frac:
        left += frac * (ordered[lo + 1] - left)
    lo = int(P[P_VAR_RIGHT_LO])
    frac = P[P_VAR_RIGHT_FRAC]
    right = ordered[lo]
    if frac:
        right += frac * (ordered[lo + 1] - right)
    S[S_VAR_LONG] = -left if left < 0.0 else 0.0
    S[S_VAR_SHORT] = right if right > 0.0 else 0.0


@njit(cache=True)
def _risk_check(P: np.ndarray, S: np.ndarray, K: np.ndarray, target: float, position: float,
                price: float, equity: float, regime: int, bar_vol: float) -> tuple[float, bool]:
    """AdvancedRiskManager.check: (approved shares, whether any rule acted)."""
    state = K[K_STATE]
    if state == HALTED:
        return position, target != position
    acted = False
    qty = target
    if qty != 0.0:
        scale = 1.0
        if K[K_SOFT]:
            scale = P[P_SOFT_SCALE]
            acted = True
        if P[P_VOL_ON]:
            vol_scale = _volatility_scale(bar_vol, P[P_ANNUALISER], P[P_VOL_TARGET], P[P_VOL_MIN])
            if vol_scale < 1.0:
                scale *= vol_scale
                acted = True
        qty *= scale
        size = abs(qty)
        at_risk = equity if equity > 0.0 else 0.0
        max_qty = P[P_MAX_POSITION] * at_risk / price
        if size > max_qty:
            acted = True
            qty = math.copysign(max_qty, qty)
            size = max_qty
        regime_qty = max_qty * P[P_CAP_TREND + regime]
        if size > regime_qty:
            acted = True
            qty = math.copysign(regime_qty, qty)
            size = regime_qty
        if P[P_VAR_ON]:
            loss = S[S_VAR_LONG] if qty > 0.0 else S[S_VAR_SHORT]
            if loss > 0.0:
                var_qty = P[P_VAR_LIMIT] * at_risk / (price * loss)
                if size > var_qty:
                    acted = True
                    qty = math.copysign(var_qty, qty)
    if state == REDUCING:
        approved = _reduce_only(qty, position)
        if approved != qty:
            acted = True
        qty = approved
    return qty, acted


@njit(cache=True)
def _adapt(P: np.ndarray, K: np.ndarray, weights: np.ndarray, fitness: np.ndarray, tcount: np.ndarray,
           reported: np.ndarray) -> None:
    """PolicyAdaptor.on_bar: on schedule, move each traded regime's weights toward softmax(fitness)."""
    K[K_ADAPT_BARS] += 1
    if K[K_ADAPT_BARS] < P[P_ADAPT_EVERY]:
        return
    K[K_ADAPT_BARS] = 0
    for r in range(weights.shape[0]):
        if not tcount[r].any():
            continue
        new = _bounded_simplex(_moved_weights(weights[r], fitness[r], P[P_LEARNING_RATE]), P[P_FLOOR], P[P_CAP])
        for a in range(weights.shape[1]):
            weights[r, a] = new[a]
            if abs(new[a] - reported[r, a]) > REPORT_THRESHOLD:
                reported[r, a] = new[a]
                K[K_EVENTS] += 1  # weight_change


@njit(cache=True)
def run_bars(start: int, stop: int, ts: np.ndarray, open_: np.ndarray, close: np.ndarray, volume: np.ndarray,
             atr: np.ndarray, garch: np.ndarray, day: np.ndarray, regime: np.ndarray, flipped: np.ndarray,
             spoke: np.ndarray, direction: np.ndarray, strength: np.ndarray, confidence: np.ndarray,
             P: np.ndarray, S: np.ndarray, K: np.ndarray, weights: np.ndarray, fitness: np.ndarray,
             tcount: np.ndarray, reported: np.ndarray, entry_mask: np.ndarray, entry_share: np.ndarray,
             order_mask: np.ndarray, order_share: np.ndarray, var_ring: np.ndarray, var_sorted: np.ndarray,
             out_equity: np.ndarray, out_drawdown: np.ndarray, out_position: np.ndarray,
             TF: np.ndarray, TI: np.ndarray) -> None:
    """Engine.advance for bars [start, stop); stops early with K[K_ERROR] set."""
    n_agents = spoke.shape[0]
    shares = np.zeros(n_agents)
    mask = np.zeros(n_agents, dtype=np.bool_)
    fill_close = P[P_FILL_CLOSE] != 0.0
    for i in range(start, stop):
        t = ts[i]
        if i > 0 and t < ts[i - 1]:
            K[K_ERROR] = 1
            return
        # broker.on_bar_open: a market order fills at this bar's open (next-open model)
        if K[K_WORKING] and not fill_close:
            _fill_working(P, S, K, TF, TI, open_[i], S[S_LAST_ATR], volume[i], t, fitness, tcount,
                          entry_mask, entry_share, order_mask, order_share)
            if K[K_ERROR]:
                return
        reg = regime[i]
        if flipped[i]:
            K[K_EVENTS] += 1
        price = close[i]
        if not 0.0 < price < np.inf:
            K[K_ERROR] = 1
            return
        # portfolio.mark
        S[S_PRICE] = price
        K[K_MARKS] += 1
        equity = _equity(S, K)
        if equity > S[S_PEAK]:
            S[S_PEAK] = equity
        if not -np.inf < equity < np.inf:
            K[K_ERROR] = 1
            return
        _risk_on_bar(P, S, K, day[i], price, equity, var_ring, var_sorted)
        if K[K_ERROR]:
            return
        # policy.decide
        total_w = 0.0
        weighted_conf = 0.0
        signal_sum = 0.0
        long_push = 0.0
        short_push = 0.0
        any_spoke = False
        for a in range(n_agents):
            if spoke[a, i]:
                any_spoke = True
                w = weights[reg, a]
                wc = w * confidence[a, i]
                total_w += w
                weighted_conf += wc
                push = wc * direction[a, i] * strength[a, i]
                signal_sum += push
                if push > 0.0:
                    long_push += push
                elif push < 0.0:
                    short_push -= push
        lead = -1
        any_share = False
        target = 0.0
        conf = 0.0
        hold = False
        if any_spoke:
            if weighted_conf <= 0.0:
                hold = True
            else:
                conf = weighted_conf / total_w
                target = signal_sum / weighted_conf
                sign = 1.0 if target > 0.0 else (-1.0 if target < 0.0 else 0.0)
                top = 0.0
                total = 0.0
                for a in range(n_agents):
                    mask[a] = False
                    if not spoke[a, i]:
                        continue
                    p = weights[reg, a] * confidence[a, i]
                    if sign != 0.0:
                        p = p * direction[a, i] * strength[a, i] * sign
                    elif direction[a, i] != 0:
                        p = 0.0
                    if p > 0.0:
                        mask[a] = True
                        shares[a] = p
                        total += p
                        any_share = True
                        if p > top:
                            lead = a
                            top = p
                if any_share:
                    for a in range(n_agents):
                        if mask[a]:
                            shares[a] = shares[a] / total
                else:
                    lead = -1
                if long_push > 0.0 and short_push > 0.0:
                    gross = long_push + short_push
                    if abs(long_push - short_push) < P[P_CONFLICT] * gross:
                        hold = True
                if not hold and conf < P[P_MIN_CONF]:
                    hold = True
        position = _position(S, K)
        max_shares = P[P_MAX_POSITION] * equity / price if price > 0.0 else 0.0
        wanted = position if hold else target * max_shares
        g = garch[i]
        bar_vol = g if g == g else atr[i] / price
        if bar_vol < 0.0 or bar_vol == np.inf:
            K[K_ERROR] = 1
            return
        approved, acted = _risk_check(P, S, K, wanted, position, price, equity, reg, bar_vol)
        # Engine._rebalance
        approved = float(math.trunc(approved))
        if K[K_WORKING]:
            K[K_WORKING] = 0
            K[K_EVENTS] += 1   # "superseded"
            K[K_PENDING] += 1  # the broker's CANCELLED event
        band = P[P_BAND] * max_shares
        ordered = False
        if _needs_trade(approved, position, band):
            delta = approved - position
            K[K_WORKING] = 1
            K[K_W_SIDE] = 1 if delta > 0.0 else -1
            S[S_W_REMAINING] = abs(delta)
            K[K_W_AGENT] = lead
            K[K_W_REGIME] = reg
            K[K_PENDING] += 1  # ACCEPTED
            K[K_ORDER_ANY] = 1 if any_share else 0
            for a in range(n_agents):
                order_mask[a] = mask[a] and any_share
                order_share[a] = shares[a] if order_mask[a] else 0.0
            ordered = True
        if (not hold and not ordered and acted and approved == position
                and _needs_trade(float(math.trunc(wanted)), position, band)):
            if conf >= HIGH_CONFIDENCE and K[K_STATE] != HALTED:
                K[K_EVENTS] += 1
        # _log_risk_events and _log_order_events: everything pending so far reaches the log
        K[K_EVENTS] += K[K_PENDING]
        K[K_PENDING] = 0
        if K[K_WORKING] and fill_close:
            _fill_working(P, S, K, TF, TI, price, atr[i], volume[i], t, fitness, tcount,
                          entry_mask, entry_share, order_mask, order_share)
            if K[K_ERROR]:
                return
        S[S_LAST_ATR] = atr[i]
        if P[P_ADAPT_ON]:
            _adapt(P, K, weights, fitness, tcount, reported)
        final = _equity(S, K)
        out_equity[i] = final
        dd = final / S[S_PEAK] - 1.0
        out_drawdown[i] = 0.0 if 0.0 < dd else dd  # min(dd, 0.0) as Python evaluates it
        out_position[i] = _position(S, K)
