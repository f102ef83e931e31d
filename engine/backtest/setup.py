"""The run choices a trader makes for a backtest, applied to settings in one place.

The CLI, the backtest dialog and the benchmarks all build their settings here, validated by
the same rules as a YAML file.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from engine.config import Settings, validate


def permissive_risk(risk: dict[str, Any]) -> dict[str, Any]:
    """Risk settings whose layers never bind; max_position still sizes trades, the kill switch works."""
    out = dict(risk)
    out.update(daily_loss_limit=1.0, soft_drawdown=0.999, hard_drawdown=1.0, soft_drawdown_scale=1.0)
    out["circuit_breaker"] = {**risk["circuit_breaker"], "consecutive_losses": 1_000}
    out["volatility_scaling"] = {**risk["volatility_scaling"], "enabled": False}
    out["regime_caps"] = {k: 1.0 for k in risk["regime_caps"]}
    out["var"] = {**risk["var"], "enabled": False}
    return out


def backtest_settings(
    base: Settings,
    *,
    agents: Sequence[str] | None = None,
    adaptation: bool = True,
    risk: bool = True,
    cash: float | None = None,
    commission_per_share: float | None = None,
    slippage_bps: float | None = None,
    fill: Literal["next_open", "close"] | None = None,
) -> Settings:
    """`base` with the run's choices; `None` keeps the base value. Agent parameters of agents
    not chosen are dropped (config refuses parameters for agents that do not run)."""
    data = base.to_dict()
    if agents is not None:
        names = list(agents)
        if not names:
            raise ValueError("agents = (): choose at least one agent to run")
        data["agents"]["enabled"] = names
        data["agents"]["params"] = {k: v for k, v in data["agents"]["params"].items() if k in names}
    if not adaptation:
        data["adaptation"]["enabled"] = False
    if not risk:
        data["risk"] = permissive_risk(data["risk"])
    for section, key, value in (("portfolio", "initial_cash", cash),
                                ("execution", "commission_per_share", commission_per_share),
                                ("execution", "slippage_bps", slippage_bps), ("execution", "fill", fill)):
        if value is not None:
            data[section][key] = value
    return validate(data)
