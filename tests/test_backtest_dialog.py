"""The backtest dialog: form validation, runs off the GUI thread with progress and cancel,
results (stats, trades, breakdowns, charts) and comparing runs; plus the runner's pieces."""
from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor

from app import theme
from app.backtest_runner import (BacktestRunner, RunOptions, RunOutcome, RunRequest, Span, SyntheticSource,
                                 build_settings, range_problem, run_label, seconds_left, select_range, span_of)
from engine.backtest import fast
from engine.backtest.backtester import Backtester
from engine.config import SAFE_LIVE_PATH, ConfigError, load_settings
from engine.data.bar import BarSeries
from engine.data.cache import BarCache
from engine.data.files import load_bars, save_bars
from engine.data.synthetic import generate_bars
from widgets.backtest_dialog import BacktestDialog, format_seconds_left
from widgets.backtest_form import CACHE, YAML_FILE, SAFE_LIVE
from widgets.backtest_results import normalised_equity, spaced_ticks

DEFAULTS = load_settings()
NEW_YORK = ZoneInfo("America/New_York")
MINUTE = 60 * 10**9


@pytest.fixture
def dialog(qtbot, tmp_path: Path) -> BacktestDialog:  # type: ignore[no-untyped-def]
    widget = BacktestDialog(DEFAULTS, cache_path=str(tmp_path / "none.sqlite"))
    qtbot.addWidget(widget)
    widget.form.days_spin.setValue(3)
    return widget


def run_and_wait(qtbot, dialog: BacktestDialog, timeout_ms: int = 20_000) -> RunOutcome:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(dialog.run_finished, timeout=timeout_ms) as blocker:
        assert dialog.start_run()
    return blocker.args[0]


def et_text(ts_ns: int) -> str:
    local = datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc).astimezone(NEW_YORK)
    return local.strftime("%Y-%m-%d %H:%M:%S") + " ET"


# -- a run through the dialog ------------------------------------------------------------------


def test_a_short_synthetic_run_fills_the_stats_breakdowns_and_trades(qtbot, dialog: BacktestDialog) -> None:  # type: ignore[no-untyped-def]
    outcome = run_and_wait(qtbot, dialog)
    assert outcome.status == "finished", outcome.message
    result = outcome.result
    assert result is not None and result.bars == 3 * 390 and len(result.trades) > 0

    view = dialog.result_view
    assert dialog.stack.currentWidget() is view
    rows = result.stats.as_rows()
    table = view.stats_table
    assert table.rowCount() == len(rows)
    shown = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert shown["Bars"] == "1,170"
    assert shown["End equity"] == f"{result.equity[-1]:,.2f}"
    assert shown["Trades"] == f"{len(result.trades):,}"

    assert view.trades_model.rowCount() == len(result.trades)
    assert view.tabs.tabText(2) == f"Trades ({len(result.trades):,})"
    # The regime table lists each regime with trades once, their counts adding up to all trades.
    counts = [int(view.regime_table.item(r, 1).text().replace(",", "")) for r in range(view.regime_table.rowCount())]
    assert sum(counts) == len(result.trades)
    agents = {view.agent_table.item(r, 0).text() for r in range(view.agent_table.rowCount())}
    assert agents == {t.agent for t in result.trades}
    assert dialog.runs_list.count() == 1
    assert dialog.runs_list.item(0).text() == "#1 QQQ 3d seed 7 · fvg,mean_reversion,trend,volatility"
    assert dialog.status.text().startswith("Finished: 1,170 bars")
    assert dialog.run_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_the_trades_table_shows_new_york_times_and_colours_pnl(qtbot, dialog: BacktestDialog) -> None:  # type: ignore[no-untyped-def]
    result = run_and_wait(qtbot, dialog).result
    assert result is not None
    model = dialog.result_view.trades_model
    for row, trade in enumerate(result.trades):
        assert model.index(row, 0).data() == et_text(trade.entry_ts)
        assert model.index(row, 1).data() == et_text(trade.exit_ts)
        colour = model.index(row, 6).data(Qt.ItemDataRole.ForegroundRole)
        if trade.pnl > 0:
            assert colour == QColor(theme.WIN)
        elif trade.pnl < 0:
            assert colour == QColor(theme.LOSS)
        assert model.index(row, 8).data(Qt.ItemDataRole.ForegroundRole) == theme.agent_color(trade.agent)
    # Trading hours are 09:30-16:00 New York time: every entry lies inside them.
    assert all("09:30:00" <= model.index(r, 0).data()[11:19] < "16:00:00" for r in range(model.rowCount()))


