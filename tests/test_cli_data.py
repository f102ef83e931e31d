"""`futbot data ...` through app.main.main, with files in tmp_path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.main import main
from engine.data.cache import BarCache
from engine.data.files import load_bars
from engine.data.synthetic import generate_bars


def test_synth_writes_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "qqq.csv"
    assert main(["data", "synth", "--symbol", "QQQ", "--days", "2", "--seed", "7", "--out", str(out)]) == 0
    series, report = load_bars(out, tz="America/New_York")
    assert report.ok and np.array_equal(series.close, generate_bars("QQQ", days=2, seed=7).close)
    assert "QQQ: 780 bars" in capsys.readouterr().out


def test_synth_several_symbols_writes_one_file_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bars.parquet"
    assert main(["data", "synth", "--symbol", "QQQ,spy", "--days", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars_QQQ.parquet", "bars_SPY.parquet"]
    spy, _ = load_bars(tmp_path / "bars_SPY.parquet", tz="America/New_York")
    assert spy.symbol == "SPY" and len(spy) == 390


def test_validate_prints_the_report_and_exits_0_on_clean_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "clean.csv"
    main(["data", "synth", "--days", "1", "--symbol", "IWM", "--out", str(out)])
    capsys.readouterr()
    assert main(["data", "validate", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "IWM: 390 rows read, 390 kept, 0 dropped" in printed and printed.strip().endswith("OK")


def test_validate_exits_1_when_rows_are_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02 09:30,1,2,0.5,1.5,10\n"
        "2024-01-02 09:31,1,0.1,0.5,1.5,10\n",
        encoding="utf-8",
    )
    assert main(["data", "validate", str(bad)]) == 1
    assert "dropped 1 x high below low" in capsys.readouterr().out


def test_validate_strict_fails_on_holes(tmp_path: Path) -> None:
    holed = tmp_path / "holed.csv"
    holed.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02 09:30,1,2,0.5,1.5,10\n"
        "2024-01-02 09:31,1,2,0.5,1.5,10\n"
        "2024-01-02 09:35,1,2,0.5,1.5,10\n",
        encoding="utf-8",
    )
    assert main(["data", "validate", str(holed)]) == 0
    assert main(["data", "validate", "--strict", str(holed)]) == 1


def test_import_then_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, cache = tmp_path / "spy.parquet", tmp_path / "cache.sqlite"
    main(["data", "synth", "--symbol", "SPY", "--days", "2", "--out", str(data)])
    assert main(["data", "import", str(data), "--symbol", "SPY", "--cache", str(cache)]) == 0
    assert "imported 780 1min bars of SPY" in capsys.readouterr().out
    # Importing again upserts: still 780 bars.
    assert main(["data", "import", str(data), "--symbol", "SPY", "--cache", str(cache)]) == 0
    with BarCache(cache) as opened:
        assert opened.coverage("SPY", "1min").count == 780
    capsys.readouterr()
    assert main(["data", "list", "--cache", str(cache)]) == 0
    listing = capsys.readouterr().out
    assert "SPY" in listing and "1min" in listing and "780" in listing
    assert "2024-01-02 09:30:00-05:00 -> 2024-01-03 15:59:00-05:00" in listing


def test_import_names_the_timeframe_from_the_spacing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    daily = tmp_path / "daily.csv"
    daily.write_text("date,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n2024-01-03,1,2,0.5,1.5,10\n")
    cache = tmp_path / "c.sqlite"
    assert main(["data", "import", str(daily), "--symbol", "ABC", "--cache", str(cache)]) == 0
    assert "imported 2 1d bars of ABC" in capsys.readouterr().out


def test_list_of_an_empty_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "--cache", str(tmp_path / "empty.sqlite")]) == 0
    assert "empty" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "validate", "missing.csv"], "missing.csv: no such file"),
        (["data", "synth", "--out", "bars.txt"], "unknown bar file type"),
        (["data", "synth", "--days", "0", "--out", "x.csv"], "days must be a positive integer"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [str(tmp_path / a) if a.endswith((".csv", ".txt")) else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("futbot data: error:") and message in err
