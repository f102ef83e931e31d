"""Checkpoints: the engine state that re-feeding bars does not rebuild, as one JSON document.

A restart rebuilds features, regime dwell and the agents' streaming state exactly by
replaying the session's earlier bars through `Engine.warm`; everything else that changes
while trading is in the checkpoint: the portfolio, the risk manager (limits, breaker, VaR
window, kill switch), agent weights with the adaptor's schedule, reward fitness and trade
counts, the engine's counters (bar index, order ids, entry attribution, outlier-PnL
statistics) and the paper broker's working orders. A live broker's orders live at the
broker and are reconciled when it connects, so only a paper broker is captured.

`restore(engine, capture(engine))` on an engine warmed over the same bars leaves it in a
state from which every later decision equals the uninterrupted run's.
"""
from __future__ import annotations

import json
from typing import Any

from engine.engine import Engine
from engine.execution.paper import PaperBroker
from engine.portfolio.portfolio import PortfolioSnapshot
from engine.regime.regime import Regime
from engine.risk.snapshot import RiskSnapshot

CHECKPOINT_VERSION = 1
_KEYS = frozenset({"version", "symbol", "engine", "portfolio", "risk", "weights", "fitness", "reward_trades",
                   "broker"})


def capture(engine: Engine) -> dict[str, Any]:
    """The engine's mutable state between two bars, in plain JSON types."""
    broker = engine.broker
    return {
        "version": CHECKPOINT_VERSION,
        "symbol": engine.symbol,
        "engine": engine.checkpoint_state(),
        "portfolio": engine.portfolio.snapshot().to_dict(),
        "risk": engine.risk.snapshot().to_dict(),
        "weights": engine.adaptor.table(),
        "fitness": engine.rewards.table(),
        "reward_trades": {a: {r.label: engine.rewards.trades[r][a] for r in Regime} for a in engine.rewards.agents},
        "broker": broker.to_dict() if isinstance(broker, PaperBroker) else None,
    }


def restore(engine: Engine, doc: dict[str, Any]) -> None:
    """Load a `capture` document into an engine warmed over the bars up to the checkpoint."""
    if not isinstance(doc, dict):
        raise ValueError(f"checkpoint: expected a mapping, got {type(doc).__name__}")
    missing = sorted(_KEYS - set(doc))
    if missing:
        raise ValueError(f"checkpoint: missing keys {missing}")
    if doc["version"] != CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint version = {doc['version']!r}: this build reads version {CHECKPOINT_VERSION}")
    if doc["symbol"] != engine.symbol:
        raise ValueError(f"checkpoint symbol = {doc['symbol']!r}: the engine trades {engine.symbol!r}")
    agents = set(engine.rewards.agents)
    saved = set(doc["fitness"])
    if saved != agents:
        raise ValueError(f"checkpoint agents = {sorted(saved)}: the engine runs {sorted(agents)}")
    broker_state = doc["broker"]
    if broker_state is not None and not isinstance(engine.broker, PaperBroker):
        raise ValueError(f"checkpoint holds paper broker orders but the engine's broker is "
                         f"{type(engine.broker).__name__}")

    engine.portfolio.restore(PortfolioSnapshot.from_dict(doc["portfolio"]))
    engine.risk.restore(RiskSnapshot.from_dict(doc["risk"]))
    engine.adaptor.restore(doc["weights"])
    engine.rewards.restore(doc["fitness"])
    for agent, per_regime in doc["reward_trades"].items():
        for label, count in per_regime.items():
            engine.rewards.trades[Regime.parse(label)][agent] = int(count)
    engine.restore_checkpoint_state(doc["engine"])  # after adaptor.restore, which resets its reports
    if broker_state is not None:
        engine.broker = PaperBroker.from_dict(broker_state, engine.settings.execution)


def dumps(doc: dict[str, Any]) -> str:
    """Canonical JSON text of a checkpoint; NaN is refused (capture writes None for unknowns)."""
    return json.dumps(doc, allow_nan=False, sort_keys=True, separators=(",", ":"))


def loads(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"checkpoint text: expected a JSON object, got {type(doc).__name__}")
    return doc
