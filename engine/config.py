"""Typed settings loaded from YAML.

`config/settings.yaml` holds the defaults; a user file overrides them key by key. Every
model refuses unknown keys and coerces nothing (strict), so a typo or a quoted number is
an error that names the file, the line, the key, the value and what is allowed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULTS_PATH = CONFIG_DIR / "settings.yaml"
SAFE_LIVE_PATH = CONFIG_DIR / "safe_live_config.yaml"

# A share of equity or a probability: 0.03 means 3 %.
Fraction = Annotated[float, Field(gt=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Period = Annotated[int, Field(ge=2, le=100_000)]


class ConfigError(ValueError):
    """A configuration problem; `problems` lists one readable line per bad key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FeatureSettings(Section):
    atr_period: Period = 14
    adx_period: Period = 14
    rsi_period: Period = 14
    ema_fast: Period = 12
    ema_slow: Period = 48
    hurst_window: Annotated[int, Field(ge=8, le=100_000)] = 128   # lags 1, 2, 4 .. window/4
    regression_window: Period = 30
    # A GARCH fit costs ~10 ms whatever the window; refits are spaced so 500,000 bars need ~43.
    garch_window: Annotated[int, Field(ge=100, le=100_000)] = 3_900
    garch_refit_every: Annotated[int, Field(ge=1, le=1_000_000)] = 11_700
    volatility_rank_window: Period = 390


class FVGSettings(Section):
    min_size_atr: NonNegative = 0.25
    max_age_bars: Period = 390


class RegimeSettings(Section):
    # Each feature's evidence rises linearly from its first level (none) to its second (full);
    # see engine/regime/scores.py. Tuned on synthetic QQQ seeds 1-6, MSFT and IWM seed 1.
    adx_range: Positive = 13.0
    adx_trend: Positive = 20.0
    hurst_mean_reversion: Fraction = 0.35
    hurst_trend: Fraction = 0.80
    rsi_range: NonNegative = 4.0          # distance of RSI from 50
    rsi_trend: Positive = 22.0
    slope_range: NonNegative = 0.02       # |regression slope| per bar, in ATRs
    slope_trend: Positive = 0.12
    vol_baseline_bars: Annotated[int, Field(ge=20, le=100_000)] = 1_950
    vol_ratio_compressed: Positive = 0.60  # ATR/close as a multiple of its baseline median
    vol_ratio_normal: Positive = 0.75
    vol_ratio_expanding: Positive = 1.00
    vol_ratio_expanded: Positive = 1.60
    activity_window_bars: Annotated[int, Field(ge=2, le=10_000)] = 30
    displacement_body: Fraction = 0.60
    displacement_quiet: Fraction = 0.26   # share of the window's bars that were displacement candles
    displacement_busy: Fraction = 0.40
    gaps_quiet: Fraction = 0.12           # share of the window's bars that completed a fair value gap
    gaps_busy: Fraction = 0.20
    switch_margin: Annotated[float, Field(ge=0.0, le=1.0)] = 0.15
    min_dwell_bars: Annotated[int, Field(ge=1, le=10_000)] = 1

    @model_validator(mode="after")
    def _ordered(self) -> "RegimeSettings":
        pairs = (
            ("adx_range", "adx_trend"), ("hurst_mean_reversion", "hurst_trend"), ("rsi_range", "rsi_trend"),
            ("slope_range", "slope_trend"), ("vol_ratio_compressed", "vol_ratio_normal"),
            ("vol_ratio_normal", "vol_ratio_expanding"), ("vol_ratio_expanding", "vol_ratio_expanded"),
            ("displacement_quiet", "displacement_busy"), ("gaps_quiet", "gaps_busy"),
        )
        for low, high in pairs:
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(f"{low} ({getattr(self, low)!r}) must be below {high} ({getattr(self, high)!r})")
        return self


class AgentSettings(Section):
    enabled: list[str] = Field(default_factory=lambda: ["trend", "mean_reversion", "volatility", "fvg"])
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)


class PolicySettings(Section):
    min_confidence: Fraction = 0.5
    conflict_threshold: Fraction = 0.25
    # Resize an open position only when the target moved by more than this share of the
    # maximum position: keeps equity drift from trading every bar.
    rebalance_band: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2


