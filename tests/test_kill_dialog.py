"""Re-arming after a kill needs an explicit confirmation; the summary says what the kill did."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from PySide6.QtWidgets import QDialog

from widgets.kill_dialog import KillSummary, RearmDialog

HALTED_AT = datetime(2025, 1, 2, 15, 31, 2, tzinfo=UTC)   # 10:31:02 in New York
SUMMARY = KillSummary(HALTED_AT, "manual kill switch", 2, (("QQQ", -100.0),))


@pytest.fixture
def dialog(qtbot) -> RearmDialog:  # type: ignore[no-untyped-def]
    widget = RearmDialog(SUMMARY, flatten_on_kill=True)
    qtbot.addWidget(widget)
    return widget


def test_summary_says_when_why_and_what_was_closed() -> None:
    assert SUMMARY.text() == (
        "Halted 2025-01-02 10:31:02 ET: manual kill switch. 2 orders cancelled; flattened QQQ -100."
    )


def test_summary_without_positions_says_none_were_flattened() -> None:
    summary = KillSummary(HALTED_AT, "hard drawdown -15.2 %", 1, ())
    assert summary.text().endswith("1 order cancelled; no positions flattened.")


def test_summary_refuses_a_naive_time_and_a_negative_count() -> None:
    with pytest.raises(ValueError, match="halted_at must be tz-aware"):
        KillSummary(datetime(2025, 1, 2, 10, 31), "x", 0, ())
    with pytest.raises(ValueError, match="orders_cancelled must be >= 0, got -1"):
        KillSummary(HALTED_AT, "x", -1, ())


def test_the_dialog_shows_why_and_when_trading_stopped(dialog: RearmDialog) -> None:
    assert dialog.summary_label.text() == SUMMARY.text()


def test_rearm_is_refused_without_confirmation(qtbot, dialog: RearmDialog) -> None:  # type: ignore[no-untyped-def]
    assert not dialog.rearm_button.isEnabled()
    with qtbot.assertNotEmitted(dialog.rearm_confirmed):
        assert dialog.try_rearm() is False
    assert dialog.result() != QDialog.DialogCode.Accepted


@pytest.mark.parametrize("typed", ["rearm", "REAR", "RE ARM", "yes"])
def test_rearm_is_refused_with_the_wrong_word(qtbot, dialog: RearmDialog, typed: str) -> None:  # type: ignore[no-untyped-def]
    dialog.confirm_edit.setText(typed)
    assert not dialog.rearm_button.isEnabled()
    with qtbot.assertNotEmitted(dialog.rearm_confirmed):
        assert dialog.try_rearm() is False


def test_rearm_is_accepted_after_typing_rearm_and_pressing_the_button(qtbot, dialog: RearmDialog) -> None:  # type: ignore[no-untyped-def]
    dialog.confirm_edit.setText("REARM")
    assert dialog.rearm_button.isEnabled()
    with qtbot.waitSignal(dialog.rearm_confirmed):
        dialog.rearm_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_the_flatten_choice_is_shown_and_editable(qtbot, dialog: RearmDialog) -> None:  # type: ignore[no-untyped-def]
    assert dialog.flatten_box.isChecked()
    with qtbot.waitSignal(dialog.flatten_choice_changed) as signal:
        dialog.flatten_box.click()
    assert signal.args == [False]
