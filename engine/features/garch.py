"""GARCH(1,1) volatility, refitted on a schedule and filtered forward in between.

Model (zero mean, normal errors): r_t = eps_t, sigma²_t = omega + alpha eps²_{t-1} + beta sigma²_{t-1}.
The `arch` package fits it on the trailing `window` returns every `refit_every` bars,
warm-started from the previous parameters. Between refits sigma² is filtered forward with
the fixed parameters, which costs one multiply-add per bar. Returns are rescaled by a power
of ten before each fit so the optimiser sees numbers of order one; parameters are kept in
return units.

`garch_volatility(returns)[k]` is the one-step-ahead forecast sigma_{k+1|k}: known once
return k is, and the volatility expected of the next return. A fit that fails (no
convergence, or alpha + beta >= 1) keeps the previous parameters and the running filter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from arch import arch_model

from engine.features.indicators import recurse
from engine.features.inputs import ArrayLike, as_array, check_period, nan_array
from engine.features.window import RollingWindow


@dataclass(frozen=True, slots=True)
class GarchParams:
    omega: float   # in squared return units
    alpha: float
    beta: float

    def step(self, sigma2: float, ret: float) -> float:
        """sigma² of the next return, given this return and its sigma²."""
        return self.omega + self.alpha * (ret * ret) + self.beta * sigma2


@dataclass(frozen=True, slots=True)
class GarchFit:
    params: GarchParams
    last_sigma2: float   # the fitted conditional variance of the window's last return


def fit_garch(returns: np.ndarray, start: GarchParams | None = None) -> GarchFit | None:
    """Fit GARCH(1,1) to one window of returns; None if the fit is unusable."""
    std = float(np.std(returns))
    if not std > 0.0:
        return None
    scale = 10.0 ** -math.floor(math.log10(std))     # scaled std in [1, 10)
    scaled = returns * scale
    model = arch_model(scaled, mean="Zero", vol="GARCH", p=1, q=1, rescale=False)
    starting = None if start is None else _admissible_start(model, scaled, start, scale)
    result = model.fit(disp="off", show_warning=False, starting_values=starting)
    omega, alpha, beta = (float(v) for v in result.params)
    if result.convergence_flag != 0 or not alpha + beta < 1.0 or not all(map(math.isfinite, (omega, alpha, beta))):
        return None
    last_sigma2 = float(result.conditional_volatility[-1]) ** 2 / (scale * scale)
    return GarchFit(GarchParams(omega / (scale * scale), alpha, beta), last_sigma2)


def _admissible_start(model: Any, scaled: np.ndarray, start: GarchParams, scale: float) -> np.ndarray | None:
    """The previous parameters as starting values, or None where arch would reject them.

    arch's omega bounds scale with the window's variance, so last fit's omega can fall
    outside this window's bounds; arch would then warn and start from its own guess anyway.
    """
    values = np.array([start.omega * scale * scale, start.alpha, start.beta])
    a, b = model.volatility.constraints()
    inside = all(lo <= v <= hi for v, (lo, hi) in zip(values, model.volatility.bounds(scaled)))
    return values if inside and bool(np.all(a @ values - b >= 0)) else None


def garch_forecasts(returns: ArrayLike, params: GarchParams, sigma2: float) -> np.ndarray:
    """sigma²_{t+1} after each return t, given sigma²_0 = `sigma2` of the first return."""
    r = as_array(returns, "returns")
    return recurse(params.omega + params.alpha * (r * r), params.beta, sigma2)


def garch_volatility(returns: ArrayLike, window: int, refit_every: int) -> np.ndarray:
    """One-step-ahead GARCH(1,1) sigma per return (fraction units), NaN before the first fit."""
    r = as_array(returns, "returns")
    window, refit_every = check_period(window, "window", 100), check_period(refit_every, "refit_every", 1)
    out = nan_array(len(r))
    params: GarchParams | None = None
    sigma2 = math.nan     # sigma² of return k, the current fit point
    for k in range(window - 1, len(r), refit_every):
        fit = fit_garch(r[k - window + 1:k + 1], params)
        if fit is not None:
            params, sigma2 = fit.params, fit.last_sigma2
        elif params is None:
            continue
        stop = min(k + refit_every, len(r))
        forecasts = garch_forecasts(r[k:stop], params, sigma2)
        out[k:stop] = np.sqrt(forecasts)
        sigma2 = float(forecasts[-1])   # sigma² of return `stop`, the next fit point
    return out


class GarchStream:
    """Streaming `garch_volatility`: refits at the same bars on the same windows."""

    __slots__ = ("_window", "_refit_every", "_count", "_params", "_sigma2")

    def __init__(self, window: int, refit_every: int) -> None:
        self._window = RollingWindow(check_period(window, "window", 100))
        self._refit_every = check_period(refit_every, "refit_every", 1)
        self._count = 0
        self._params: GarchParams | None = None
        self._sigma2 = math.nan

    def update(self, ret: float) -> float:
        k = self._count
        self._count += 1
        self._window.push(ret)
        size = self._window.size
        if k >= size - 1 and (k - size + 1) % self._refit_every == 0:
            fit = fit_garch(self._window.values, self._params)
            if fit is not None:
                self._params, self._sigma2 = fit.params, fit.last_sigma2
        if self._params is None:
            return math.nan
        self._sigma2 = self._params.step(self._sigma2, ret)
        return math.sqrt(self._sigma2)
