"""Folds snapshot batches into what the burn-in checklist and the red-flag monitor judge.

Runs in the GUI thread on frozen batches only; resets its daily counters when the
exchange-local day of the status changes.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from app.snapshot import SnapshotBatch
from engine.config import Settings
from engine.observability.checklist_rules import LiveFacts
from engine.observability.red_flags import Observation


class FactsTracker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.data.timezone)
        self.day: date | None = None
        self._reset()

    def _reset(self) -> None:
        self.breaker_today = False
        self.daily_loss_hit = False
        self.high_conf_no_trades = 0
        self.day_open_weights: dict[str, float] = {}
        self.max_weight_change = 0.0

    def update(self, batch: SnapshotBatch) -> tuple[LiveFacts, Observation]:
        s = batch.status
        moment = datetime.fromtimestamp(s.ts / 1e9, tz=timezone.utc) if s.ts else datetime.now(timezone.utc)
        day = moment.astimezone(self.zone).date()
        if day != self.day:
            self.day = day
            self._reset()
        hard_hit = False
        no_trade_now = False
        breaker_now = False
        for e in batch.events:
            if e.rule == "circuit_breaker" and e.what == "tripped":
                self.breaker_today = breaker_now = True
            elif e.rule == "daily_loss_limit" and e.what == "hit":
                self.daily_loss_hit = True
            elif e.rule == "hard_drawdown" and e.what == "halted":
                hard_hit = True
            elif e.type == "no_trade_high_confidence":
                self.high_conf_no_trades += 1
                no_trade_now = True
        if not self.day_open_weights:
            self.day_open_weights = dict(batch.weights)
        for agent, w in batch.weights.items():
            self.max_weight_change = max(self.max_weight_change, abs(w - self.day_open_weights.get(agent, w)))
        risk = self.settings.risk
        facts = LiveFacts(
            trading_state=s.trading_state, engine_running=s.running, feed_connected=s.connected,
            broker_connected=s.connected, circuit_breaker_today=self.breaker_today,
            daily_loss_hit=self.daily_loss_hit, hard_drawdown_hit=hard_hit or s.drawdown <= -risk.hard_drawdown,
            drawdown=s.drawdown, soft_drawdown=risk.soft_drawdown, day_pnl_pct=s.day_pnl_pct,
            daily_loss_limit=risk.daily_loss_limit, max_weight_change=self.max_weight_change,
            top_agent_weight=max(batch.weights.values(), default=0.0),
            high_conf_no_trades=self.high_conf_no_trades,
        )
        observation = Observation(
            ts=moment, daily_loss_hit=self.daily_loss_hit, hard_drawdown_hit=facts.hard_drawdown_hit,
            circuit_breaker_active=breaker_now, day_pnl_pct=s.day_pnl_pct, drawdown=s.drawdown,
            weights=dict(batch.weights), high_confidence_no_trade=no_trade_now,
        )
        return facts, observation
