"""PolicyAdaptor: moves each regime's agent weights toward what has been working."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from engine.adaptation.rewards import RewardTracker
from engine.config import AdaptationSettings
from engine.regime.regime import Regime


@dataclass(frozen=True, slots=True)
class WeightChange:
    regime: Regime
    agent: str
    old: float
    new: float


class PolicyAdaptor:
    """Every `update_interval_bars` bars, for every regime:

    goal = softmax(fitness / spread)            (spread = the fitness range, so the scale of
                                                 PnL does not decide how sharp the goal is)
    w   <- (1 - learning_rate) * w + learning_rate * goal
    then w is clipped to [weight_floor, weight_cap] and renormalised to sum to 1.
    Changes above 5 points since last reported are returned for the event log.
    """

    REPORT_THRESHOLD = 0.05

    def __init__(self, settings: AdaptationSettings, agents: Sequence[str]) -> None:
        self.settings = settings
        self.agents = tuple(agents)
        equal = 1.0 / len(self.agents) if self.agents else 0.0
        self.weights: dict[Regime, dict[str, float]] = {r: {a: equal for a in self.agents} for r in Regime}
        self._reported = {r: dict(w) for r, w in self.weights.items()}
        self._bars = 0

    def on_bar(self, rewards: RewardTracker) -> list[WeightChange]:
        """Count a bar; on schedule, adapt. Returns the changes worth reporting."""
        if not self.settings.enabled or not self.agents:
            return []
        self._bars += 1
        if self._bars < self.settings.update_interval_bars:
            return []
        self._bars = 0
        changes: list[WeightChange] = []
        for regime in Regime:
            if any(rewards.trades[regime].values()):
                self.weights[regime] = self._step(self.weights[regime], rewards.fitness[regime])
                changes.extend(self._report(regime))
        return changes

    def _step(self, weights: dict[str, float], fitness: dict[str, float]) -> dict[str, float]:
        values = [fitness[a] for a in self.agents]
        spread = max(values) - min(values)
        if spread > 0.0:
            exps = [math.exp((v - max(values)) / spread) for v in values]
            goal = [e / _sum(exps) for e in exps]
        else:
            goal = [1.0 / len(values)] * len(values)
        lr = self.settings.learning_rate
        moved = [(1.0 - lr) * weights[a] + lr * g for a, g in zip(self.agents, goal)]
        return dict(zip(self.agents, bounded_simplex(moved, self.settings.weight_floor, self.settings.weight_cap)))

    def _report(self, regime: Regime) -> list[WeightChange]:
        out = []
        last = self._reported[regime]
        for agent, new in self.weights[regime].items():
            if abs(new - last[agent]) > self.REPORT_THRESHOLD:
                out.append(WeightChange(regime, agent, last[agent], new))
                last[agent] = new
        return out

    def table(self) -> dict[str, dict[str, float]]:
        """regime label -> agent -> weight, a plain copy for snapshots and persistence."""
        return {r.label: dict(w) for r, w in self.weights.items()}

    def restore(self, table: dict[str, dict[str, float]]) -> None:
        for label, per_agent in table.items():
            regime = Regime.parse(label)
            for agent, value in per_agent.items():
                if agent in self.weights[regime]:
                    self.weights[regime][agent] = float(value)
        self._reported = {r: dict(w) for r, w in self.weights.items()}


def bounded_simplex(values: Sequence[float], floor: float, cap: float) -> list[float]:
    """Weights proportional to `values` as far as the bounds allow: wᵢ = clip(t·vᵢ, floor, cap)
    with the one scale t that makes them sum to 1. The sum is piecewise linear and rising in
    t, so t is solved exactly on the segment between two breakpoints (floor/vᵢ, cap/vᵢ). If
    the bounds cannot hold together (n·floor > 1 or n·cap < 1) the equal split is returned.
    """
    n = len(values)
    if n == 0:
        return []
    if n * floor > 1.0 or n * cap < 1.0:
        return [1.0 / n] * n
    # A tiny positive base keeps a zero value from being stuck at the floor when the
    # others are all capped and the sum would stay below 1.
    v = [max(x, 0.0) + 1e-12 for x in values]

    def total(t: float) -> float:
        return _sum([min(max(t * x, floor), cap) for x in v])

    breaks = sorted({b for x in v for b in (floor / x, cap / x)})
    lo = 0.0
    for hi in breaks:
        if total(hi) >= 1.0:
            break
        lo = hi
    else:
        hi = lo
    # On [lo, hi] the free weights (strictly between the bounds) scale linearly with t.
    mid = 0.5 * (lo + hi)
    free = _sum([x for x in v if floor < mid * x < cap])
    pinned = _sum([min(max(mid * x, floor), cap) for x in v if not floor < mid * x < cap])
    t = (1.0 - pinned) / free if free > 0.0 else hi
    return [min(max(t * x, floor), cap) for x in v]


def _sum(values: Sequence[float]) -> float:
    """Left-to-right float sum, as the compiled backtest adds; `sum()` rounds differently on 3.12+."""
    total = 0.0
    for x in values:
        total += x
    return total
