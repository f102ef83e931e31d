import argparse
import gc
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _collect_qt_garbage_in_the_main_thread(request: pytest.FixtureRequest):
    # Qt objects a GUI test leaves in reference cycles must be collected here, in the GUI
    # thread, not later by whichever worker thread of another test happens to allocate.
    yield
    if "qtbot" in request.fixturenames or "qapp" in request.fixturenames:
        gc.collect()


@pytest.fixture
def make_station(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Each test gets its own layout file so window geometry never leaks between tests.
    monkeypatch.setattr("app.window.default_settings",
                        lambda: QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat))
    from app.gui import Workstation
    from engine.config import load_settings

    stations: list[Workstation] = []

    def make(**overrides: object) -> Workstation:
        ns = argparse.Namespace(symbol="QQQ", days=3, seed=7, state_dir=tmp_path / "state",
                                speed=0.0, paused=False)
        for key, value in overrides.items():
            setattr(ns, key, value)
        station = Workstation(load_settings(), ns)
        qtbot.addWidget(station.window)
        stations.append(station)
        return station

    yield make
    for station in stations:
        station.shutdown()
