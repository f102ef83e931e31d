"""`futbot regime` through app.main.main: distribution, accuracy and confusion matrix."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from app.main import main
from engine.config import load_settings
from engine.data.files import save_bars
from engine.data.synthetic import generate_bars
from engine.features.pipeline import compute_features
from engine.regime.engine import RegimeEngine, confusion_matrix
from engine.regime.regime import Regime


def matrix_rows(out: str) -> dict[str, list[int]]:
    """The confusion matrix's counts per true regime, read back from the printout."""
    rows = {}
    for r in Regime:
        match = re.search(rf"^{r.label}\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+[\d.]+%$", out, re.MULTILINE)
        assert match, f"no confusion matrix row for {r.label} in:\n{out}"
        rows[r.label] = [int(x.replace(",", "")) for x in match.groups()]
    return rows


def test_synthetic_run_prints_distribution_accuracy_and_confusion_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regime", "--synthetic", "--days", "5", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "QQQ: 1,950 bars" in out
    for r in Regime:
        assert re.search(rf"^{r.label}\s+[\d,]+\s+[\d.]+%$", out, re.MULTILINE), r.label
    assert re.search(r"regime changes: \d+", out)
    accuracy = float(re.search(r"accuracy against the generator's true phases: ([\d.]+)%", out).group(1))
    assert "confusion matrix (rows true, columns predicted):" in out

    settings = load_settings()
    series = generate_bars("QQQ", days=5, seed=3)
    expected = confusion_matrix(series.phase, RegimeEngine(settings.regime).classify_frame(compute_features(series, settings)))
    assert matrix_rows(out) == {r.label: list(expected[r]) for r in Regime}
    assert accuracy == pytest.approx(100 * np.trace(expected) / 1_950, abs=0.05)


def test_file_with_phases_is_scored_and_without_them_only_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = save_bars(generate_bars("SPY", days=3, seed=4), tmp_path / "spy.csv")
    assert main(["regime", "--data", str(path)]) == 0
    assert "accuracy against the generator's true phases" in capsys.readouterr().out

    lines = path.read_text().splitlines()
    assert lines[0].endswith(",phase")
    bare = tmp_path / "bare.csv"
    bare.write_text("".join(line.rsplit(",", 1)[0] + "\n" for line in lines))   # drop the phase column
    assert main(["regime", "--data", str(bare)]) == 0
    out = capsys.readouterr().out
    assert "bars" in out and "regime changes" in out
    assert "accuracy" not in out
