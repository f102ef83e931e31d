"""The `futbot` entry point: sub-commands for the terminal; no sub-command opens the window."""
from __future__ import annotations

import argparse
import sys
from importlib import import_module

# Each module registers one sub-command with `register(subparsers)`.
COMMAND_MODULES = ("app.commands.gui", "app.commands.data", "app.commands.regime", "app.commands.backtest", "app.commands.fetch",
                   "app.commands.live")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="futbot", description="FutBot trading workstation")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv or ["gui"])
    try:
        return int(args.run(args) or 0)
    except (ValueError, OSError) as exc:
        # Bad input from the user: one clear line, no traceback.
        print(f"futbot {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
