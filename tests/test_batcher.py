"""BatchBuilder: the day's P&L shown in the status line and the equity pane."""
from __future__ import annotations

from app.batcher import BatchBuilder
from engine.config import load_settings
from engine.data.synthetic import generate_bars
from engine.engine import Engine
from engine.observability.events import EventLogger


def build(builder: BatchBuilder, engine: Engine):  # type: ignore[no-untyped-def]
    return builder.build(engine, mode="replay", broker="paper", connected=True, running=False, speed=1.0,
                         events=[]).status


def test_before_the_first_bar_the_day_has_made_nothing() -> None:
    status = build(BatchBuilder(), Engine(load_settings(), events=EventLogger()))
    assert status.equity == 100_000.0 and status.day_pnl == 0.0 and status.day_pnl_pct == 0.0


def test_the_day_pnl_counts_from_the_first_bar_of_the_day_shown() -> None:
    engine = Engine(load_settings(), events=EventLogger())
    builder = BatchBuilder()
    build(builder, engine)
    results = [engine.step(bar) for bar in generate_bars("QQQ", days=1, seed=3)]
    for r in results:
        builder.add(r)
    status = build(builder, engine)
    assert status.day_pnl == engine.portfolio.equity - results[0].equity
    assert status.day_pnl_pct == status.day_pnl / results[0].equity
    assert any(r.equity != results[0].equity for r in results)
