"""Config dialog: validation as you type with the YAML rules, presets, save/apply, restart keys."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import SAFE_LIVE_PATH, ConfigError, Settings, load_settings, restart_required_keys, validate
from widgets.config_dialog import ConfigDialog

DEFAULTS = load_settings()


@pytest.fixture
def dialog(qtbot, tmp_path: Path) -> ConfigDialog:  # type: ignore[no-untyped-def]
    widget = ConfigDialog(DEFAULTS, DEFAULTS, save_path=tmp_path / "user_settings.yaml")
    qtbot.addWidget(widget)
    return widget


def type_into(dialog: ConfigDialog, key: str, text: str) -> None:
    widget = dialog.editor(key).widget
    if hasattr(widget, "setPlainText"):
        widget.setPlainText(text)
    else:
        widget.setText(text)


def test_a_fresh_dialog_shows_the_settings_and_allows_apply(dialog: ConfigDialog) -> None:
    assert dialog.editor("risk.daily_loss_limit").widget.text() == "0.03"
    assert dialog.editor("execution.fill").widget.currentText() == "next_open"
    assert dialog.editor("risk.flatten_on_kill").widget.isChecked()
    assert dialog.problems == {}
    assert dialog.apply_button.isEnabled() and dialog.save_button.isEnabled()


def test_soft_drawdown_above_hard_is_shown_next_to_both_and_blocks_apply(dialog: ConfigDialog) -> None:
    type_into(dialog, "risk.soft_drawdown", "0.2")
    expected = "soft_drawdown (0.2) must be below hard_drawdown (0.15)"
    assert dialog.error_text("risk.soft_drawdown") == expected
    assert dialog.error_text("risk.hard_drawdown") == expected
    assert not dialog.apply_button.isEnabled() and not dialog.save_button.isEnabled()
    assert dialog.current_settings() is None
    assert dialog.tabs.tabText(list(Settings.model_fields).index("risk")) == "risk ⚠"

    type_into(dialog, "risk.hard_drawdown", "0.25")   # fixing either side clears both
    assert dialog.error_text("risk.soft_drawdown") == ""
    assert dialog.error_text("risk.hard_drawdown") == ""
    assert dialog.apply_button.isEnabled() and dialog.save_button.isEnabled()
    assert dialog.tabs.tabText(list(Settings.model_fields).index("risk")) == "risk"


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("risk.daily_loss_limit", "-0.01", "must be greater than 0"),
        ("risk.daily_loss_limit", "abc", "'abc' is not a number"),
        ("risk.daily_loss_limit", "", "a number is required"),
        ("risk.max_position", "1.5", "must be less than or equal to 1"),
        ("features.atr_period", "14.5", "14.5 is not a whole number"),
        ("features.atr_period", "1", "must be greater than or equal to 2"),
        ("risk.regime_caps", "{trend: 2}", "trend: must be less than or equal to 1"),
        ("risk.regime_caps", "{trend: 1, lunch: 0.5}", "lunch: not an allowed key"),
        ("agents.enabled", "[trend, fvg", "malformed YAML"),
        ("agents.enabled", "{a: 1}", "must be a list"),
    ],
)
def test_a_bad_value_shows_a_plain_error_next_to_its_field(
    dialog: ConfigDialog, key: str, text: str, message: str
) -> None:
    type_into(dialog, key, text)
    assert message in dialog.error_text(key)
    assert list(dialog.problems) == [key]
    assert not dialog.apply_button.isEnabled()
    assert "1 problem to fix" in dialog.banner.text()


def test_an_empty_optional_number_means_none(dialog: ConfigDialog) -> None:
    type_into(dialog, "execution.max_volume_share", "0.1")
    assert dialog.current_settings().execution.max_volume_share == 0.1  # type: ignore[union-attr]
    type_into(dialog, "execution.max_volume_share", "")
    assert dialog.problems == {}
    assert dialog.current_settings().execution.max_volume_share is None  # type: ignore[union-attr]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.floats(-2, 2, allow_nan=False).map(repr), st.text(max_size=6)))
def test_the_dialog_accepts_a_value_exactly_when_yaml_loading_would(dialog: ConfigDialog, text: str) -> None:
    type_into(dialog, "policy.min_confidence", text)
    # Reference: a number (the form parses typed text like YAML numbers) in (0, 1].
    try:
        number: object = float(text.strip())
    except ValueError:
        number = text
    data = DEFAULTS.to_dict()
    data["policy"]["min_confidence"] = number
    try:
        validate(data)
        yaml_ok = True
    except ConfigError:
        yaml_ok = False
    assert yaml_ok == (isinstance(number, float) and 0.0 < number <= 1.0)
    assert (dialog.problems == {}) == yaml_ok


def test_safe_live_preset_changes_the_shown_values_and_marks_them(dialog: ConfigDialog) -> None:
    dialog.safe_live_button.click()
    safe = load_settings(SAFE_LIVE_PATH)
    assert dialog.editor("risk.daily_loss_limit").widget.text() == repr(safe.risk.daily_loss_limit) == "0.02"
    assert dialog.editor("risk.max_position").widget.text() == "0.05"
    assert dialog.is_marked_modified("risk.daily_loss_limit")
    assert "default: 0.03" in dialog.editor("risk.daily_loss_limit").widget.toolTip()
    assert not dialog.is_marked_modified("data.symbol")
    assert dialog.current_settings() == safe


def test_reset_to_defaults_restores_every_field(dialog: ConfigDialog) -> None:
    dialog.safe_live_button.click()
    type_into(dialog, "data.symbol", "SPY")
    dialog.reset_button.click()
    assert dialog.current_settings() == DEFAULTS
    assert not dialog.is_marked_modified("data.symbol")
    assert not dialog.is_marked_modified("risk.daily_loss_limit")


def test_saved_yaml_reloads_to_the_same_settings(dialog: ConfigDialog, tmp_path: Path) -> None:
    dialog.safe_live_button.click()
    type_into(dialog, "data.symbol", "SPY")
    type_into(dialog, "agents.params", "{trend: {lookback: 20}}")
    target = tmp_path / "out" / "mine.yaml"
    assert dialog.save_to(target)
    reloaded = load_settings(target)
    assert reloaded == dialog.current_settings()
    assert reloaded.data.symbol == "SPY" and reloaded.agents.params == {"trend": {"lookback": 20}}
    assert str(target) in dialog.apply_status.text()


def test_save_is_refused_while_invalid(dialog: ConfigDialog, tmp_path: Path) -> None:
    type_into(dialog, "risk.daily_loss_limit", "abc")
    assert not dialog.save_to(tmp_path / "x.yaml")
    assert not (tmp_path / "x.yaml").exists()


def test_apply_emits_the_edited_settings_and_shows_the_engines_answer(qtbot, dialog: ConfigDialog) -> None:  # type: ignore[no-untyped-def]
    type_into(dialog, "risk.daily_loss_limit", "0.025")
    with qtbot.waitSignal(dialog.settings_applied) as signal:
        dialog.apply_button.click()
    applied = signal.args[0]
    assert isinstance(applied, Settings) and applied.risk.daily_loss_limit == 0.025
    dialog.set_apply_status("applied at bar 10:31 ET")
    assert dialog.apply_status.text() == "applied at bar 10:31 ET"


def test_apply_does_nothing_while_invalid(qtbot, dialog: ConfigDialog) -> None:  # type: ignore[no-untyped-def]
    type_into(dialog, "risk.daily_loss_limit", "0")
    with qtbot.assertNotEmitted(dialog.settings_applied):
        dialog.apply()


def test_restart_is_needed_for_data_and_feature_changes_only() -> None:
    changed = DEFAULTS.model_copy(update={
        "data": DEFAULTS.data.model_copy(update={"symbol": "SPY"}),
        "features": DEFAULTS.features.model_copy(update={"atr_period": 20}),
        "risk": DEFAULTS.risk.model_copy(update={"daily_loss_limit": 0.02}),
        "policy": DEFAULTS.policy.model_copy(update={"min_confidence": 0.6}),
    })
    assert restart_required_keys(DEFAULTS, changed) == ["data.symbol", "features.atr_period"]
    assert restart_required_keys(DEFAULTS, DEFAULTS) == []
    assert restart_required_keys(DEFAULTS, load_settings(SAFE_LIVE_PATH)) == []


def test_restart_keys_name_nested_entries() -> None:
    changed = DEFAULTS.model_copy(update={
        "agents": DEFAULTS.agents.model_copy(update={"params": {"trend": {"lookback": 20}}}),
    })
    assert "agents.params.trend.lookback" in restart_required_keys(DEFAULTS, changed)