def test_a_long_run_shows_progress_and_cancels_promptly(qtbot, dialog: BacktestDialog,  # type: ignore[no-untyped-def]
                                                        monkeypatch) -> None:
    # ~100,000 bars take well under a second on the compiled path; 5 ms per 500 bars makes it a
    # run of about a second, long enough to cancel in the middle.
    run_bars = fast.kn.run_bars
    monkeypatch.setattr(fast, "_CHUNK", 500)
    monkeypatch.setattr(fast.kn, "run_bars", lambda *args: (time.sleep(0.005), run_bars(*args)))
    dialog.form.days_spin.setValue(250)
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    assert dialog.start_run()
    assert not dialog.run_button.isEnabled() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
    assert "bars ·" in dialog.progress.text() and "left" in dialog.progress.text()
    with qtbot.waitSignal(dialog.run_finished, timeout=1_500) as blocker:
        dialog.cancel_run()
    timer.stop()
    outcome = blocker.args[0]
    assert outcome.status == "cancelled"
    assert outcome.message.startswith("Cancelled after ") and "of 97,500 bars" in outcome.message
    assert dialog.progress.text() == "cancelled"
    assert dialog.status.text() == outcome.message
    assert len(ticks) > 3            # the GUI thread kept handling events during the run
    assert dialog.runs_list.count() == 0
    dialog.form.days_spin.setValue(2)
    assert run_and_wait(qtbot, dialog).status == "finished"   # and the dialog still works


