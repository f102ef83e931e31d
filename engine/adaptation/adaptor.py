"""PolicyAdaptor: moves each regime's agent weights toward what has been working."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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
        s = self.settings
        moved = moved_weights(np.array([weights[a] for a in self.agents]),
                              np.array([fitness[a] for a in self.agents]), s.learning_rate)
        return dict(zip(self.agents, bounded_simplex_array(moved, s.weight_floor, s.weight_cap).tolist()))

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


# The two functions below are plain loops over float64 arrays that call nothing but math and
# numpy, so the compiled backtest (engine/backtest/kernel.py) runs these very functions
# through numba: one source for both paths.

def moved_weights(weights: np.ndarray, fitness: np.ndarray, learning_rate: float) -> np.ndarray:
    """(1 - lr) * w + lr * softmax(fitness / spread), agents in order; the goal is the equal
    split when every fitness is the same. Sums run left to right."""
    n = weights.shape[0]
    top = fitness[0]
    bottom = fitness[0]
    for a in range(1, n):
        top = max(top, fitness[a])
        bottom = min(bottom, fitness[a])
    spread = top - bottom
    goal = np.empty(n)
    if spread > 0.0:
        total = 0.0
        for a in range(n):
            goal[a] = math.exp((fitness[a] - top) / spread)
            total += goal[a]
        for a in range(n):
            goal[a] = goal[a] / total
    else:
        goal[:] = 1.0 / n
    moved = np.empty(n)
    for a in range(n):
        moved[a] = (1.0 - learning_rate) * weights[a] + learning_rate * goal[a]
    return moved


def bounded_simplex_array(values: np.ndarray, floor: float, cap: float) -> np.ndarray:
    """Weights proportional to `values` as far as the bounds allow: wᵢ = clip(t·vᵢ, floor, cap)
    with the one scale t that makes them sum to 1. The sum is piecewise linear and rising in
    t, so t is solved exactly on the segment between two breakpoints (floor/vᵢ, cap/vᵢ). If
    the bounds cannot hold together (n·floor > 1 or n·cap < 1) the equal split is returned.
    """
    n = values.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    if n * floor > 1.0 or n * cap < 1.0:
        out[:] = 1.0 / n
        return out
    # A tiny positive base keeps a zero value from being stuck at the floor when the
    # others are all capped and the sum would stay below 1.
    v = np.empty(n)
    for a in range(n):
        v[a] = max(values[a], 0.0) + 1e-12
    bounds = np.empty(2 * n)
    for a in range(n):
        bounds[2 * a] = floor / v[a]
        bounds[2 * a + 1] = cap / v[a]
    lo = 0.0
    hi = 0.0
    found = False
    for b in np.unique(bounds):
        total = 0.0
        for a in range(n):
            total += min(max(b * v[a], floor), cap)
        if total >= 1.0:
            hi = b
            found = True
            break
        lo = b
    if not found:
        hi = lo
    # On [lo, hi] the free weights (strictly between the bounds) scale linearly with t.
    mid = 0.5 * (lo + hi)
    free = 0.0
    pinned = 0.0
    for a in range(n):
        if floor < mid * v[a] < cap:
            free += v[a]
    for a in range(n):
        if not floor < mid * v[a] < cap:
            pinned += min(max(mid * v[a], floor), cap)
    t = (1.0 - pinned) / free if free > 0.0 else hi
    for a in range(n):
        out[a] = min(max(t * v[a], floor), cap)
    return out


def bounded_simplex(values: Sequence[float], floor: float, cap: float) -> list[float]:
    """`bounded_simplex_array` of a plain sequence."""
    return bounded_simplex_array(np.asarray(values, dtype=np.float64), floor, cap).tolist()
