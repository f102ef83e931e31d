"""Red flags of the burn-in period, raised from the engine's per-bar facts.

`RedFlagMonitor.observe(obs)` takes one `Observation` per bar and returns the alerts that bar
starts. Every flag is a condition; an alert is raised when the condition becomes true and not
again until it has been false once (one alert per episode, not one per bar).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Severity(StrEnum):
    CRITICAL = "critical"   # stop trading now
    WARNING = "warning"     # look at it today


class RedFlag(StrEnum):
    DAILY_LOSS = "daily_loss"
    HARD_DRAWDOWN = "hard_drawdown"
    CIRCUIT_BREAKER = "circuit_breaker"
    WEIGHT_SWING = "weight_swing"
    AGENT_DOMINANCE = "agent_dominance"
    HIGH_CONFIDENCE_NO_TRADE = "high_confidence_no_trade"


@dataclass(frozen=True, slots=True)
class Alert:
    ts: datetime
    flag: RedFlag
    severity: Severity
    text: str


@dataclass(frozen=True, slots=True)
class Observation:
    """What the engine knows after one bar.

    `weights` maps a stable key (an agent, or "regime/agent" when weights are kept per regime)
    to its weight; swings and dominance are judged per key.
    """

    ts: datetime
    daily_loss_hit: bool = False
    hard_drawdown_hit: bool = False
    circuit_breaker_active: bool = False
    day_pnl_pct: float = 0.0          # fraction, e.g. -0.031
    drawdown: float = 0.0             # fraction <= 0
    weights: Mapping[str, float] = field(default_factory=dict)
    high_confidence_no_trade: bool = False   # the policy stood aside although confidence was high


DEFAULT_SWING_THRESHOLD = 0.15
DEFAULT_SWING_WINDOW_BARS = 60
DEFAULT_DOMINANCE_WEIGHT = 0.6
DEFAULT_DOMINANCE_BARS = 390
DEFAULT_NO_TRADE_LIMIT = 10
DEFAULT_NO_TRADE_WINDOW_BARS = 390


class _Episodes:
    """Remembers which conditions are currently true, to report only their rising edges."""

    def __init__(self) -> None:
        self._active: set[Hashable] = set()

    def starts(self, key: Hashable, condition: bool) -> bool:
        if not condition:
            self._active.discard(key)
            return False
        if key in self._active:
            return False
        self._active.add(key)
        return True


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


class RedFlagMonitor:
    """Turns a stream of per-bar observations into red-flag alerts."""

    def __init__(
        self,
        *,
        swing_threshold: float = DEFAULT_SWING_THRESHOLD,
        swing_window_bars: int = DEFAULT_SWING_WINDOW_BARS,
        dominance_weight: float = DEFAULT_DOMINANCE_WEIGHT,
        dominance_bars: int = DEFAULT_DOMINANCE_BARS,
        no_trade_limit: int = DEFAULT_NO_TRADE_LIMIT,
        no_trade_window_bars: int = DEFAULT_NO_TRADE_WINDOW_BARS,
    ) -> None:
        _positive("swing_threshold", swing_threshold)
        _positive("swing_window_bars", swing_window_bars)
        _positive("dominance_bars", dominance_bars)
        _positive("no_trade_limit", no_trade_limit)
        _positive("no_trade_window_bars", no_trade_window_bars)
        if not 0.0 < dominance_weight < 1.0:
            raise ValueError(f"dominance_weight must be between 0 and 1 (exclusive), got {dominance_weight!r}")
        if no_trade_limit >= no_trade_window_bars:
            raise ValueError(
                f"no_trade_limit ({no_trade_limit}) must be below no_trade_window_bars ({no_trade_window_bars})"
            )
        self.swing_threshold = swing_threshold
        self.swing_window_bars = swing_window_bars
        self.dominance_weight = dominance_weight
        self.dominance_bars = dominance_bars
        self.no_trade_limit = no_trade_limit
        self.no_trade_window_bars = no_trade_window_bars
        self._episodes = _Episodes()
        # The current bar plus `swing_window_bars` before it: a move "within N bars".
        self._weight_history: dict[str, deque[float]] = {}
        self._dominant_run: dict[str, int] = {}
        self._no_trades: deque[bool] = deque(maxlen=no_trade_window_bars)
        self._no_trade_count = 0

    def observe(self, obs: Observation) -> list[Alert]:
        alerts: list[Alert] = []

        def raise_if(key: Hashable, condition: bool, flag: RedFlag, severity: Severity, text: Callable[[], str]) -> None:
            # The text is built only when an episode starts: this runs for every bar.
            if self._episodes.starts(key, condition):
                alerts.append(Alert(obs.ts, flag, severity, text()))

        raise_if(RedFlag.DAILY_LOSS, obs.daily_loss_hit, RedFlag.DAILY_LOSS, Severity.CRITICAL,
                 lambda: f"Daily loss limit hit (day {obs.day_pnl_pct:+.2%}): stop trading immediately.")
        raise_if(RedFlag.HARD_DRAWDOWN, obs.hard_drawdown_hit, RedFlag.HARD_DRAWDOWN, Severity.CRITICAL,
                 lambda: f"Hard drawdown limit hit (drawdown {obs.drawdown:+.2%}): stop trading immediately.")
        raise_if(RedFlag.CIRCUIT_BREAKER, obs.circuit_breaker_active, RedFlag.CIRCUIT_BREAKER, Severity.WARNING,
                 lambda: "Circuit breaker triggered: review the recent trades.")

        for key, weight in obs.weights.items():
            history = self._weight_history.setdefault(key, deque(maxlen=self.swing_window_bars + 1))
            history.append(weight)
            swing = max(history) - min(history)
            raise_if((RedFlag.WEIGHT_SWING, key), swing > self.swing_threshold, RedFlag.WEIGHT_SWING,
                     Severity.WARNING,
                     lambda: f"Weight of {key} moved {swing:.2f} within {self.swing_window_bars} bars "
                             f"(limit {self.swing_threshold:.2f}): adaptation may be overfitting.")

            run = self._dominant_run.get(key, 0) + 1 if weight > self.dominance_weight else 0
            self._dominant_run[key] = run
            raise_if((RedFlag.AGENT_DOMINANCE, key), run >= self.dominance_bars, RedFlag.AGENT_DOMINANCE,
                     Severity.WARNING,
                     lambda: f"{key} has held a weight above {self.dominance_weight:.2f} for {run} bars "
                             f"(now {weight:.2f}): the agents may need rebalancing.")

        if len(self._no_trades) == self._no_trades.maxlen:
            self._no_trade_count -= self._no_trades[0]
        self._no_trades.append(obs.high_confidence_no_trade)
        self._no_trade_count += obs.high_confidence_no_trade
        count = self._no_trade_count
        raise_if(RedFlag.HIGH_CONFIDENCE_NO_TRADE, count > self.no_trade_limit, RedFlag.HIGH_CONFIDENCE_NO_TRADE,
                 Severity.WARNING,
                 lambda: f"{count} high-confidence no-trade decisions in the last {len(self._no_trades)} bars "
                         f"(limit {self.no_trade_limit}): risk settings may be too conservative.")
        return alerts
