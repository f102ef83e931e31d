"""Engine: the whole FutBot pipeline for one symbol, one bar at a time.

`step(bar)` is the path replays and live trading take, so a decision made there is the one
a backtest makes on the same bars. A backtest computes features, regimes and intents of a
whole series at once and runs the rest of `advance` in compiled code
(`engine/backtest/kernel.py`), or steps `advance(bar, row, regime_state)` with precomputed
rows; tests prove all three give equal results.

Order of work on a bar:
  broker fills from the previous bar (next-open model) -> portfolio, risk, rewards
  -> features -> regime -> mark to market -> risk bar update -> agents -> meta-policy
  -> risk check -> order -> broker close fills -> weight adaptation -> StepResult
"""
from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.adaptation.adaptor import PolicyAdaptor
from engine.adaptation.rewards import RewardTracker
from engine.agents.base import Agent, Intent
from engine.agents.registry import create_agents
from engine.config import Settings
from engine.data.bar import Bar
from engine.data.sessions import SessionClock
from engine.execution.broker import Broker
from engine.execution.orders import Fill, Order, OrderEvent, OrderStatus, Side
from engine.execution.paper import PaperBroker
from engine.features.frame import FeatureRow
from engine.features.pipeline import FeatureStream
from engine.observability.events import EventLogger
from engine.policy.controller import MetaPolicyController
from engine.policy.decision import Decision, NoTrade
from engine.portfolio.portfolio import Portfolio, Trade
from engine.regime.engine import RegimeEngine, RegimeState
from engine.regime.regime import Regime
from engine.risk.manager import AdvancedRiskManager
from engine.risk.state import RiskAction, TradingState

BARS_PER_YEAR = 252 * 390
HIGH_CONFIDENCE = 0.75