class AdaptationSettings(Section):
    enabled: bool = True
    learning_rate: Fraction = 0.05
    update_interval_bars: Annotated[int, Field(ge=1)] = 60
    weight_floor: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    weight_cap: Fraction = 0.70
    fitness_decay: Fraction = 0.95

    @model_validator(mode="after")
    def _bounds(self) -> "AdaptationSettings":
        if self.weight_floor >= self.weight_cap:
            raise ValueError("weight_floor must be below weight_cap")
        return self


class CircuitBreakerSettings(Section):
    consecutive_losses: Annotated[int, Field(ge=1, le=1_000)] = 5
    cooldown_bars: Annotated[int, Field(ge=1)] = 60


class VolatilityScalingSettings(Section):
    enabled: bool = True
    target_annual_vol: Fraction = 0.20
    min_scale: Fraction = 0.25


class VaRSettings(Section):
    enabled: bool = True
    confidence: Annotated[float, Field(ge=0.5, lt=1.0)] = 0.99
    lookback_bars: Annotated[int, Field(ge=20)] = 390
    limit: Fraction = 0.02


class RiskSettings(Section):
    daily_loss_limit: Fraction = 0.03
    soft_drawdown: Fraction = 0.10
    hard_drawdown: Fraction = 0.15
    soft_drawdown_scale: Fraction = 0.5
    max_position: Fraction = 0.10
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()
    volatility_scaling: VolatilityScalingSettings = VolatilityScalingSettings()
    regime_caps: dict[Literal["trend", "mean_reversion", "compression", "expansion"], Fraction] = Field(
        default_factory=lambda: {"trend": 1.0, "mean_reversion": 0.8, "compression": 0.5, "expansion": 0.6}
    )
    var: VaRSettings = VaRSettings()
    flatten_on_kill: bool = True

    @model_validator(mode="after")
    def _drawdowns(self) -> "RiskSettings":
        if self.soft_drawdown >= self.hard_drawdown:
            raise ValueError(
                f"soft_drawdown ({self.soft_drawdown}) must be below hard_drawdown ({self.hard_drawdown})"
            )
        return self


class IBKRSettings(Section):
    """Interactive Brokers (TWS / IB Gateway) connection for the live broker and bar feed."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65_535)] = 7497    # TWS paper; 7496 TWS live, 4002/4001 Gateway
    client_id: Annotated[int, Field(ge=0)] = 1
    account: str = ""                                       # "" = the only managed account
    connect_timeout: Positive = 10.0
    reconnect_initial: Positive = 1.0                       # seconds before the first retry, doubling ...
    reconnect_max: Positive = 60.0                          # ... up to this
    cash_tolerance: NonNegative = 0.01                      # cash difference that still reconciles

    @model_validator(mode="after")
    def _backoff_ordered(self) -> "IBKRSettings":
        if self.reconnect_initial > self.reconnect_max:
            raise ValueError(f"reconnect_initial ({self.reconnect_initial!r}) must not exceed "
                             f"reconnect_max ({self.reconnect_max!r})")
        return self


class ExecutionSettings(Section):
    fill: Literal["next_open", "close"] = "next_open"
    slippage_bps: NonNegative = 1.0
    slippage_atr: NonNegative = 0.0
    commission_per_share: NonNegative = 0.005
    commission_bps: NonNegative = 0.0
    max_volume_share: Annotated[float | None, Field(gt=0.0, le=1.0)] = None
    ibkr: IBKRSettings = IBKRSettings()


class PortfolioSettings(Section):
    initial_cash: Positive = 100_000.0


class DataSettings(Section):
    symbol: str = "QQQ"
    timezone: str = "America/New_York"
    cache_path: str = "state/bars.sqlite"
    # Polygon / Finnhub clients: per-request timeout, retries of 429/5xx/timeouts (waits
    # 1, 2, 4 .. s or the server's Retry-After), and how long a news sentiment stays fresh.
    http_timeout_seconds: Positive = 10.0
    http_max_retries: Annotated[int, Field(ge=0, le=20)] = 6
    sentiment_max_age_minutes: Annotated[int, Field(ge=0, le=10_080)] = 15


class MetricsSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65_535)] = 9108
    # The endpoint has no authentication: binding beyond loopback must be asked for.
    allow_remote: bool = False


class Settings(Section):
    data: DataSettings = DataSettings()
    features: FeatureSettings = FeatureSettings()
    fvg: FVGSettings = FVGSettings()
    regime: RegimeSettings = RegimeSettings()
    agents: AgentSettings = AgentSettings()
    policy: PolicySettings = PolicySettings()
    adaptation: AdaptationSettings = AdaptationSettings()
    risk: RiskSettings = RiskSettings()
    execution: ExecutionSettings = ExecutionSettings()
    portfolio: PortfolioSettings = PortfolioSettings()
    metrics: MetricsSettings = MetricsSettings()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="python")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` wins key by key; nested mappings merge, everything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _key_lines(node: yaml.Node | None, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Map each key path of a YAML document to its 1-based line, for error messages."""
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (str(key_node.value),)
            lines[path] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, path))
    return lines


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """Parse one YAML file into a mapping plus the line of every key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
        lines = _key_lines(yaml.compose(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: malformed YAML: {problem}"]) from exc
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections, got {type(data).__name__}"])
    return data, lines


def validate(data: dict[str, Any], sources: list[tuple[Path, dict[tuple[str, ...], int]]] | None = None) -> Settings:
    """Validate a settings mapping; `sources` (latest first) locate each key for messages."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_describe(err, data, sources or []) for err in exc.errors()]) from None


