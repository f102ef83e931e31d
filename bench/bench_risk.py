"""Run: python -m bench.bench_risk

Nanoseconds per on_bar + check of the AdvancedRiskManager over 500,000 synthetic 1-minute bars.

Two runs: a quiet one where no layer binds (the common case the hot path is built for),
and a busy one where volatility scaling, the caps and VaR act on most bars. The figures
include the loop's own bookkeeping, printed first for reference.
"""
from __future__ import annotations

import time

import numpy as np

from engine.config import RiskSettings
from engine.regime.regime import Regime
from engine.risk import AdvancedRiskManager

BARS = 500_000
BARS_PER_DAY = 390


def inputs() -> tuple[list[float], list[float], list[Regime]]:
    rng = np.random.default_rng(7)
    prices = (400.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0004, BARS)))).tolist()
    equities = (100_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.00002, BARS)))).tolist()
    regimes = [Regime(int(r)) for r in rng.integers(0, 4, BARS)]
    return prices, equities, regimes


def loop_alone() -> None:
    prices, equities, regimes = inputs()
    position = 0.0
    start = time.perf_counter_ns()
    for i in range(BARS):
        price = prices[i]
        equity = equities[i]
        target = 0.01 * equity / price * (1.0 if i % 200 < 100 else -1.0)
        position = target if regimes[i] else position
    elapsed = time.perf_counter_ns() - start
    print(f"{'loop bookkeeping alone':<44} {elapsed / BARS:8.0f} ns per bar")


def run(label: str, target_share: float, bar_vol: float) -> None:
    prices, equities, regimes = inputs()
    settings = RiskSettings(daily_loss_limit=0.5, soft_drawdown=0.6, hard_drawdown=0.9)
    mgr = AdvancedRiskManager(settings, 100_000.0)
    position = 0.0
    acted = 0
    start = time.perf_counter_ns()
    for i in range(BARS):
        price = prices[i]
        equity = equities[i]
        mgr.on_bar(i * 60_000_000_000, i // BARS_PER_DAY, price, equity)
        target = target_share * equity / price * (1.0 if i % 200 < 100 else -1.0)
        decision = mgr.check(target, position, price, equity, regimes[i], bar_vol)
        position = decision.approved
        acted += bool(decision.actions)
    elapsed = time.perf_counter_ns() - start
    mgr.drain_events()
    print(f"{label:<44} {elapsed / BARS:8.0f} ns per on_bar+check   ({acted / BARS:.0%} of bars with actions)")


def main() -> None:
    print(f"AdvancedRiskManager, {BARS:,} bars")
    loop_alone()
    run("quiet: nothing binds", target_share=0.01, bar_vol=0.0004)
    run("busy: vol scaling + caps + VaR bind", target_share=0.5, bar_vol=0.003)


if __name__ == "__main__":
    main()
