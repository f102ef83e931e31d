"""LiveTradingLoop, the feeds and `futbot live`: commit before publish, daily tasks, commands, resume."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.main import main
from engine.config import load_settings
from engine.data.bar import Bar
from engine.data.synthetic import generate_bars
from engine.engine import Engine, StepResult
from engine.live.feeds import IteratorFeed, ReplayFeed
from engine.live.ib_bridge import BridgeFeed
from engine.live.loop import LiveTradingLoop, LoopSummary
from engine.observability.events import EventLogger, read_events
from engine.persistence.db import Database
from engine.persistence.session_store import SessionStore
from engine.risk.state import TradingState

REPO = Path(__file__).resolve().parent.parent
NS = 1_000_000_000


def day_bars(days: int = 1, seed: int = 7) -> list[Bar]:
    return list(generate_bars("QQQ", days=days, seed=seed))


class Rig:
    """A loop over its own database and event log in tmp_path."""

    def __init__(self, tmp_path: Path, name: str = "s") -> None:
        self.db = Database(tmp_path / "futbot.sqlite")
        self.store = SessionStore(self.db)
        self.log = tmp_path / "events" / f"{name}.jsonl"
        self.name = name

    def loop(self, bars: list[Bar], **kw: Any) -> LiveTradingLoop:
        engine = Engine(load_settings(), events=EventLogger(self.log))
        return LiveTradingLoop(engine, IteratorFeed(bars), self.store, self.name, feed_name="test bars", **kw)

    def run(self, bars: list[Bar], **kw: Any) -> LoopSummary:
        loop = self.loop(bars, **kw)
        try:
            return loop.run()
        finally:
            loop.engine.events.close()

    @property
    def sid(self) -> int:
        info = self.store.find_session(self.name)
        assert info is not None
        return info.id

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in read_events(self.log) if kind is None or e["type"] == kind]


def test_each_step_is_in_the_database_before_the_hook_hears_of_it(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    seen: list[tuple[int, int, int]] = []
    fills = [0]

    def on_step(r: StepResult) -> None:
        fills[0] += len(r.fills)
        saved = rig.store.checkpoint(rig.sid)
        seen.append((r.index, saved.step if saved else -2, len(rig.store.fills(rig.sid)) - fills[0]))

    bars = day_bars()[:200]
    summary = rig.run(bars, on_step=on_step)
    assert summary.steps == 200 and summary.last_index == 199 and summary.resumed_from is None
    assert seen == [(i, i, 0) for i in range(200)]
    assert fills[0] > 0


def test_two_days_run_each_daily_task_once_and_sum_the_day_up(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    bars = day_bars(days=2)
    rig.run(bars)
    assert [e["payload"]["day"] for e in rig.events("pre_market")] == ["2024-01-02", "2024-01-03"]
    assert len(rig.events("mid_day")) == 2
    summaries = [e["payload"] for e in rig.events("daily_summary")]
    assert [s["day"] for s in summaries] == ["2024-01-02", "2024-01-03"]
    curve = rig.store.equity(rig.sid).equity.tolist()
    trades = rig.store.trades(rig.sid)
    start = load_settings().portfolio.initial_cash
    for k, s in enumerate(summaries):
        end = curve[390 * k + 389]
        assert s["bars"] == 390
        assert s["pnl"] == pytest.approx(end - start, abs=1e-9)
        assert s["start_equity"] == pytest.approx(start) and s["end_equity"] == pytest.approx(end)
        day_trades = [t for t in trades if bars[390 * k].ts <= t.exit_ts <= bars[390 * k + 389].ts]
        assert s["trades"] == len(day_trades)
        assert s["trade_pnl"] == pytest.approx(sum(t.pnl for t in day_trades))
        assert sum(s["regime_shares"].values()) == pytest.approx(1.0)
        start = end
    assert all(p["failed"] == [] for p in (e["payload"] for e in rig.events("pre_market")))


def test_stop_from_another_thread_ends_after_a_committed_bar_and_a_rerun_resumes(tmp_path: Path) -> None:
    bars = day_bars()
    whole = Rig(tmp_path / "whole")
    whole.run(bars)

    rig = Rig(tmp_path / "stopped")
    reached = threading.Event()
    loop = rig.loop(bars, on_step=lambda r: reached.set() if r.index == 150 else None)
    stopper = threading.Thread(target=lambda: (reached.wait(10), loop.stop()))
    stopper.start()
    first = loop.run()
    stopper.join()
    loop.engine.events.close()
    assert first.stopped and 150 <= first.last_index < len(bars) - 1
    assert rig.store.checkpoint(rig.sid).step == first.last_index  # type: ignore[union-attr]
    assert rig.store.find_session("s").status == "stopped"  # type: ignore[union-attr]

    second = rig.run(bars)
    assert not second.stopped and second.resumed_from == first.last_index
    assert second.warmed == first.last_index + 1 and second.steps == len(bars) - 1 - first.last_index
    assert rig.store.trades(rig.sid) == whole.store.trades(whole.sid)
    assert rig.store.equity(rig.sid).equity.tolist() == whole.store.equity(whole.sid).equity.tolist()


def test_a_kill_request_halts_flattens_and_stays_halted_after_a_restart(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    bars = day_bars()
    states: list[TradingState] = []
    loops: list[LiveTradingLoop] = []
    asked: list[int] = []

    def on_step(r: StepResult) -> None:
        states.append(r.trading_state)
        if r.position != 0.0 and r.index > 100 and not asked:
            asked.append(r.index)
            loops[0].request_kill("operator test")

    loops.append(rig.loop(bars[:300], on_step=on_step))
    loops[0].run()
    loops[0].engine.events.close()
    assert asked
    first_halt = states.index(TradingState.HALTED)
    assert all(s is TradingState.HALTED for s in states[first_halt:])
    flatten = [o for o in rig.store.orders(rig.sid) if o.reason == "kill switch: flatten"]
    assert len(flatten) == 1
    assert rig.store.checkpoint(rig.sid).doc["engine"]["risk"]["killed"] is True  # type: ignore[union-attr]
    assert rig.events("kill_switch")

    after: list[TradingState] = []
    rig.run(bars, on_step=lambda r: after.append(r.trading_state))
    assert after and all(s is TradingState.HALTED for s in after)
    assert rig.store.trades(rig.sid)[-1].exit_ts <= bars[300].ts   # flat, and no new trade once halted


def test_a_kill_while_the_feed_waits_for_its_next_bar_is_carried_out_at_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    bars = day_bars()[:5]
    engine = Engine(load_settings(), events=EventLogger(rig.log))
    stepped = threading.Event()
    loop = LiveTradingLoop(engine, ReplayFeed(bars, speed=1.0), rig.store, rig.name,   # a minute a bar
                           on_step=lambda r: stepped.set())
    idle: list[int] = []
    loop.on_idle = lambda: idle.append(engine.index)
    runner = threading.Thread(target=loop.run)
    runner.start()
    try:
        assert stepped.wait(10.0)
        loop.request_kill("operator, between bars")
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            saved = rig.store.checkpoint(rig.sid)
            if saved is not None and saved.doc["engine"]["risk"]["killed"]:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the kill waited for the next bar")
        assert engine.index == 0 and idle == [0]   # carried out while bar 2 was a minute away
        assert engine.risk.state is TradingState.HALTED
    finally:
        loop.stop()
        runner.join(10.0)
        engine.events.close()
    assert not runner.is_alive()
    assert [e["payload"]["what"] for e in rig.events("kill_switch")] == ["killed"]


def test_wake_makes_a_waiting_feed_call_its_idle_callback_in_the_iterating_thread() -> None:
    called: list[str] = []
    feed = ReplayFeed(minute_bars(3), speed=1.0)
    feed.on_idle(lambda: called.append(threading.current_thread().name))
    threading.Timer(0.1, feed.wake).start()
    threading.Timer(0.4, feed.close).start()
    got, seconds = timed(feed)
    assert len(got) == 1 and seconds < 5.0 and called == [threading.current_thread().name]


def test_an_ib_bridge_feed_serves_each_wake_between_its_bars() -> None:
    feed = BridgeFeed()
    seen: list[str] = []

    def idle() -> None:
        seen.append("idle")
        if seen.count("idle") == 2:
            feed.close()

    feed.on_idle(idle)
    bar = minute_bars(1)[0]
    feed.wake()
    feed.put(bar)
    feed.wake()
    for got in feed:
        seen.append(f"bar {got.ts}")
    assert seen == ["idle", f"bar {bar.ts}", "idle"]


def test_a_refused_command_is_logged_and_trading_goes_on(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    bars = day_bars()[:60]
    holder: dict[str, LiveTradingLoop] = {}
    loop = rig.loop(bars, on_step=lambda r: holder["loop"].request_rearm(False) if r.index == 10 else None)
    holder["loop"] = loop
    summary = loop.run()
    loop.engine.events.close()
    assert summary.steps == 60
    (error,) = rig.events("engine_error")
    assert error["payload"]["where"] == "rearm" and "confirm=True" in error["payload"]["error"]


def test_a_hook_that_raises_is_logged_and_does_not_stop_trading(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    def broken(r: StepResult) -> None:
        if r.index == 20:
            raise RuntimeError("pane exploded")

    summary = rig.run(day_bars()[:50], on_step=broken)
    assert summary.steps == 50
    (error,) = rig.events("engine_error")
    assert error["payload"] == {"where": "hook", "error": "RuntimeError: pane exploded"}


def test_a_restart_cuts_log_lines_written_after_the_last_commit(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    bars = day_bars()
    summary = rig.run(bars[:100])
    committed = rig.log.read_bytes()
    with rig.log.open("a") as f:   # what a step that died before its commit leaves behind
        f.write('{"ts":"2024-01-02T16:10:00Z","type":"fill","payload":{"id":"ghost"}}\n{"ts":"2024-01-02T16:1')
    rig.run(bars[:200])
    text = rig.log.read_bytes()
    assert text.startswith(committed) and b"ghost" not in text
    events = rig.events()
    assert events[-1]["type"] == "session" and events[-1]["payload"]["what"] == "feed_end"
    resume = [e for e in events if e["type"] == "session" and e["payload"]["what"] == "resume"]
    assert [e["payload"]["from_step"] for e in resume] == [summary.last_index]


def test_a_stop_while_re_feeding_leaves_the_committed_state_as_it_was(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    bars = day_bars()
    rig.run(bars[:100])
    before = rig.store.checkpoint(rig.sid)
    loop = rig.loop(bars)
    loop.stop()
    summary = loop.run()
    loop.engine.events.close()
    assert summary.stopped and summary.steps == 0 and summary.last_index == 99
    assert summary.equity == before.doc["engine"]["portfolio"]["equity"]  # type: ignore[union-attr]
    assert rig.store.checkpoint(rig.sid) == before


def test_resuming_over_bars_that_do_not_reach_the_checkpoint_is_refused(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    bars = day_bars()
    rig.run(bars[:120])
    with pytest.raises(ValueError, match="not the one the session traded"):
        rig.run(bars[:80])


def test_a_loop_needs_a_fresh_engine(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    engine = Engine(load_settings())
    engine.step(day_bars()[0])
    with pytest.raises(ValueError, match="fresh engine"):
        LiveTradingLoop(engine, IteratorFeed([]), rig.store, "s")


# -- feeds ----------------------------------------------------------------------------------

def minute_bars(n: int) -> list[Bar]:
    return [Bar("T", 1_700_000_000 * NS + i * 60 * NS, 1.0, 1.0, 1.0, 1.0, 1.0) for i in range(n)]


def timed(feed: ReplayFeed | IteratorFeed) -> tuple[list[Bar], float]:
    start = time.monotonic()
    return list(feed), time.monotonic() - start


def test_replay_paces_bars_at_the_requested_speed() -> None:
    bars = minute_bars(11)
    got, seconds = timed(ReplayFeed(bars, speed=6_000.0))   # a minute in 10 ms
    assert got == bars and seconds >= 0.09


def test_replay_at_max_speed_does_not_wait() -> None:
    got, seconds = timed(ReplayFeed(minute_bars(2_000), speed=None))
    assert len(got) == 2_000 and seconds < 1.0


def test_bars_up_to_the_replay_point_come_at_once() -> None:
    bars = minute_bars(20)
    feed = ReplayFeed(bars, speed=600.0)   # 100 ms a bar when paced
    feed.replay_until(bars[17].ts)
    got, seconds = timed(feed)
    assert got == bars and 0.2 <= seconds < 1.0


def test_replay_skips_the_night_instead_of_waiting_it_out() -> None:
    bars = minute_bars(2) + [Bar("T", minute_bars(2)[1].ts + 17 * 3600 * NS, 1, 1, 1, 1, 1)]
    _, seconds = timed(ReplayFeed(bars, speed=6_000.0))
    assert seconds < 0.5


def test_close_wakes_a_paced_wait_from_another_thread() -> None:
    feed = ReplayFeed(minute_bars(5), speed=1.0)   # a minute between bars
    threading.Timer(0.1, feed.close).start()
    got, seconds = timed(feed)
    assert len(got) == 1 and seconds < 5.0


def test_an_iterator_feed_ends_once_closed() -> None:
    feed = IteratorFeed(minute_bars(10))
    out = []
    for bar in feed:
        out.append(bar)
        if len(out) == 3:
            feed.close()
    assert len(out) == 3


@pytest.mark.parametrize("speed", [0.0, -1.0, float("inf")])
def test_a_replay_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="replay speed"):
        ReplayFeed([], speed=speed)


# -- the command ----------------------------------------------------------------------------

def cli(tmp_path: Path, *extra: str) -> list[str]:
    return ["live", "--state-dir", str(tmp_path), "--days", "1", "--replay-speed", "max", "--headless", *extra]


def test_futbot_live_runs_a_paper_session_and_a_second_run_resumes_it(tmp_path: Path, capsys) -> None:
    assert main(cli(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "2024-01-02 EOD: pnl" in out and "feed finished; new session; 390 bars traded" in out
    assert main(cli(tmp_path)) == 0
    assert "resumed after bar 390 (390 re-fed); 0 bars traded" in capsys.readouterr().out
    events = list(read_events(tmp_path / "events" / "paper-QQQ-1d-s7.jsonl"))
    assert [e["payload"]["what"] for e in events if e["type"] == "session"] == ["start", "feed_end", "resume",
                                                                                "feed_end"]


def test_futbot_live_with_ibkr_and_no_gateway_fails_clearly(tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as s:  # a loopback port with nothing listening on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(cli(tmp_path, "--broker", "ibkr", "--port", str(port)))
    err = capsys.readouterr().err
    assert code != 0 and str(port) in err


def test_futbot_live_refuses_a_session_name_unfit_for_a_file(tmp_path: Path, capsys) -> None:
    assert main(cli(tmp_path, "--session", "../escape")) == 2
    assert "--session '../escape'" in capsys.readouterr().err


def test_futbot_live_refuses_an_unknown_speed(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["live", "--replay-speed", "fast"])
    assert "replay speed 'fast'" in capsys.readouterr().err


def test_sigterm_stops_the_command_cleanly_with_exit_code_0(tmp_path: Path) -> None:
    argv = ["live", "--state-dir", str(tmp_path), "--days", "1", "--replay-speed", "300", "--headless"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.main", *argv],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    db = tmp_path / "futbot.sqlite"
    deadline = time.monotonic() + 60
    step = -2
    while step < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    step = conn.execute("SELECT max(step) FROM live_checkpoints").fetchone()[0] or -2
            except sqlite3.OperationalError:
                pass
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped on request" in out
    with sqlite3.connect(db) as conn:
        status = conn.execute("SELECT status FROM live_sessions").fetchone()[0]
        last = conn.execute("SELECT step FROM live_checkpoints").fetchone()[0]
        points = conn.execute("SELECT max(step) FROM live_equity").fetchone()[0]
    assert status == "stopped" and last == points and 5 <= last < 389
