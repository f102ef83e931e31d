"""The live loop's daily routine: pre-market checks and the running day statistics.

A pre-market check reads the engine and says whether it is fit to trade today; failures are
reported (event log, summary line), not enforced: the risk manager is the one gate on orders.
`DayStats` sums one trading day up for the mid-day and end-of-day events.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.engine import Engine, StepResult
from engine.regime.regime import Regime
from engine.risk.state import TradingState


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


PreMarketCheck = Callable[[Engine], CheckResult]


def check_trading_state(engine: Engine) -> CheckResult:
    state = engine.risk.state
    if state is TradingState.HALTED:
        why = engine.risk.kill_reason or "hard drawdown"
        return CheckResult("trading_state", False, f"HALTED ({why}): re-arm before trading")
    return CheckResult("trading_state", True, state.value)


def check_no_working_orders(engine: Engine) -> CheckResult:
    working = engine.broker.open_orders()
    if working:
        ids = ", ".join(o.id for o in working[:5])
        return CheckResult("working_orders", False, f"{len(working)} order(s) still working from before: {ids}")
    return CheckResult("working_orders", True, "none")


def check_equity(engine: Engine) -> CheckResult:
    equity = engine.portfolio.equity
    if not (math.isfinite(equity) and equity > 0.0):
        return CheckResult("equity", False, f"equity {equity!r}: expected a positive amount")
    return CheckResult("equity", True, f"{equity:,.2f}, drawdown {engine.portfolio.drawdown:+.2%}")


DEFAULT_CHECKS: tuple[PreMarketCheck, ...] = (check_trading_state, check_no_working_orders, check_equity)


def run_checks(engine: Engine, checks: Sequence[PreMarketCheck]) -> list[CheckResult]:
    """Every check runs; one that raises is a failed check, not a stopped loop."""
    results = []
    for check in checks:
        name = getattr(check, "__name__", type(check).__name__)
        try:
            results.append(check(engine))
        except Exception as exc:  # a broken check must not take the trading loop down
            results.append(CheckResult(name, False, f"check raised {type(exc).__name__}: {exc}"))
    return results


@dataclass(slots=True)
class DayStats:
    """One trading day so far. `start_equity` is the equity before the day's first bar."""

    day: str | None = None           # ISO date of the trading day, None before its first task or bar
    start_equity: float = math.nan
    end_equity: float = math.nan
    bars: int = 0
    fills: int = 0
    trades: int = 0
    wins: int = 0
    trade_pnl: float = 0.0
    regime_bars: list[int] = field(default_factory=lambda: [0] * len(Regime))

    def add(self, result: StepResult) -> None:
        self.bars += 1
        self.fills += len(result.fills)
        for trade in result.trades:
            self.trades += 1
            self.wins += trade.pnl > 0.0
            self.trade_pnl += trade.pnl
        self.regime_bars[result.regime.regime] += 1
        self.end_equity = result.equity

    @property
    def pnl(self) -> float:
        return self.end_equity - self.start_equity if self.bars else 0.0

    def summary(self) -> dict[str, Any]:
        """The payload of the mid-day and end-of-day events."""
        shares = {r.label: (self.regime_bars[r] / self.bars if self.bars else 0.0) for r in Regime}
        return {
            "day": self.day, "bars": self.bars, "pnl": self.pnl,
            "return": self.pnl / self.start_equity if self.bars and self.start_equity > 0.0 else 0.0,
            "start_equity": self.start_equity if self.bars else None,
            "end_equity": self.end_equity if self.bars else None,
            "fills": self.fills, "trades": self.trades, "wins": self.wins, "trade_pnl": self.trade_pnl,
            "regime_shares": shares,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day, "start_equity": _plain(self.start_equity), "end_equity": _plain(self.end_equity),
                "bars": self.bars, "fills": self.fills, "trades": self.trades, "wins": self.wins,
                "trade_pnl": self.trade_pnl, "regime_bars": list(self.regime_bars)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DayStats":
        return cls(data["day"], _number(data["start_equity"]), _number(data["end_equity"]), int(data["bars"]),
                   int(data["fills"]), int(data["trades"]), int(data["wins"]), float(data["trade_pnl"]),
                   [int(n) for n in data["regime_bars"]])


def _plain(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _number(x: float | None) -> float:
    return math.nan if x is None else float(x)
