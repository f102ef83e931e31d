"""Synthetic `SnapshotBatch` streams for the GUI tests and the GUI benchmark.

A random walk of 1-minute bars in regular sessions (09:30-16:00 ET, weekdays skipped
over nights only), with regimes that hold for a while, trades, open gaps, events, weights
and fitness, so every pane has something to show.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from app.snapshot import EventRow, GapZone, SnapshotBatch, Status, TradeMark

AGENTS = ("trend", "mean_reversion", "volatility", "fvg")
REGIMES = ("trend", "mean_reversion", "compression", "expansion")
EVENT_TYPES = ("regime_flip", "risk_event", "order", "fill", "weight_change")
SESSION_BARS = 390
_NS = 10**9


def session_open_ns(day: str = "2024-01-02") -> int:
    opening = datetime.fromisoformat(f"{day}T09:30:00").replace(tzinfo=ZoneInfo("America/New_York"))
    return int(opening.timestamp()) * _NS


class SnapshotStream:
    def __init__(self, seed: int = 1, start_ts: int | None = None, start_price: float = 400.0,
                 trading_state: str = "ACTIVE") -> None:
        self.rng = np.random.default_rng(seed)
        self.bars = 0
        self.session_start = start_ts if start_ts is not None else session_open_ns()
        self.price = start_price
        self.equity = 100_000.0
        self.peak = self.equity
        self.regime = 0
        self.dwell = 0
        self.position = 0
        self.entry = 0.0
        self.gaps: list[GapZone] = []
        self.weights = {a: 0.25 for a in AGENTS}
        self.fitness: dict[str, dict[str, float]] = {}
        self.trading_state = trading_state
        self.last_ts = 0

    def _timestamps(self, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            k = self.bars + i
            day, minute = divmod(k, SESSION_BARS)
            out[i] = self.session_start + day * 86_400 * _NS + minute * 60 * _NS
        return out

    def next_batch(self, n: int, **status_overrides: object) -> SnapshotBatch:
        rng = self.rng
        ts = self._timestamps(n)
        regimes = np.empty(n, dtype=np.int8)
        for i in range(n):
            self.dwell += 1
            if self.dwell > 30 and rng.random() < 0.03:
                self.regime, self.dwell = int(rng.integers(0, 4)), 0
            regimes[i] = self.regime
        vol = np.where(regimes == 3, 0.0015, np.where(regimes == 2, 0.0004, 0.0008))
        drift = np.where(regimes == 0, 0.0002, 0.0)
        close = self.price * np.exp(np.cumsum(drift + vol * rng.standard_normal(n)))
        open_ = np.r_[self.price, close[:-1]]
        spread = np.abs(rng.standard_normal(n)) * vol * close
        high = np.maximum(open_, close) + spread
        low = np.minimum(open_, close) - spread
        volume = rng.integers(1_000, 50_000, n).astype(np.float64)

        trades: list[TradeMark] = []
        fills: list[tuple[int, str, str, float, float, float]] = []
        pnl_path = np.zeros(n)
        for i in range(n):
            if rng.random() < 0.05:
                side = "buy" if (self.position <= 0) else "sell"
                if self.position == 0:
                    self.position = 100 if side == "buy" else -100
                    self.entry = float(close[i])
                    side = "buy" if self.position > 0 else "sell"
                    trades.append(TradeMark(int(ts[i]), float(close[i]), side, "entry", 0.0, "trend"))
                else:
                    pnl = (float(close[i]) - self.entry) * self.position
                    side = "sell" if self.position > 0 else "buy"
                    trades.append(TradeMark(int(ts[i]), float(close[i]), side, "exit", pnl, "fvg"))
                    pnl_path[i] = pnl
                    self.position = 0
                fills.append((int(ts[i]), "QQQ", side, 100.0, float(close[i]), 1.0))
        equity = self.equity + np.cumsum(pnl_path)
        peak = np.maximum.accumulate(np.r_[self.peak, equity])[1:]
        drawdown = equity / peak - 1.0
        self.equity, self.peak = float(equity[-1]), float(peak[-1])

        if rng.random() < 0.3:
            top = float(close[-1]) * (1 + rng.uniform(0.0005, 0.003))
            kind = "bullish" if rng.random() < 0.5 else "bearish"
            self.gaps.append(GapZone(kind, top, top * 0.998, int(ts[-1]), "open"))
        self.gaps = [g for g in self.gaps if rng.random() > 0.05][-12:]
        events = tuple(EventRow(int(ts[-1]), str(rng.choice(EVENT_TYPES)), f"event at bar {self.bars + n}")
                       for _ in range(int(rng.integers(0, 3))))
        if rng.random() < 0.1:
            w = rng.dirichlet(np.ones(len(AGENTS)))
            self.weights = {a: float(v) for a, v in zip(AGENTS, w)}
        if not self.fitness or rng.random() < 0.1:
            self.fitness = {a: {r: float(rng.normal(0.1, 0.3)) for r in REGIMES} for a in AGENTS}

        self.price = float(close[-1])
        self.bars += n
        status = Status(
            mode="replay", broker="paper", connected=True, trading_state=self.trading_state,
            equity=self.equity, cash=self.equity - self.position * self.price,
            day_pnl=self.equity - 100_000.0, day_pnl_pct=self.equity / 100_000.0 - 1.0,
            drawdown=float(drawdown[-1]), ts=int(ts[-1]), symbol="QQQ", running=True, speed=10.0,
        )
        if status_overrides:
            status = replace(status, **status_overrides)
        return SnapshotBatch(
            ts=ts, open=open_, high=high, low=low, close=close, volume=volume, regime=regimes,
            equity=equity, drawdown=drawdown, status=status, trades=tuple(trades),
            gaps=tuple(self.gaps), weights=dict(self.weights), fitness=self.fitness,
            regime_share={"trend": 0.4, "mean_reversion": 0.3, "compression": 0.2, "expansion": 0.1},
            regime_pnl={"trend": 1200.0, "mean_reversion": -300.0, "compression": 50.0,
                        "expansion": 400.0},
            positions=(("QQQ", float(self.position), self.entry,
                        (self.price - self.entry) * self.position),) if self.position else (),
            orders=(("o-1", "buy", "limit", 100.0, "working"),),
            fills=tuple(fills), events=events,
        )
