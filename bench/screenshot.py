"""Run the real workstation for a while and save a screenshot of its window.

    xvfb-run -s "-screen 0 1600x1000x24" python bench/screenshot.py docs/screenshot.png --seconds 20
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.gui import Workstation
from app.theme import apply_dark_theme
from engine.config import load_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--speed", type=float, default=400.0)
    args = parser.parse_args()
    app = QApplication([])
    apply_dark_theme(app)
    ns = argparse.Namespace(symbol="QQQ", days=20, seed=7, state_dir=Path(tempfile.mkdtemp()),
                            speed=args.speed, paused=False)
    station = Workstation(load_settings(), ns)
    station.window.resize(1600, 1000)
    station.window.show()

    def shoot() -> None:
        station.window.grab().save(str(args.out))
        station.shutdown()
        app.quit()

    QTimer.singleShot(int(args.seconds * 1000), shoot)
    app.exec()


if __name__ == "__main__":
    main()