@dataclass(frozen=True, slots=True)
class StepResult:
    index: int
    ts: int                          # bar open time, ns UTC
    bar: Bar
    features: FeatureRow
    regime: RegimeState
    intents: tuple[Intent, ...]
    decision: Decision
    approved: float                  # signed shares the risk manager allowed
    trading_state: TradingState
    risk_actions: tuple[RiskAction, ...]
    orders: tuple[Order, ...]
    fills: tuple[Fill, ...]
    trades: tuple[Trade, ...]
    position: float
    cash: float
    equity: float
    drawdown: float


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        symbol: str | None = None,
        broker: Broker | None = None,
        agents: Sequence[Agent] | None = None,
        events: EventLogger | None = None,
        bars_per_year: float = BARS_PER_YEAR,
    ) -> None:
        self.settings = settings
        self.symbol = symbol or settings.data.symbol
        self.features = FeatureStream(settings)
        self.regime = RegimeEngine(settings.regime)
        self.agents = list(agents) if agents is not None else create_agents(
            settings.agents.enabled, settings.agents.params)
        names = [a.name for a in self.agents]
        if len(set(names)) != len(names):
            raise ValueError(f"each agent may run once; got {names}")
        self.policy = MetaPolicyController(settings.policy)
        self.rewards = RewardTracker(names, settings.adaptation.fitness_decay)
        self.adaptor = PolicyAdaptor(settings.adaptation, names)
        self.portfolio = Portfolio(settings.portfolio.initial_cash)
        self._bars_per_year = bars_per_year
        self.risk = AdvancedRiskManager(settings.risk, settings.portfolio.initial_cash, bars_per_year=bars_per_year)
        self.broker: Broker = broker or PaperBroker(settings.execution)
        self.events = events or EventLogger()
        self.clock = SessionClock(settings.data.timezone)
        self.index = -1
        self._order_ids = itertools.count(1)
        self._order_prefix = f"fb{time.time_ns() // 1_000_000:x}"
        self._entry_shares: tuple[tuple[str, float], ...] = ()  # who opened the current position
        self._order_shares: dict[str, tuple[tuple[str, float], ...]] = {}
        self._last_atr = math.nan
        self._last_ts = 0
        self._last_close = math.nan
        self._pnl_n = 0
        self._pnl_mean = 0.0
        self._pnl_m2 = 0.0
        self._cache_settings()

    def _cache_settings(self) -> None:
        # Read on every bar: plain attributes spare two attribute chains per bar.
        self._max_position = self.settings.risk.max_position
        self._rebalance_band = self.settings.policy.rebalance_band

    # -- the one path -------------------------------------------------------------------
    def step(self, bar: Bar) -> StepResult:
        return self.advance(bar, self.features.update(bar))

    def warm(self, bar: Bar) -> None:
        """Feed a bar to the features, the regime engine and the agents without trading.

        A restart replays the session's earlier bars through here to rebuild every
        indicator's state exactly, then restores the committed portfolio, risk and weights.
        """
        row = self.features.update(bar)
        regime = self.regime.update(row).regime
        for agent in self.agents:
            agent.on_bar(row, regime)
        self.index += 1
        self._last_ts = row.ts
        self._last_atr = row.atr
        self._last_close = bar.close

    def advance(self, bar: Bar, row: FeatureRow, regime_state: RegimeState | None = None) -> StepResult:
        """One bar with its features (and optionally its regime) already computed; `step`
        computes both streaming. A backtest passes `RegimeEngine.replay` states."""
        self.index += 1
        ts = row.ts
        self._last_ts = ts
        fills: list[Fill] = []
        trades: list[Trade] = []
        opened = self.broker.on_bar_open(bar, self._last_atr)
        if opened:
            self._settle(opened, fills, trades)

        if regime_state is None:
            regime_state = self.regime.update(row)
        regime = regime_state.regime
        if regime_state.flipped:
            self.events.log(ts, "regime_flip", regime=regime.label, confidence=regime_state.confidence,
                            reasons=list(regime_state.reasons))
        price = bar.close
        self._last_close = price
        equity = self.portfolio.mark(ts, self.symbol, price)
        self.risk.on_bar(ts, self.clock.day(ts), price, equity)

        spoke: list[Intent] = []
        for agent in self.agents:
            intent = agent.on_bar(row, regime)
            if intent is not None:
                spoke.append(intent)
        intents = tuple(spoke)
        decision = self.policy.decide(intents, self.adaptor.weights[regime])
        position = self.portfolio.position(self.symbol)
        max_shares = self._max_position * equity / price if price > 0.0 else 0.0
        wanted = position if decision.hold else decision.target * max_shares
        # GARCH sigma of one-bar returns; before its first fit, ATR as a share of price stands in.
        bar_vol = row.garch_vol if row.garch_vol == row.garch_vol else row.atr / price
        verdict = self.risk.check(wanted, position, price, equity, regime, bar_vol)
        orders = self._rebalance(verdict.approved, position, max_shares, decision, regime, ts)
        band = self._rebalance_band * max_shares
        if (not decision.hold and not orders and verdict.actions
                and float(math.trunc(verdict.approved)) == position
                and needs_trade(float(math.trunc(wanted)), position, band)):
            # The policy wanted a trade and risk held the position where it was.
            decision = _blocked(decision, verdict.state, verdict.actions)
            if decision.confidence >= HIGH_CONFIDENCE and verdict.state is not TradingState.HALTED:
                self.events.log(ts, "no_trade_high_confidence", confidence=decision.confidence,
                                reason=decision.reason)
        self._log_risk_events()
        self._log_order_events()

        closed = self.broker.on_bar_close(bar, row.atr)
        if closed:
            self._settle(closed, fills, trades)
        self._last_atr = row.atr
        for change in self.adaptor.on_bar(self.rewards):
            self.events.log(ts, "weight_change", regime=change.regime.label, agent=change.agent,
                            old=change.old, new=change.new)
        return StepResult(
            self.index, ts, bar, row, regime_state, intents, decision, verdict.approved, verdict.state,
            verdict.actions, tuple(orders), tuple(fills), tuple(trades),
            self.portfolio.position(self.symbol), self.portfolio.cash, self.portfolio.equity,
            self.portfolio.drawdown,
        )

    # -- orders and fills ---------------------------------------------------------------
    def _rebalance(self, approved: float, position: float, max_shares: float, decision: Decision,
                   regime: Regime, ts: int) -> list[Order]:
        """Trade toward `approved` in whole shares, unless the change is inside the band."""
        approved = float(math.trunc(approved))  # whole shares, never beyond what risk allowed
        working = self.broker.open_orders()
        if working:
            # A remainder from a volume-capped fill is superseded by the new target.
            for event in self.broker.cancel_all():
                self.events.log(ts, "order", id=event.order_id, status=event.status.value, reason="superseded")
        if not needs_trade(approved, position, self._rebalance_band * max_shares):
            return []
        delta = approved - position
        order = Order(
            id=f"{self._order_prefix}-{next(self._order_ids)}", symbol=self.symbol,
            side=Side.BUY if delta > 0.0 else Side.SELL, qty=abs(delta), ts=ts,
            agent=decision.lead, regime=regime.label, reason=decision.reason,
        )
        answer = self.broker.submit(order)
        if answer.status is OrderStatus.REJECTED:
            self.events.log(ts, "order_rejected", id=order.id, reason=answer.reason)
            return []
        self._order_shares[order.id] = decision.shares
        return [order]

    def _settle(self, new_fills: Sequence[Fill], fills: list[Fill], trades: list[Trade]) -> None:
        for fill in new_fills:
            before = self.portfolio.position(fill.symbol)
            # The portfolio reports a fill only after it is booked (persistence hooks in here).
            trade = self.portfolio.apply_fill(fill)
            after = self.portfolio.position(fill.symbol)
            fills.append(fill)
            self.events.log(fill.ts, "fill", id=fill.order_id, side=fill.side.value, qty=fill.qty,
                            price=fill.price, commission=fill.commission, agent=fill.agent)
            if trade is not None:
                trades.append(trade)
                self._book_trade(trade)  # credited to the agents that opened the position
            if after != 0.0 and (before == 0.0 or (after > 0.0) != (before > 0.0)):
                self._entry_shares = self._order_shares.get(fill.order_id, ())

    def _book_trade(self, trade: Trade) -> None:
        self.risk.on_trade_closed(trade.pnl)
        equity = self.portfolio.equity
        regime = Regime.parse(trade.regime) if trade.regime else self.regime.current
        self.rewards.record(trade.pnl, equity, regime, self._entry_shares)
        self.events.log(trade.exit_ts, "trade_closed", pnl=trade.pnl, agent=trade.agent, regime=trade.regime)
        self._pnl_n += 1
        d = trade.pnl - self._pnl_mean
        self._pnl_mean += d / self._pnl_n
        self._pnl_m2 += d * (trade.pnl - self._pnl_mean)
        if self._pnl_n >= 20:
            sd = math.sqrt(self._pnl_m2 / (self._pnl_n - 1))
            if sd > 0.0 and abs(trade.pnl - self._pnl_mean) > 3.0 * sd:
                self.events.log(trade.exit_ts, "outlier_pnl", pnl=trade.pnl, mean=self._pnl_mean, sd=sd)

    def _log_risk_events(self) -> None:
        for e in self.risk.drain_events():
            self.events.log(e.ts, "kill_switch" if e.rule == "kill_switch" else "risk_event",
                            rule=e.rule, what=e.what, reason=e.reason)

    def _log_order_events(self) -> None:
        for e in self.broker.drain_events():
            if not e.status.is_working:
                self._order_shares.pop(e.order_id, None)
            if e.status is not OrderStatus.REJECTED:
                self.events.log(e.ts, "order", id=e.order_id, status=e.status.value,
                                filled=e.filled_qty, remaining=e.remaining)

    @property
    def last_ts(self) -> int:
        """Open time (ns UTC) of the last bar stepped, 0 before the first."""
        return self._last_ts

    # -- commands (between bars) --------------------------------------------------------
    def apply_settings(self, settings: Settings) -> None:
        """Swap in new policy, adaptation, risk and execution settings between two bars.

        The risk manager keeps its state (peak, daily counters, breaker, HALTED) across the
        swap; a paper broker with working orders keeps its models until they are done.
        """
        self.settings = settings
        self._cache_settings()
        self.policy = MetaPolicyController(settings.policy)
        self.adaptor.settings = settings.adaptation
        snapshot = self.risk.snapshot()
        self.risk = AdvancedRiskManager(settings.risk, settings.portfolio.initial_cash,
                                        bars_per_year=self._bars_per_year)
        self.risk.restore(snapshot)
        if isinstance(self.broker, PaperBroker) and not self.broker.open_orders():
            self.broker = PaperBroker(settings.execution)

    def kill(self, reason: str, flatten: bool | None = None) -> list[OrderEvent]:
        """Halt at once, cancel every working order and, if chosen, flatten the position."""
        self.risk.kill(reason)
        answers = self.broker.cancel_all()
        position = self.portfolio.position(self.symbol)
        if (self.settings.risk.flatten_on_kill if flatten is None else flatten) and position != 0.0:
            order = Order(
                id=f"{self._order_prefix}-{next(self._order_ids)}", symbol=self.symbol,
                side=Side.SELL if position > 0.0 else Side.BUY, qty=abs(position), ts=self._last_ts,
                reason="kill switch: flatten",
            )
            answers.append(self.broker.submit(order))
        self._log_risk_events()
        self._log_order_events()
        return answers

    def rearm(self, confirm: bool) -> None:
        self.risk.rearm(confirm)
        self.events.log(self._last_ts, "rearm", confirmed=confirm)
        self._log_risk_events()

    # -- checkpoint accessors (engine.persistence.checkpoint) -----------------------------
    @property
    def order_prefix(self) -> str:
        return self._order_prefix

    def use_order_prefix(self, prefix: str) -> None:
        """Client order ids become `<prefix>-<n>`: a session keeps one prefix across restarts."""
        if not isinstance(prefix, str) or not prefix.strip():
            raise ValueError(f"order prefix = {prefix!r}: expected a non-empty string")
        self._order_prefix = prefix

    def checkpoint_state(self) -> dict[str, Any]:
        """The engine's own counters and attribution, which replaying bars through `warm` cannot
        rebuild, plus the adaptor's private schedule; plain JSON types (None for NaN)."""
        next_order = next(self._order_ids)
        self._order_ids = itertools.count(next_order)  # reading a count consumes it: put it back
        return {
            "index": self.index, "last_ts": self._last_ts,
            "last_atr": _plain(self._last_atr), "last_close": _plain(self._last_close),
            "order_prefix": self._order_prefix, "next_order": next_order,
            "entry_shares": [[agent, share] for agent, share in self._entry_shares],
            "order_shares": {oid: [[a, s] for a, s in shares] for oid, shares in self._order_shares.items()},
            "pnl_stats": [self._pnl_n, self._pnl_mean, self._pnl_m2],
            "adaptor_bars": self.adaptor._bars,
            "adaptor_reported": {r.label: dict(w) for r, w in self.adaptor._reported.items()},
        }

    def restore_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Load what `checkpoint_state` wrote (after `adaptor.restore`, which resets its reports)."""
        missing = sorted(_CHECKPOINT_KEYS - set(state))
        if missing:
            raise ValueError(f"engine checkpoint state: missing keys {missing}")
        self.index = int(state["index"])
        self._last_ts = int(state["last_ts"])
        self._last_atr = math.nan if state["last_atr"] is None else float(state["last_atr"])
        self._last_close = math.nan if state["last_close"] is None else float(state["last_close"])
        self.use_order_prefix(state["order_prefix"])
        self._order_ids = itertools.count(int(state["next_order"]))
        self._entry_shares = tuple((str(a), float(s)) for a, s in state["entry_shares"])
        self._order_shares = {str(oid): tuple((str(a), float(s)) for a, s in shares)
                              for oid, shares in state["order_shares"].items()}
        n, mean, m2 = state["pnl_stats"]
        self._pnl_n, self._pnl_mean, self._pnl_m2 = int(n), float(mean), float(m2)
        self.adaptor._bars = int(state["adaptor_bars"])
        for label, weights in state["adaptor_reported"].items():
            self.adaptor._reported[Regime.parse(label)].update({a: float(w) for a, w in weights.items()})


_CHECKPOINT_KEYS = frozenset({
    "index", "last_ts", "last_atr", "last_close", "order_prefix", "next_order", "entry_shares",
    "order_shares", "pnl_stats", "adaptor_bars", "adaptor_reported",
})


def _plain(x: float) -> float | None:
    return x if math.isfinite(x) else None


def needs_trade(approved: float, position: float, band: float) -> bool:
    """Whether moving from `position` to `approved` shares is worth an order (the compiled
    backtest runs this very function, through numba)."""
    if approved == position:
        return False
    if approved == 0.0 or position == 0.0 or (approved > 0.0) != (position > 0.0):
        return True
    return abs(approved - position) > band


def _blocked(decision: Decision, state: TradingState, actions: tuple[RiskAction, ...]) -> Decision:
    code = NoTrade.HALTED if state is TradingState.HALTED else NoTrade.RISK
    reason = "; ".join(f"{a.rule}: {a.reason}" for a in actions)
    return Decision(decision.target, decision.confidence, True, code, reason, decision.lead, decision.shares)
