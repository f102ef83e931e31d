"""`futbot gui` (and plain `futbot`): the workstation window.

Qt is imported only when the window is wanted, so the terminal commands and headless mode
run on machines without a display or Qt's system libraries.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.persistence.db import STATE_DIR


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the workstation (the default when no command is given)")
    p.add_argument("--symbol", default=None, help="symbol to replay (default from settings)")
    p.add_argument("--days", type=int, default=20, help="trading days of embedded data to replay")
    p.add_argument("--seed", type=int, default=7, help="seed of the embedded data")
    p.add_argument("--config", type=Path, default=None,
                   help="settings file (default state/user_settings.yaml if it exists)")
    p.add_argument("--state-dir", type=Path, default=STATE_DIR, help="where state and logs live")
    p.add_argument("--speed", type=float, default=60.0, help="replay bars per second; 0 = max")
    p.add_argument("--paused", action="store_true", help="open paused instead of replaying at once")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from app.gui import run_gui

    return run_gui(args)
