"""AdvancedRiskManager: the layers between the policy's target position and the broker.

Per bar the engine calls `on_bar` (day roll, peak and drawdown, the VaR window, the
cool-down countdown, the trading state) and then `check` with the policy's target. `check`
applies the layers in this order, each one only ever moving the target toward zero, so every
cap still holds after the layers that follow it:

1. sizing: soft drawdown (size × soft_drawdown_scale) and volatility scaling
   (size × clip(target_annual_vol / realised annual vol, min_scale, 1));
2. caps on |position value|: max_position × equity, then max_position × regime cap × equity,
   then the VaR limit (see `engine.risk.var` for the method);
3. the trading state: REDUCING allows only moves toward zero, never past it; HALTED
   approves the current position.

The state is HALTED after a kill or a hard drawdown (both latch until `rearm(confirm=True)`),
REDUCING while the daily loss limit is hit (until the next session day) or the circuit
breaker cools down, ACTIVE otherwise. Latching limits report through `drain_events()` when
they change; the sizing layers and caps, which act bar by bar, report in each decision's
`actions` instead, so the event log is not flooded.
"""
from __future__ import annotations

import math

from engine.config import RiskSettings
from engine.regime.regime import Regime
from engine.risk.limits import CircuitBreaker, DailyLossLimit, DrawdownGuard
from engine.risk.sizing import reduce_only, volatility_scale
from engine.risk.snapshot import RiskSnapshot
from engine.risk.state import RiskAction, RiskDecision, RiskEvent, TradingState
from engine.risk.var import RollingHistoricalVaR

_INF = math.inf
_NO_ACTIONS: tuple[RiskAction, ...] = ()
_ACTIVE, _REDUCING, _HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
_REGIME_LABELS = tuple(r.label for r in Regime)

# Reason templates of the layers that may act on every bar (see RiskAction).
_SOFT_DRAWDOWN = "drawdown {:.2%} from peak {:,.2f} is past the soft limit {:.2%}: size x{:g}"
_VOL_HIGH = "realised volatility {:.1%} a year is above the target {:.1%}: size x{:.3f}"
_VOL_UNKNOWN = "volatility unknown (warm-up): size x{:g}, the minimum"
_MAX_POSITION = "{:,.2f} shares at {:,.2f} exceed max_position {:.2%} of equity {:,.2f}: cut to {:,.2f} shares"
_REGIME_CAP = "{} allows {:.0%} of max_position: {:,.2f} shares cut to {:,.2f}"
_HALTED_GATE = "HALTED by {}: target {:+,.2f} shares refused, the position stays {:+,.2f}"
_REDUCING_GATE = "REDUCING by {}: only moves toward zero, target {:+,.2f} shares -> {:+,.2f}"
_VAR = ("one-bar {:.1%} VaR of {:,.2f} shares at {:,.2f} is {:.3%} of their value, above the limit "
        "{:.2%} of equity {:,.2f}: cut to {:,.2f} shares")


def _with(actions: list[RiskAction] | None, action: RiskAction) -> list[RiskAction]:
    # The list is made only when a layer acts, so a bar where nothing binds allocates none.
    if actions is None:
        return [action]
    actions.append(action)
    return actions


