"""`futbot backtest`: the report, the JSON export and clear errors."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from app.main import main


def test_backtest_prints_the_report_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    assert main(["backtest", "--synthetic", "--days", "3", "--seed", "2", "--quiet", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "FutBot backtest · QQQ · 1,170 bars" in printed
    for label in ("Sharpe", "Max drawdown", "Profit factor", "Trades by regime:", "Trades by agent:"):
        assert label in printed
    doc = json.loads(out.read_text())
    assert doc["bars"] == 1170 and doc["stats"]["trades"] == len(doc["trades"]) > 0
    first = doc["trades"][0]
    assert datetime.fromisoformat(first["entry_time"].replace("Z", "+00:00")).tzinfo is not None
    assert {"entry_price", "exit_price", "qty", "pnl", "fees", "agent", "regime"} <= set(first)


def test_switches_reach_the_engine(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    args = ["backtest", "--days", "3", "--quiet", "--agents", "sma_cross", "--no-risk", "--no-adapt",
            "--commission", "0", "--slippage-bps", "0", "--json", str(out)]
    assert main(args) == 0
    doc = json.loads(out.read_text())
    assert {t["agent"] for t in doc["trades"]} == {"sma_cross"}
    assert doc["stats"]["fees"] == 0.0


def test_unknown_agent_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--days", "1", "--quiet", "--agents", "nope"]) == 2
    assert "unknown agent 'nope'" in capsys.readouterr().err


def test_bad_config_file_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("risk:\n  max_position: 3\n")
    assert main(["backtest", "--days", "1", "--quiet", "--config", str(bad)]) == 2
    assert "risk.max_position = 3" in capsys.readouterr().err


def test_no_regime_runs_sma_cross_without_labels_and_refuses_regime_readers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    args = ["backtest", "--days", "3", "--quiet", "--agents", "sma_cross", "--no-risk", "--no-adapt", "--no-regime",
            "--json", str(out)]
    assert main(args) == 0
    assert "Trades by regime: not computed (--no-regime)" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["trades"] and {t["regime"] for t in doc["trades"]} == {""} and doc["by_regime"] == {}
    assert main(["backtest", "--days", "1", "--quiet", "--no-regime"]) == 2
    assert "adaptation learns weights per regime" in capsys.readouterr().err
