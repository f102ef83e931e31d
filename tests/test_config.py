"""Typed settings: defaults, presets, key-by-key overrides and located, readable errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import (
    SAFE_LIVE_PATH, ConfigError, Settings, deep_merge, load_settings, save_settings,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "user.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_carry_the_seed_values() -> None:
    s = load_settings()
    assert (s.risk.daily_loss_limit, s.risk.hard_drawdown, s.risk.soft_drawdown) == (0.03, 0.15, 0.10)
    assert s.risk.max_position == 0.10 and s.policy.min_confidence == 0.5


def test_defaults_file_matches_model_defaults() -> None:
    # settings.yaml documents every key; it must not drift from the code's defaults.
    assert load_settings() == Settings()


def test_safe_live_preset_is_conservative() -> None:
    default, safe = load_settings(), load_settings(SAFE_LIVE_PATH)
    assert (safe.risk.daily_loss_limit, safe.risk.hard_drawdown, safe.risk.soft_drawdown) == (0.02, 0.10, 0.07)
    assert safe.risk.max_position == 0.05 and safe.policy.min_confidence == 0.6
    assert safe.adaptation.learning_rate < default.adaptation.learning_rate
    assert safe.adaptation.update_interval_bars > default.adaptation.update_interval_bars


def test_user_file_overrides_key_by_key(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "risk:\n  circuit_breaker:\n    consecutive_losses: 2\n"))
    assert s.risk.circuit_breaker.consecutive_losses == 2
    assert s.risk.circuit_breaker.cooldown_bars == Settings().risk.circuit_breaker.cooldown_bars
    assert s.risk.daily_loss_limit == 0.03


def test_empty_user_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "")) == Settings()


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    return info.value.problems


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "risk:\n  daily_loss_limit: 0.02\n  regime_caps: {trend: 1.0\n")
    assert "user.yaml:" in msg and "malformed YAML" in msg


def test_unknown_key_is_a_typo_not_ignored(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "risk:\n  daily_los_limit: 0.02\n")
    assert "user.yaml:2" in msg and "risk.daily_los_limit" in msg and "daily_loss_limit" in msg


def test_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "policy:\n  min_confidence: 'high'\n")
    assert "user.yaml:2" in msg and "policy.min_confidence" in msg and "'high'" in msg


def test_quoted_number_is_refused(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "risk:\n  max_position: '0.1'\n")
    assert "risk.max_position" in msg


@pytest.mark.parametrize("key,value", [("daily_loss_limit", -0.01), ("max_position", 1.5), ("hard_drawdown", 0.0)])
def test_out_of_range_shares_are_refused(tmp_path: Path, key: str, value: float) -> None:
    (msg,) = problems(tmp_path, f"risk:\n  {key}: {value}\n")
    assert f"risk.{key} = {value}" in msg


def test_soft_drawdown_above_hard_is_refused(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "risk:\n  soft_drawdown: 0.2\n  hard_drawdown: 0.15\n")
    assert "soft_drawdown" in msg and "hard_drawdown" in msg and "user.yaml:" in msg


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(tmp_path, "risk:\n  max_position: 2\n  var:\n    limit: -1\npolicy:\n  min_confidence: 7\n")
    assert len(found) == 3


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "- a\n- b\n")
    assert "mapping" in msg


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml")


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    safe = load_settings(SAFE_LIVE_PATH)
    out = tmp_path / "saved.yaml"
    save_settings(safe, out)
    assert load_settings(out) == safe


def test_deep_merge_replaces_lists_and_merges_mappings() -> None:
    merged = deep_merge({"a": {"x": 1, "y": [1, 2]}, "b": 1}, {"a": {"y": [3]}})
    assert merged == {"a": {"x": 1, "y": [3]}, "b": 1}
