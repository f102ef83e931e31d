"""Turns engine step results into the GUI's frozen `SnapshotBatch` values.

Runs in the engine thread; only plain values leave it.
"""
from __future__ import annotations

import numpy as np

from app.snapshot import EventRow, GapZone, SnapshotBatch, Status, TradeMark
from engine.engine import Engine, StepResult
from engine.observability.events import Event
from engine.regime.regime import Regime


class BatchBuilder:
    """Collects step results between two emissions and builds one batch from them."""

    def __init__(self) -> None:
        self._rows: list[StepResult] = []
        self._regime_bars = np.zeros(len(Regime), dtype=np.int64)
        self._regime_pnl = np.zeros(len(Regime))
        self._day: int | None = None   # none yet: the first batch sets the day's start equity
        self._day_start_equity = 0.0

    def add(self, result: StepResult) -> None:
        self._rows.append(result)
        self._regime_bars[result.regime.regime] += 1
        for t in result.trades:
            self._regime_pnl[Regime.parse(t.regime) if t.regime else result.regime.regime] += t.pnl

    def __len__(self) -> int:
        return len(self._rows)

    def build(self, engine: Engine, *, mode: str, broker: str, connected: bool, running: bool,
              speed: float, events: list[Event]) -> SnapshotBatch:
        rows, self._rows = self._rows, []
        day = engine.clock.day(engine.last_ts) if engine.index >= 0 else -1
        equity = engine.portfolio.equity
        if day != self._day:
            # The first batch of a day: yesterday's close equity is today's reference.
            self._day = day
            self._day_start_equity = float(rows[0].equity) if rows else equity
        day_pnl = equity - self._day_start_equity
        status = Status(
            mode=mode, broker=broker, connected=connected, trading_state=engine.risk.state.value,
            equity=equity, cash=engine.portfolio.cash, day_pnl=day_pnl,
            day_pnl_pct=day_pnl / self._day_start_equity if self._day_start_equity else 0.0,
            drawdown=engine.portfolio.drawdown, ts=engine.last_ts, symbol=engine.symbol,
            running=running, speed=speed, stream=f"{mode}/{engine.symbol}",
        )
        total_bars = max(int(self._regime_bars.sum()), 1)
        regime = engine.regime.current
        risk = engine.settings.risk
        return SnapshotBatch(
            ts=np.fromiter((r.ts for r in rows), np.int64, len(rows)),
            open=np.fromiter((r.bar.open for r in rows), float, len(rows)),
            high=np.fromiter((r.bar.high for r in rows), float, len(rows)),
            low=np.fromiter((r.bar.low for r in rows), float, len(rows)),
            close=np.fromiter((r.bar.close for r in rows), float, len(rows)),
            volume=np.fromiter((r.bar.volume for r in rows), float, len(rows)),
            regime=np.fromiter((r.regime.regime for r in rows), np.int8, len(rows)),
            equity=np.fromiter((r.equity for r in rows), float, len(rows)),
            drawdown=np.fromiter((r.drawdown for r in rows), float, len(rows)),
            status=status,
            trades=tuple(m for r in rows for m in _marks(r)),
            gaps=tuple(GapZone(g.kind, g.top, g.bottom, g.formed_ts, g.state)
                       for g in engine.features.open_gaps()),
            weights=dict(engine.adaptor.weights[regime]),
            fitness=engine.rewards.table(),
            regime_share={r.label: float(self._regime_bars[r]) / total_bars for r in Regime},
            regime_pnl={r.label: float(self._regime_pnl[r]) for r in Regime},
            positions=tuple((p.symbol, p.qty, p.avg_price, p.unrealised_pnl) for p in engine.portfolio.positions()),
            orders=tuple((o.id, o.side.value, o.type.value, o.qty, "working") for o in engine.broker.open_orders()),
            fills=tuple((f.ts, f.symbol, f.side.value, f.qty, f.price, f.commission) for r in rows for f in r.fills),
            events=tuple(EventRow(e.ts, e.type, _describe(e), str(e.payload.get("rule", "")),
                                  str(e.payload.get("what", ""))) for e in events),
            soft_drawdown=risk.soft_drawdown,
            hard_drawdown=risk.hard_drawdown,
        )


def _marks(r: StepResult) -> list[TradeMark]:
    exits = {t.exit_ts: t for t in r.trades}
    marks = []
    for f in r.fills:
        trade = exits.get(f.ts)
        if trade is not None and trade.exit_price == f.price:
            marks.append(TradeMark(f.ts, f.price, f.side.value, "exit", trade.pnl, trade.agent))
        else:
            marks.append(TradeMark(f.ts, f.price, f.side.value, "entry", 0.0, f.agent))
    return marks


def _describe(e: Event) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in e.payload.items())


def _short(v: object) -> str:
    return f"{v:,.4g}" if isinstance(v, float) else str(v)