class AdvancedRiskManager:
    """Approves, shrinks or blocks target positions; see the module docstring for the layers.

    `bars_per_year` annualises the per-bar volatility (252 × 390 for 1-minute bars).
    """

    def __init__(self, settings: RiskSettings, initial_equity: float, bars_per_year: float = 252 * 390) -> None:
        if not 0.0 < initial_equity < _INF:
            raise ValueError(f"initial_equity={initial_equity!r}: expected a positive finite amount")
        if not 0.0 < bars_per_year < _INF:
            raise ValueError(f"bars_per_year={bars_per_year!r}: expected a positive finite number")
        missing = [r.label for r in Regime if r.label not in settings.regime_caps]
        if missing:
            raise ValueError(f"risk.regime_caps has no cap for {missing}; expected one for every regime")
        self.settings = settings
        self._regime_caps = tuple(settings.regime_caps[r.label] for r in Regime)
        self._max_position = settings.max_position
        vol = settings.volatility_scaling
        self._vol_on = vol.enabled
        self._vol_target = vol.target_annual_vol
        self._vol_min = vol.min_scale
        self._annualiser = math.sqrt(bars_per_year)
        var = settings.var
        self._var = RollingHistoricalVaR(var.lookback_bars, var.confidence) if var.enabled else None
        self._var_limit = var.limit
        self._events: list[RiskEvent] = []
        self._ts = 0
        self._last_equity = float(initial_equity)
        self._killed = False
        self._kill_reason = ""
        self._state = _ACTIVE
        self._last_decision = RiskDecision(0.0, _ACTIVE, _NO_ACTIONS)
        self._daily = DailyLossLimit(settings.daily_loss_limit, self._emit)
        self._drawdown = DrawdownGuard(settings.soft_drawdown, settings.hard_drawdown,
                                       settings.soft_drawdown_scale, self._last_equity, self._emit)
        breaker = settings.circuit_breaker
        self._breaker = CircuitBreaker(breaker.consecutive_losses, breaker.cooldown_bars, self._emit)

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def flatten_on_kill(self) -> bool:
        return self.settings.flatten_on_kill

    @property
    def kill_reason(self) -> str:
        """Why the kill switch was pulled; empty when it is not."""
        return self._kill_reason

    def on_bar(self, ts: int, day: int, price: float, equity: float) -> None:
        """Advance one bar. `day` is any integer that grows by session day (e.g. the
        exchange-local date's ordinal); `price` the bar's close; `equity` marked at it."""
        if not 0.0 < price < _INF:
            raise ValueError(f"on_bar price={price!r}: expected a positive finite price")
        if not -_INF < equity < _INF:
            raise ValueError(f"on_bar equity={equity!r}: expected a finite amount")
        self._ts = ts
        self._daily.on_bar(day, equity, self._last_equity)
        self._drawdown.on_bar(equity)
        self._breaker.on_bar()
        if self._var is not None:
            self._var.update(price)
        self._last_equity = equity
        self._update_state()

    def check(self, target: float, position: float, price: float, equity: float,
              regime: Regime, bar_vol: float) -> RiskDecision:
        """Approve a signed target position (shares) given the current one.

        `bar_vol` is the per-bar sigma of returns (a fraction; NaN while unknown).
        """
        if not 0.0 < price < _INF:
            raise ValueError(f"check price={price!r}: expected a positive finite price")
        if not (-_INF < target < _INF and -_INF < position < _INF and -_INF < equity < _INF):
            raise ValueError(
                f"check target={target!r}, position={position!r}, equity={equity!r}: expected finite numbers")
        if bar_vol < 0.0 or bar_vol == _INF:
            raise ValueError(f"check bar_vol={bar_vol!r}: expected a per-bar sigma >= 0 (NaN if unknown)")
        try:
            regime_cap = self._regime_caps[regime]
        except (IndexError, TypeError):
            raise ValueError(f"check regime={regime!r}: expected a Regime") from None
        state = self._state
        if state is _HALTED:
            if target == position:
                return self._decision(position, state)
            return RiskDecision(position, state, (self._gate_action(target, position),))
        actions: list[RiskAction] | None = None
        qty = target
        if qty != 0.0:
            scale = 1.0
            drawdown = self._drawdown
            if drawdown.soft_active:
                scale = drawdown.scale
                actions = [RiskAction("soft_drawdown", _SOFT_DRAWDOWN, (
                    drawdown.drawdown(equity), drawdown.peak, drawdown.soft, scale))]
            if self._vol_on:
                vol_scale = volatility_scale(bar_vol, self._annualiser, self._vol_target, self._vol_min)
                if vol_scale < 1.0:
                    scale *= vol_scale
                    actions = _with(actions, self._volatility_action(bar_vol, vol_scale))
            qty *= scale
            size = abs(qty)
            # With no equity left there is nothing to risk: every cap is zero.
            at_risk = equity if equity > 0.0 else 0.0
            max_qty = self._max_position * at_risk / price
            if size > max_qty:
                actions = _with(actions, RiskAction("max_position", _MAX_POSITION, (
                    size, price, self._max_position, equity, max_qty)))
                qty = math.copysign(max_qty, qty)
                size = max_qty
            regime_qty = max_qty * regime_cap
            if size > regime_qty:
                actions = _with(actions, RiskAction("regime_cap", _REGIME_CAP, (
                    _REGIME_LABELS[regime], regime_cap, size, regime_qty)))
                qty = math.copysign(regime_qty, qty)
                size = regime_qty
            var = self._var
            if var is not None:
                loss = var.long_loss if qty > 0.0 else var.short_loss
                if loss > 0.0:
                    var_qty = self._var_limit * at_risk / (price * loss)
                    if size > var_qty:
                        actions = _with(actions, RiskAction("var", _VAR, (
                            var.confidence, size, price, loss, self._var_limit, equity, var_qty)))
                        qty = math.copysign(var_qty, qty)
        if state is _REDUCING:
            approved = reduce_only(qty, position)
            if approved != qty:
                actions = _with(actions, self._gate_action(qty, position, approved))
            qty = approved
        if actions is None:
            return self._decision(qty, state)
        return RiskDecision(qty, state, tuple(actions))

    def _decision(self, approved: float, state: TradingState) -> RiskDecision:
        """A decision no rule acted on; the previous one is reused when it is the same."""
        last = self._last_decision
        if last.approved == approved and last.state is state:
            return last
        self._last_decision = decision = RiskDecision(approved, state, _NO_ACTIONS)
        return decision

    def on_trade_closed(self, pnl: float) -> None:
        """A round trip closed with this realised PnL (money, after costs)."""
        if not -_INF < pnl < _INF:
            raise ValueError(f"on_trade_closed pnl={pnl!r}: expected a finite amount")
        self._breaker.on_trade_closed(pnl)
        self._update_state()

    def kill(self, reason: str) -> bool:
        """Halt at once. Returns `flatten_on_kill`: True asks the engine to flatten via the broker.

        Pulling the switch again while it is pulled keeps the first reason.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"kill reason={reason!r}: expected a text saying why")
        flatten = self.settings.flatten_on_kill
        if not self._killed:
            self._killed = True
            self._kill_reason = reason
            self._emit("kill_switch", "killed",
                       f"{reason}; " + ("flatten the position" if flatten else "keep the position"))
            self._update_state()
        return flatten

    def rearm(self, confirm: bool) -> None:
        """Lift the kill switch and a hard-drawdown halt; needs `confirm=True`.

        After a hard drawdown the current equity becomes the new peak. The daily loss limit
        and a circuit-breaker cool-down are not lifted: they end on their own.
        """
        if confirm is not True:
            raise ValueError(f"rearm confirm={confirm!r}: re-arming resumes trading; pass confirm=True to do it")
        cleared: list[str] = []
        if self._drawdown.hard_halted:
            if not self._last_equity > 0.0:
                raise ValueError(f"rearm: equity {self._last_equity!r} is not positive; it cannot be the new peak")
            self._drawdown.rearm(self._last_equity)
            cleared.append(f"hard drawdown (new peak {self._last_equity:,.2f})")
        if self._killed:
            cleared.append(f"kill switch ({self._kill_reason})")
            self._killed = False
            self._kill_reason = ""
        if cleared:
            self._emit("kill_switch", "rearmed", "cleared " + " and ".join(cleared))
            self._update_state()

    def drain_events(self) -> list[RiskEvent]:
        """The events since the last drain, oldest first."""
        events, self._events = self._events, []
        return events

    def snapshot(self) -> RiskSnapshot:
        var = self._var
        last_price = None if var is None or var.last_price != var.last_price else var.last_price
        return RiskSnapshot(
            ts=self._ts, last_equity=self._last_equity,
            day=self._daily.day, day_start_equity=self._daily.start_equity, daily_limit_hit=self._daily.hit,
            peak_equity=self._drawdown.peak, soft_drawdown_active=self._drawdown.soft_active,
            hard_drawdown_halted=self._drawdown.hard_halted,
            consecutive_losses=self._breaker.losses, cooldown_bars_left=self._breaker.cooldown_left,
            breaker_blocking=self._breaker.blocking,
            killed=self._killed, kill_reason=self._kill_reason,
            last_price=last_price, returns=() if var is None else var.returns(),
        )

    def restore(self, snapshot: RiskSnapshot) -> None:
        """Resume from a snapshot (a restart): limits, peak, breaker, VaR window and any halt."""
        if not 0.0 < snapshot.peak_equity < _INF:
            raise ValueError(f"restore peak_equity={snapshot.peak_equity!r}: expected a positive finite amount")
        self._ts = snapshot.ts
        self._last_equity = snapshot.last_equity
        self._daily.restore(snapshot.day, snapshot.day_start_equity, snapshot.daily_limit_hit)
        self._drawdown.restore(snapshot.peak_equity, snapshot.soft_drawdown_active, snapshot.hard_drawdown_halted)
        self._breaker.restore(snapshot.consecutive_losses, snapshot.cooldown_bars_left, snapshot.breaker_blocking)
        self._killed = snapshot.killed
        self._kill_reason = snapshot.kill_reason
        if self._var is not None:
            self._var.load(snapshot.returns, math.nan if snapshot.last_price is None else snapshot.last_price)
        self._state = self._derived_state()
        self._emit("risk_manager", "restored", f"state {self._state.value}: {self._causes_text()}")

    # -- state and reasons -------------------------------------------------------------------

    def _emit(self, rule: str, what: str, reason: str) -> None:
        self._events.append(RiskEvent(rule, what, reason, self._ts))

    def _derived_state(self) -> TradingState:
        if self._killed or self._drawdown.hard_halted:
            return _HALTED
        if self._daily.hit or self._breaker.blocking:
            return _REDUCING
        return _ACTIVE

    def _update_state(self) -> None:
        new = self._derived_state()
        if new is not self._state:
            old, self._state = self._state, new
            self._emit("trading_state", f"{old.value} -> {new.value}", self._causes_text())

    def _causes_text(self) -> str:
        """Every latch holding the state below ACTIVE, most severe first."""
        causes: list[str] = []
        if self._killed:
            causes.append(f"kill switch: {self._kill_reason}")
        if self._drawdown.hard_halted:
            causes.append(f"hard drawdown limit {self._drawdown.hard:.2%} reached")
        if self._daily.hit:
            causes.append(f"daily loss limit {self._daily.limit:.2%} hit on day {self._daily.day}")
        if self._breaker.blocking:
            causes.append(f"circuit breaker cool-down, {self._breaker.cooldown_left} more bars")
        return "; ".join(causes) or "no limit active"

    def _gate_action(self, target: float, position: float, approved: float | None = None) -> RiskAction:
        # The rule named is the most severe latch; the state-change event lists all of them.
        if self._killed:
            rule = "kill_switch"
        elif self._drawdown.hard_halted:
            rule = "hard_drawdown"
        elif self._daily.hit:
            rule = "daily_loss_limit"
        else:
            rule = "circuit_breaker"
        if approved is None:
            return RiskAction(rule, _HALTED_GATE, (rule, target, position))
        return RiskAction(rule, _REDUCING_GATE, (rule, target, approved))

    def _volatility_action(self, bar_vol: float, scale: float) -> RiskAction:
        if bar_vol != bar_vol:
            return RiskAction("volatility_scaling", _VOL_UNKNOWN, (scale,))
        return RiskAction("volatility_scaling", _VOL_HIGH, (bar_vol * self._annualiser, self._vol_target, scale))