def test_a_failing_run_is_reported_in_plain_words_and_the_dialog_keeps_working(qtbot, dialog: BacktestDialog,  # type: ignore[no-untyped-def]
                                                                                monkeypatch) -> None:
    def explode(self, series, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the feature pipeline ran out of memory")

    monkeypatch.setattr(Backtester, "run", explode)
    outcome = run_and_wait(qtbot, dialog)
    assert outcome.status == "failed"
    assert outcome.message == "The backtest failed: RuntimeError: the feature pipeline ran out of memory"
    assert dialog.banner.isVisibleTo(dialog) and dialog.banner.text() == outcome.message
    assert dialog.run_button.isEnabled() and dialog.runs_list.count() == 0
    monkeypatch.undo()
    assert run_and_wait(qtbot, dialog).status == "finished"
    assert not dialog.banner.isVisibleTo(dialog)


# -- bad input ---------------------------------------------------------------------------------


def test_no_agent_ticked_shows_the_message_and_disables_run(dialog: BacktestDialog) -> None:
    assert dialog.run_button.isEnabled()
    for check in dialog.form.agent_boxes.values():
        check.setChecked(False)
    assert dialog.form.problems == {"agents": "tick at least one agent"}
    assert dialog.form.agents_error.isVisibleTo(dialog) and dialog.form.agents_error.text() == "tick at least one agent"
    assert not dialog.run_button.isEnabled() and not dialog.start_run()
    dialog.form.agent_boxes["trend"].setChecked(True)
    assert dialog.form.problems == {} and dialog.run_button.isEnabled()


def test_from_not_before_to_shows_the_message_and_disables_run(dialog: BacktestDialog) -> None:
    start, end = dialog.form.range_ns()
    assert (start, end) == (int(datetime(2024, 1, 2, 9, 30, tzinfo=NEW_YORK).timestamp()) * 10**9,
                            int(datetime(2024, 1, 4, 16, 0, tzinfo=NEW_YORK).timestamp()) * 10**9)
    dialog.form.set_range(end - 60 * MINUTE, end - 60 * MINUTE)
    assert dialog.form.problems["range"] == "from 2024-01-04 15:00 ET must be before to 2024-01-04 15:00 ET"
    assert not dialog.run_button.isEnabled()
    dialog.form.set_range(start - 24 * 60 * MINUTE, end)
    assert dialog.form.problems["range"] == "from 2024-01-01 09:30 ET is before the first bar (2024-01-02 09:30 ET)"
    dialog.form.set_range(start, end + MINUTE)
    assert dialog.form.problems["range"] == "to 2024-01-04 16:01 ET is after the end of the data (2024-01-04 16:00 ET)"
    evening = int(datetime(2024, 1, 2, 17, 0, tzinfo=NEW_YORK).timestamp()) * 10**9
    dialog.form.set_range(evening, evening + 60 * MINUTE)
    assert dialog.form.problems["range"].startswith("0 bar(s) between 2024-01-02 17:00 ET and 2024-01-02 18:00 ET")
    assert not dialog.run_button.isEnabled()


def test_a_narrowed_range_runs_only_its_bars_and_says_so_in_the_label(qtbot, dialog: BacktestDialog) -> None:  # type: ignore[no-untyped-def]
    day2 = int(datetime(2024, 1, 3, 9, 30, tzinfo=NEW_YORK).timestamp()) * 10**9
    dialog.form.set_range(day2, day2 + 390 * MINUTE)
    outcome = run_and_wait(qtbot, dialog)
    assert outcome.result is not None and outcome.result.bars == 390
    assert outcome.result.ts[0] == day2 and outcome.result.ts[-1] == day2 + 389 * MINUTE
    assert outcome.request.label.endswith(" · 2024-01-03 09:30 → 2024-01-03 16:00")


def test_a_bad_file_shows_the_loaders_error_and_disables_run(dialog: BacktestDialog, tmp_path: Path) -> None:
    bad = tmp_path / "bars.csv"
    bad.write_text("timestamp,open,high,low,close\n2024-01-02 09:30,1,2,0.5,1.5\n")
    with pytest.raises(ValueError) as loader:
        load_bars(bad)
    dialog.form.set_file_path(bad)
    assert dialog.form.problems == {"source": str(loader.value)}
    assert dialog.form.source_error.text() == str(loader.value) and "volume" in str(loader.value)
    assert not dialog.run_button.isEnabled()

    dialog.form.set_file_path(tmp_path / "missing.parquet")
    assert dialog.form.problems["source"] == f"{tmp_path / 'missing.parquet'}: no such file"
    assert not dialog.run_button.isEnabled()


def test_a_good_file_runs_the_files_bars(qtbot, dialog: BacktestDialog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    series = generate_bars("SPY", days=2, seed=3)
    path = save_bars(series, tmp_path / "spy.parquet")
    dialog.form.set_file_path(path)
    assert dialog.form.problems == {}
    assert dialog.form.source_note.text().startswith("780 bars, 2024-01-02 09:30 ET → 2024-01-03 16:00 ET")
    outcome = run_and_wait(qtbot, dialog)
    assert outcome.status == "finished" and outcome.result is not None
    assert np.array_equal(outcome.result.close, series.close)
    assert outcome.request.label.startswith("spy.parquet · ")


def test_a_cached_symbol_shows_its_coverage_and_runs_the_range(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bars.sqlite"
    series = generate_bars("IWM", days=2, seed=5)
    with BarCache(path) as cache:
        cache.save(series)
    dialog = BacktestDialog(DEFAULTS, cache_path=str(path))
    qtbot.addWidget(dialog)
    dialog.form.source_combo.setCurrentText(CACHE)
    assert dialog.form.cache_combo.currentText() == "IWM (1min)"
    assert dialog.form.source_note.text() == "780 bars, 2024-01-02 09:30 ET → 2024-01-03 16:00 ET"
    assert dialog.form.problems == {}
    outcome = run_and_wait(qtbot, dialog)
    assert outcome.status == "finished" and outcome.result is not None
    assert np.array_equal(outcome.result.ts, series.ts)


def test_an_empty_cache_says_how_to_fill_it(dialog: BacktestDialog) -> None:
    dialog.form.source_combo.setCurrentText(CACHE)
    assert "holds no bars; `futbot data` fills it" in dialog.form.problems["source"]
    assert not dialog.run_button.isEnabled()


def test_a_bad_yaml_config_shows_the_located_problem(dialog: BacktestDialog, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("risk:\n  max_positon: 0.2\n")
    with pytest.raises(ConfigError) as loader:
        load_settings(path)
    dialog.form.config_combo.setCurrentText(YAML_FILE)
    assert dialog.form.problems == {"config": "choose a YAML settings file"}
    dialog.form.config_path.setText(str(path))
    dialog.form.config_path.editingFinished.emit()
    assert dialog.form.problems == {"config": "\n".join(loader.value.problems)}
    assert f"{path}:2" in dialog.form.config_error.text()
    assert not dialog.run_button.isEnabled()


def test_the_safe_live_preset_fills_the_form_with_its_values(dialog: BacktestDialog) -> None:
    dialog.form.config_combo.setCurrentText(SAFE_LIVE)
    request = dialog.form.request()
    assert request is not None
    safe = load_settings(SAFE_LIVE_PATH)
    assert request.settings.risk.max_position == safe.risk.max_position == 0.05
    assert request.label.endswith(" · safe-live")


def test_form_switches_reach_the_run_settings(dialog: BacktestDialog) -> None:
    form = dialog.form
    form.risk_off.setChecked(True)
    form.adaptation_off.setChecked(True)
    form.cash_spin.setValue(25_000.0)
    form.commission_spin.setValue(0.01)
    form.slippage_spin.setValue(2.5)
    form.fill_combo.setCurrentIndex(form.fill_combo.findData("close"))
    request = form.request()
    assert request is not None
    s = request.settings
    assert s.risk.daily_loss_limit == 1.0 and not s.risk.var.enabled and not s.adaptation.enabled
    assert (s.portfolio.initial_cash, s.execution.commission_per_share, s.execution.slippage_bps,
            s.execution.fill) == (25_000.0, 0.01, 2.5, "close")
    assert request.label.endswith(" · risk off · no adapt")


# -- comparing runs ----------------------------------------------------------------------------


def test_two_runs_compared_show_two_columns_and_two_normalised_curves(qtbot, dialog: BacktestDialog,  # type: ignore[no-untyped-def]
                                                                     tmp_path: Path) -> None:
    first = run_and_wait(qtbot, dialog).result
    dialog.form.seed_spin.setValue(11)
    dialog.form.agent_boxes["fvg"].setChecked(False)
    second = run_and_wait(qtbot, dialog).result
    assert first is not None and second is not None
    dialog.select_runs([1, 2])
    view = dialog.compare_view
    assert dialog.stack.currentWidget() is view
    assert view.table.columnCount() == 3
    assert view.table.horizontalHeaderItem(1).text() == "#1 QQQ 3d seed 7\nfvg,mean_reversion,trend,volatility"
    assert view.table.horizontalHeaderItem(2).text() == "#2 QQQ 3d seed 11\nmean_reversion,trend,volatility"
    trades_row = [view.table.item(r, 0).text() for r in range(view.table.rowCount())].index("Trades")
    assert view.table.item(trades_row, 1).text() == f"{len(first.trades):,}"
    assert view.table.item(trades_row, 2).text() == f"{len(second.trades):,}"
    assert len(view.curves) == 2
    for curve, result in zip(view.curves, (first, second)):
        _, y = curve.getData()
        expected = [100.0 * e / result.equity[0] for e in result.equity]
        assert y[0] == 100.0 and np.allclose(y, expected, rtol=0, atol=1e-9)
    colours = {curve.opts["pen"].color().name() for curve in view.curves}
    assert len(colours) == 2
    path = tmp_path / "compare.png"
    assert dialog.grab().save(str(path)) and path.stat().st_size > 10_000

    dialog.select_runs([2])
    assert dialog.stack.currentWidget() is dialog.result_view
    dialog.remove_selected()
    assert [run.number for run in dialog.runs] == [1] and dialog.runs_list.count() == 1


# -- the runner's pieces -----------------------------------------------------------------------


def test_seconds_left_uses_the_rate_since_the_first_report() -> None:
    # 512 bars in 2 s after the first report: 1,280 bars to go take 5 s.
    assert seconds_left(10.0, 256, 12.0, 768, 2_048) == pytest.approx(5.0)
    assert seconds_left(10.0, 256, 10.0, 256, 2_048) is None
    assert seconds_left(10.0, 256, 12.0, 2_048, 2_048) == 0.0


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "estimating time left"), (0.4, "under a second left"), (12.4, "about 12 s left"),
    (185.0, "about 3 min 05 s left"),
])
def test_time_left_reads_plainly(seconds: float | None, text: str) -> None:
    assert format_seconds_left(seconds) == text


def _minute_series(n: int) -> BarSeries:
    ts = np.arange(n, dtype=np.int64) * MINUTE
    ones = np.ones(n)
    return BarSeries("T", ts, ones, ones, ones, ones, ones)


def test_select_range_keeps_from_inclusive_to_exclusive() -> None:
    series = _minute_series(10)
    assert select_range(series, 2 * MINUTE, 5 * MINUTE).ts.tolist() == [2 * MINUTE, 3 * MINUTE, 4 * MINUTE]
    assert len(select_range(series, None, None)) == 10
    assert len(select_range(series, 7 * MINUTE, 3 * MINUTE)) == 0


@given(st.integers(0, 40), st.one_of(st.none(), st.integers(-5, 45)), st.one_of(st.none(), st.integers(-5, 45)))
def test_select_range_matches_a_filter_bar_by_bar(n: int, start: int | None, end: int | None) -> None:
    series = _minute_series(n)
    lo = None if start is None else start * MINUTE
    hi = None if end is None else end * MINUTE
    expected = [t for t in series.ts.tolist() if (lo is None or t >= lo) and (hi is None or t < hi)]
    assert select_range(series, lo, hi).ts.tolist() == expected


def test_build_settings_applies_the_choices_and_keeps_only_enabled_agent_params() -> None:
    base = DEFAULTS.to_dict()
    base["agents"]["params"] = {"trend": {}, "fvg": {}}
    from engine.config import validate

    settings = build_settings(validate(base), RunOptions(agents=("trend",), cash=5_000.0))
    assert settings.agents.enabled == ["trend"] and settings.agents.params == {"trend": {}}
    assert settings.portfolio.initial_cash == 5_000.0
    assert settings.risk == DEFAULTS.risk and settings.adaptation.enabled
    with pytest.raises(ValueError, match="tick at least one agent"):
        build_settings(DEFAULTS, RunOptions(agents=()))
    with pytest.raises(ConfigError, match="slippage_bps = -1.0"):
        build_settings(DEFAULTS, RunOptions(agents=("trend",), slippage_bps=-1.0))


def test_run_label_names_the_data_agents_and_switches() -> None:
    source = SyntheticSource("QQQ", 20, 7)
    assert run_label(source, RunOptions(agents=("trend", "fvg"))) == "QQQ 20d seed 7 · trend,fvg"
    assert (run_label(source, RunOptions(agents=("trend",), risk_off=True), "safe-live")
            == "QQQ 20d seed 7 · trend · safe-live · risk off")


def test_the_runner_refuses_a_second_run_while_one_is_running(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = BacktestRunner()
    series = generate_bars("QQQ", days=30, seed=1)
    request = RunRequest("r", SyntheticSource("QQQ", 30, 1), DEFAULTS, series=series)
    with qtbot.waitSignal(runner.finished, timeout=10_000) as blocker:
        runner.start(request)
        with pytest.raises(RuntimeError, match="already running"):
            runner.start(request)
        runner.cancel()
    assert blocker.args[0].status == "cancelled" and not runner.running


def test_a_cancel_before_the_first_bar_reports_cancelled_not_an_error(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    runner = BacktestRunner()
    started = threading.Event()

    def slow_features(series, settings):  # type: ignore[no-untyped-def]
        started.set()
        runner.cancel()
        raise ValueError("equity has shape (0,)")   # what stats say about zero bars stepped

    monkeypatch.setattr("engine.backtest.backtester.compute_features", slow_features)
    request = RunRequest("r", SyntheticSource("QQQ", 1, 1), DEFAULTS, series=generate_bars("QQQ", 1, 1))
    with qtbot.waitSignal(runner.finished, timeout=5_000) as blocker:
        runner.start(request)
    assert started.is_set() and blocker.args[0].status == "cancelled"


def test_spaced_ticks_keep_session_opens_and_drop_ticks_that_would_overlap() -> None:
    opens = {390.0, 780.0}
    ticks = [30.0, 150.0, 270.0, 390.0, 420.0, 540.0, 660.0, 780.0, 810.0]
    assert spaced_ticks(ticks, opens.__contains__, 60.0) == [30.0, 150.0, 270.0, 390.0, 540.0, 660.0, 780.0]
    assert spaced_ticks(ticks, opens.__contains__, 0.0) == ticks


def test_normalised_equity_starts_at_100() -> None:
    equity = np.array([50_000.0, 51_000.0, 49_500.0])
    assert normalised_equity(equity).tolist() == [100.0, 102.0, 99.0]
    assert math.isclose(normalised_equity(np.array([3.0, 4.0]))[1], 400.0 / 3.0)


def test_a_narrowed_range_survives_a_new_seed_and_the_whole_range_follows_new_days(dialog: BacktestDialog) -> None:
    day2 = int(datetime(2024, 1, 3, 9, 30, tzinfo=NEW_YORK).timestamp()) * 10**9
    dialog.form.set_range(day2, day2 + 390 * MINUTE)
    dialog.form.seed_spin.setValue(8)
    assert dialog.form.range_ns() == (day2, day2 + 390 * MINUTE)
    dialog.form.set_range(*dialog.form.range_ns())
    dialog.form.days_spin.setValue(1)      # the narrowed day is gone: take the whole new data
    first = int(datetime(2024, 1, 2, 9, 30, tzinfo=NEW_YORK).timestamp()) * 10**9
    assert dialog.form.range_ns() == (first, first + 390 * MINUTE)
    dialog.form.days_spin.setValue(2)      # the whole data before: the whole data again
    assert dialog.form.range_ns() == (first, day2 + 390 * MINUTE)


def test_a_span_runs_from_the_first_bars_minute_to_the_end_of_the_last_bar() -> None:
    second = 10**9
    open_ = int(datetime(2024, 1, 2, 9, 30, tzinfo=NEW_YORK).timestamp()) * second
    span = span_of(open_ + 15 * second, open_ + 15 * MINUTE + 30 * second, 15 * second, 62)
    assert span == Span(open_, open_ + 16 * MINUTE, 62)     # 09:45:30 + 15 s ends in the 09:46 minute
    assert span_of(open_, open_ + 389 * MINUTE, MINUTE, 390) == Span(open_, open_ + 390 * MINUTE, 390)


def test_range_problem_counts_the_bars_inside_from_inclusive_to_exclusive() -> None:
    ts = np.arange(5, dtype=np.int64) * MINUTE
    span = Span(0, 5 * MINUTE, 5)
    assert range_problem(span, ts, 0, 5 * MINUTE) == ""
    assert range_problem(span, ts, 3 * MINUTE, 5 * MINUTE) == ""            # bars 3 and 4
    assert range_problem(span, ts, 3 * MINUTE, 4 * MINUTE).startswith("1 bar(s) between")
    assert range_problem(span, None, 3 * MINUTE, 4 * MINUTE) == ""          # a cache: counted by the run


def test_beyond_the_run_limit_the_oldest_run_is_dropped(qtbot, dialog: BacktestDialog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("widgets.backtest_dialog.MAX_RUNS", 2)
    dialog.form.days_spin.setValue(1)
    for seed in (1, 2, 3):
        dialog.form.seed_spin.setValue(seed)
        assert run_and_wait(qtbot, dialog).status == "finished"
    assert [run.number for run in dialog.runs] == [2, 3]
    assert [dialog.runs_list.item(r).text()[:2] for r in range(dialog.runs_list.count())] == ["#2", "#3"]
    assert [run.number for run in dialog.selected_runs()] == [3]
