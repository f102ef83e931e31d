"""RewardTracker: turns closed trades into a fitness per agent and regime."""
from __future__ import annotations

from collections.abc import Sequence

from engine.regime.regime import Regime


class RewardTracker:
    """Fitness is an exponentially weighted mean of each agent's attributed trade returns.

    A closed trade's result, in basis points of equity, is split between the agents in
    proportion to their share of the push that opened it, and booked to the regime the
    position was opened in. `decay` close to 1 remembers longer.
    """

    def __init__(self, agents: Sequence[str], decay: float) -> None:
        self.agents = tuple(agents)
        self.decay = decay
        self.fitness: dict[Regime, dict[str, float]] = {r: {a: 0.0 for a in self.agents} for r in Regime}
        self.trades: dict[Regime, dict[str, int]] = {r: {a: 0 for a in self.agents} for r in Regime}

    def record(self, pnl: float, equity: float, regime: Regime, shares: Sequence[tuple[str, float]]) -> None:
        if equity <= 0.0 or not shares:
            return
        bps = 1e4 * pnl / equity
        fit = self.fitness[regime]
        counts = self.trades[regime]
        for agent, share in shares:
            if agent in fit:
                fit[agent] = self.decay * fit[agent] + (1.0 - self.decay) * bps * share
                counts[agent] += 1

    def table(self) -> dict[str, dict[str, float]]:
        """agent -> regime label -> fitness, a plain copy for snapshots."""
        return {a: {r.label: self.fitness[r][a] for r in Regime} for a in self.agents}

    def restore(self, table: dict[str, dict[str, float]]) -> None:
        for agent, per_regime in table.items():
            for label, value in per_regime.items():
                regime = Regime.parse(label)
                if agent in self.fitness[regime]:
                    self.fitness[regime][agent] = float(value)
