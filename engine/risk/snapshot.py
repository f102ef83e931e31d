"""The risk manager's state as plain values, for SQLite/JSON, so a restart resumes it exactly."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class RiskSnapshot:
    """Everything the manager needs to carry on after a restart.

    Before the first bar `day` is None and `day_start_equity` NaN (None in the dict);
    `last_price` is None before the first price. `returns` is the VaR window, oldest first.
    """

    ts: int
    last_equity: float
    day: int | None
    day_start_equity: float
    daily_limit_hit: bool
    peak_equity: float
    soft_drawdown_active: bool
    hard_drawdown_halted: bool
    consecutive_losses: int
    cooldown_bars_left: int
    breaker_blocking: bool
    killed: bool
    kill_reason: str
    last_price: float | None
    returns: tuple[float, ...]
    version: int = SNAPSHOT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: lists for tuples, None for unknown numbers."""
        # A shallow field copy: asdict would deep-copy the whole VaR window on every checkpoint.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["returns"] = list(self.returns)
        if data["day_start_equity"] != data["day_start_equity"]:
            data["day_start_equity"] = None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RiskSnapshot":
        """Read `to_dict` output back, with a clear error for a missing, unknown or mistyped key."""
        if not isinstance(data, dict):
            raise ValueError(f"risk snapshot: expected a mapping, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"risk snapshot: unknown keys {unknown}; expected {sorted(names)}")
        missing = sorted(names - set(data) - {"version"})
        if missing:
            raise ValueError(f"risk snapshot: missing keys {missing}")
        version = data.get("version", SNAPSHOT_VERSION)
        if version != SNAPSHOT_VERSION:
            raise ValueError(f"risk snapshot version={version!r}: this build reads version {SNAPSHOT_VERSION}")
        returns = data["returns"]
        if not isinstance(returns, (list, tuple)):
            raise ValueError(f"risk snapshot returns={returns!r}: expected a list of numbers")
        start = data["day_start_equity"]
        return cls(
            ts=_int(data, "ts"),
            last_equity=_float(data, "last_equity"),
            day=None if data["day"] is None else _int(data, "day"),
            day_start_equity=math.nan if start is None else _float(data, "day_start_equity"),
            daily_limit_hit=_bool(data, "daily_limit_hit"),
            peak_equity=_float(data, "peak_equity"),
            soft_drawdown_active=_bool(data, "soft_drawdown_active"),
            hard_drawdown_halted=_bool(data, "hard_drawdown_halted"),
            consecutive_losses=_count(data, "consecutive_losses"),
            cooldown_bars_left=_count(data, "cooldown_bars_left"),
            breaker_blocking=_bool(data, "breaker_blocking"),
            killed=_bool(data, "killed"),
            kill_reason=_str(data, "kill_reason"),
            last_price=None if data["last_price"] is None else _float(data, "last_price"),
            returns=tuple(_number(r, f"returns[{i}]") for i, r in enumerate(returns)),
        )


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"risk snapshot {key}={value!r}: expected a finite number")
    return float(value)


def _float(data: dict[str, Any], key: str) -> float:
    return _number(data[key], key)


def _int(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"risk snapshot {key}={value!r}: expected an integer")
    return value


def _count(data: dict[str, Any], key: str) -> int:
    value = _int(data, key)
    if value < 0:
        raise ValueError(f"risk snapshot {key}={value!r}: expected a count >= 0")
    return value


def _bool(data: dict[str, Any], key: str) -> bool:
    value = data[key]
    if not isinstance(value, bool):
        raise ValueError(f"risk snapshot {key}={value!r}: expected true or false")
    return value


def _str(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"risk snapshot {key}={value!r}: expected a string")
    return value