def _describe(err: Any, data: dict[str, Any], sources: list[tuple[Path, dict[tuple[str, ...], int]]]) -> str:
    loc = tuple(str(part) for part in err["loc"])
    key = ".".join(loc) if loc else "(top level)"
    where = "settings"
    for path, lines in sources:
        # Validators on a whole section report the section; find the deepest key we know.
        for depth in range(len(loc), 0, -1):
            if loc[:depth] in lines:
                where = f"{path}:{lines[loc[:depth]]}"
                break
        else:
            continue
        break
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key '{key}' (a typo?); allowed keys here: {_allowed(loc[:-1])}"
    value = err.get("input")
    message = err["msg"].removeprefix("Value error, ")
    if kind.endswith("_type") or kind in {"literal_error", "enum"}:
        return f"{where}: {key} = {value!r}: wrong type or choice: {message}"
    return f"{where}: {key} = {value!r}: {message}"


def _allowed(section: tuple[str, ...]) -> str:
    model: Any = Settings
    for part in section:
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return "(free-form)"
        model = field.annotation
    return ", ".join(sorted(model.model_fields))


def load_settings(path: str | Path | None = None, *, defaults: Path = DEFAULTS_PATH) -> Settings:
    """Load the defaults, then override them key by key with the user's file, and validate."""
    base, base_lines = read_yaml(defaults)
    sources = [(defaults, base_lines)]
    data = base
    if path is not None:
        user_path = Path(path)
        user, user_lines = read_yaml(user_path)
        data = deep_merge(base, user)
        sources.insert(0, (user_path, user_lines))
    return validate(data, sources)


def save_settings(settings: Settings, path: str | Path) -> None:
    """Write settings as YAML; the write is atomic so a crash never leaves half a file."""
    target = Path(path)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(settings.to_dict(), sort_keys=False), encoding="utf-8")
    tmp.replace(target)


# Sections the engine can swap at a safe point between bars; a change anywhere else (the
# symbol, feature windows, the agent set, starting cash...) only takes effect after a restart.
LIVE_SECTIONS = frozenset({"risk", "policy", "adaptation", "execution"})
_MISSING = object()


def restart_required_keys(old: Settings, new: Settings) -> list[str]:
    """Dotted keys whose change from `old` to `new` needs a restart, e.g. ['data.symbol']."""
    def leaves(value: Any, prefix: str) -> dict[str, Any]:
        if isinstance(value, dict) and value:
            return {k: v for key, sub in value.items() for k, v in leaves(sub, f"{prefix}.{key}").items()}
        return {prefix: value}

    keys: list[str] = []
    for section in Settings.model_fields:
        if section in LIVE_SECTIONS:
            continue
        before = leaves(getattr(old, section).model_dump(), section)
        after = leaves(getattr(new, section).model_dump(), section)
        keys += [key for key in {**before, **after} if before.get(key, _MISSING) != after.get(key, _MISSING)]
    return keys
