"""Invariants over random sequences of prices, equities, targets, trade results and commands."""
from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import CircuitBreakerSettings, RiskSettings, VaRSettings
from engine.regime.regime import Regime
from engine.risk import AdvancedRiskManager, TradingState

START = 100_000.0
SETTINGS = RiskSettings(
    daily_loss_limit=0.03,
    soft_drawdown=0.05,
    hard_drawdown=0.20,
    max_position=0.10,
    circuit_breaker=CircuitBreakerSettings(consecutive_losses=2, cooldown_bars=3),
    var=VaRSettings(lookback_bars=20, confidence=0.9, limit=0.005),
)
CAPS = [SETTINGS.regime_caps[r.label] for r in Regime]


@dataclass(frozen=True)
class Step:
    new_day: bool
    price: float
    equity: float
    target: float
    regime: Regime
    bar_vol: float
    trade_pnl: float | None
    command: str            # "", "kill" or "rearm"
    position_jump: float | None  # a position set from outside (a manual trade, a restart)


steps = st.builds(
    Step,
    new_day=st.integers(0, 9).map(lambda x: x == 0),
    price=st.floats(1.0, 1_000.0),
    equity=st.one_of(st.floats(90_000.0, 110_000.0), st.floats(-1_000.0, 200_000.0)),
    target=st.one_of(st.just(0.0), st.floats(-5_000.0, 5_000.0)),
    regime=st.sampled_from(list(Regime)),
    bar_vol=st.one_of(st.just(math.nan), st.floats(0.0, 0.02)),
    trade_pnl=st.one_of(st.none(), st.none(), st.floats(-500.0, 500.0)),
    command=st.sampled_from([""] * 18 + ["kill", "rearm"]),
    position_jump=st.one_of(st.none(), st.none(), st.none(), st.floats(-3_000.0, 3_000.0)),
)


def moves_toward_zero(approved: float, position: float) -> bool:
    return abs(approved) <= abs(position) and approved * position >= 0.0


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, min_size=1, max_size=80))
def test_risk_invariants_hold_over_random_sequences(sequence: list[Step]) -> None:
    mgr = AdvancedRiskManager(SETTINGS, START)
    position = 0.0
    day = 0
    # The daily loss limit from its definition: the day starts at the previous bar's equity.
    previous_equity, day_start, limit_hit = START, START, False
    for ts, step in enumerate(sequence):
        if step.new_day or ts == 0:
            day += 1
            day_start, limit_hit = previous_equity, False
        mgr.on_bar(ts, day, step.price, step.equity)
        limit_hit = limit_hit or step.equity <= day_start * (1.0 - SETTINGS.daily_loss_limit)
        previous_equity = step.equity
        if step.command == "kill":
            mgr.kill("test")
        elif step.command == "rearm" and step.equity > 0.0:
            mgr.rearm(confirm=True)
        if step.position_jump is not None:
            position = step.position_jump

        decision = mgr.check(step.target, position, step.price, step.equity, step.regime, step.bar_vol)
        approved = decision.approved
        assert decision.state is mgr.state
        if decision.state is TradingState.HALTED:
            assert approved == position
        else:
            cap = SETTINGS.max_position * CAPS[step.regime] * max(step.equity, 0.0)
            assert abs(approved) * step.price <= cap * (1.0 + 1e-9) + 1e-9
            # Risk only ever shrinks the policy's target; it never enlarges or flips it.
            assert abs(approved) <= abs(step.target) and approved * step.target >= 0.0
        if decision.state is TradingState.REDUCING:
            assert moves_toward_zero(approved, position)
        if limit_hit:
            assert decision.state is not TradingState.ACTIVE
            assert moves_toward_zero(approved, position)
        if step.command == "kill":
            assert decision.state is TradingState.HALTED
        if step.trade_pnl is not None:
            mgr.on_trade_closed(step.trade_pnl)
        position = approved
