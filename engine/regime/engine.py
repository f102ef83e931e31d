"""RegimeEngine: deterministic rules that name the market's regime on every bar.

Each bar, `scores.regime_scores` gives every regime a score in [0, 1] from the evidence
(engine/regime/evidence.py); the highest names the raw verdict. Hysteresis keeps the
regime from flip-flopping on noise: a challenger takes over only when its score beats the
current regime's by `switch_margin` on `min_dwell_bars` consecutive bars. The confidence is
the current regime's lead over the best other score (0 when it is only held by hysteresis).
Until every input is warm the engine keeps its regime (COMPRESSION at the start) with zero
confidence: no edge is claimed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from engine.config import RegimeSettings
from engine.features.frame import FeatureFrame, FeatureRow
from engine.regime.evidence import EVIDENCE_FIELDS, Evidence, EvidenceStream, evidence_columns, missing
from engine.regime.regime import Regime
from engine.regime.scores import calm, regime_scores, trend_strength

_START = Regime.COMPRESSION
_N = len(Regime)
_REGIMES = tuple(Regime)  # code -> member without Enum.__call__ on every bar


@dataclass(frozen=True, slots=True)
class RegimeState:
    """The regime after one bar. `reasons` are written only when someone reads them: a
    backtest steps hundreds of thousands of bars and reads the reasons of a few flips."""

    regime: Regime
    confidence: float
    flipped: bool           # the regime changed on this bar
    _why: Callable[[], tuple[str, ...]] = field(compare=False, repr=False)

    @property
    def reasons(self) -> tuple[str, ...]:
        return self._why()


class _Hysteresis:
    """The switching rule, shared by the streaming and the vectorised path."""

    __slots__ = ("margin", "dwell", "current", "_challenger", "_run")

    def __init__(self, s: RegimeSettings) -> None:
        self.margin = s.switch_margin
        self.dwell = s.min_dwell_bars
        self.current = int(_START)
        self._challenger = -1
        self._run = 0

    @property
    def pending(self) -> bool:
        """A challenger has led by the margin on the latest bars but not yet long enough."""
        return self._run > 0

    def step(self, best: int, best_score: float, current_score: float) -> bool:
        """Feed one warm bar: the argmax of its scores, that score and the current regime's.

        True when the regime switched on this bar.
        """
        if best == self.current or best_score < current_score + self.margin:
            self._challenger, self._run = -1, 0
            return False
        if best == self._challenger:
            self._run += 1
        else:
            self._challenger, self._run = best, 1
        if self._run < self.dwell:
            return False
        self.current, self._challenger, self._run = best, -1, 0
        return True


class RegimeEngine:
    def __init__(self, settings: RegimeSettings) -> None:
        self.s = settings
        self._evidence = EvidenceStream(settings)
        self._switch = _Hysteresis(settings)

    @property
    def current(self) -> Regime:
        return Regime(self._switch.current)

    def update(self, row: FeatureRow) -> RegimeState:
        """The regime after this bar, with its confidence and the reasons that decided it."""
        ev = self._evidence.update(row)
        cold = missing(ev)
        if cold:
            why = (f"features warming up: {', '.join(cold)}",)
            return RegimeState(self.current, 0.0, False, lambda: why)
        scores = [float(x) for x in regime_scores(ev, self.s)]
        best = max(range(_N), key=scores.__getitem__)
        flipped = self._switch.step(best, scores[best], scores[self._switch.current])
        current = self._switch.current
        lead = scores[current] - max(x for k, x in enumerate(scores) if k != current)
        s = self.s
        return RegimeState(Regime(current), max(lead, 0.0), flipped, lambda: explain(ev, scores, current, best, s))

    def replay(self, frame: FeatureFrame) -> Iterator[RegimeState]:
        """The states `update` would return for each row of `frame`, scored vectorised.

        For backtests: the switching state advances exactly as in `update` (tests prove the
        states equal), but the streaming evidence windows are not fed, so this engine must
        not be used with `update` afterwards.
        """
        ev = evidence_columns(frame, self.s)
        scores_matrix, warm = _score_columns(frame, self.s, ev)
        switch, s = self._switch, self.s
        for i, (scores, is_warm) in enumerate(_chunked_rows(scores_matrix, warm)):
            if not is_warm:
                yield RegimeState(_REGIMES[switch.current], 0.0, False, partial(_cold_reasons, ev, i))
                continue
            # Plain loops instead of max(key=...) and a generator: the same first-wins argmax
            # and the same maximum, without a call per score on every bar.
            best, top = 0, scores[0]
            for k in range(1, _N):
                if scores[k] > top:
                    best, top = k, scores[k]
            flipped = switch.step(best, top, scores[switch.current])
            current = switch.current
            lead = scores[current] - max(scores[:current] + scores[current + 1:])
            yield RegimeState(_REGIMES[current], max(lead, 0.0), flipped,
                              partial(_frame_reasons, ev, i, scores, current, best, s))

    def classify_frame(self, frame: FeatureFrame) -> np.ndarray:
        """Regime codes (int8) for every bar, identical to a fresh engine's `update` bar by bar.

        Runs on its own state: the streaming state of this engine is neither read nor changed.
        """
        scores, warm = _score_columns(frame, self.s)
        best = np.where(warm, np.argmax(scores, axis=1), -1).tolist()
        switch = _Hysteresis(self.s)
        starts, codes = [0], [switch.current]
        for i, b in enumerate(best):
            # Cold bars leave the state alone, as in `update`; on a warm bar whose best is the
            # current regime with no challenger pending, `step` would change nothing.
            if b >= 0 and (b != switch.current or switch.pending):
                if switch.step(b, scores[i, b], scores[i, switch.current]):
                    starts.append(i)
                    codes.append(b)
        lengths = np.diff(np.append(starts, len(best)))
        return np.repeat(np.array(codes, dtype=np.int8), lengths)


def _chunked_rows(scores: np.ndarray, warm: np.ndarray, chunk: int = 8_192) -> Iterator[tuple[list[float], bool]]:
    # Python lists a chunk at a time: cheap per bar without holding the whole frame as objects.
    for start in range(0, len(warm), chunk):
        yield from zip(scores[start:start + chunk].tolist(), warm[start:start + chunk].tolist())


def _at(ev: Evidence, i: int) -> Evidence:
    return Evidence(*(float(getattr(ev, name)[i]) for name in EVIDENCE_FIELDS))


def _cold_reasons(ev: Evidence, i: int) -> tuple[str, ...]:
    return (f"features warming up: {', '.join(missing(_at(ev, i)))}",)


def _frame_reasons(ev: Evidence, i: int, scores: list[float], current: int, best: int,
                   s: RegimeSettings) -> tuple[str, ...]:
    return explain(_at(ev, i), scores, current, best, s)


def _score_columns(frame: FeatureFrame, s: RegimeSettings,
                   ev: Evidence | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n x 4 scores, warm mask) for a whole frame."""
    ev = evidence_columns(frame, s) if ev is None else ev
    warm = np.ones(len(frame), dtype=bool)
    for name in EVIDENCE_FIELDS:
        warm &= ~np.isnan(getattr(ev, name))
    with np.errstate(invalid="ignore"):
        scores = np.column_stack(regime_scores(ev, s))
    return scores, warm


def raw_codes(frame: FeatureFrame, s: RegimeSettings) -> np.ndarray:
    """The verdict of the scores alone (before hysteresis) per bar; COMPRESSION while warming up."""
    scores, warm = _score_columns(frame, s)
    return np.where(warm, np.argmax(np.nan_to_num(scores, nan=-1.0), axis=1), int(_START)).astype(np.int8)


def explain(ev: Evidence, scores: list[float], current: int, best: int, s: RegimeSettings) -> tuple[str, ...]:
    """The reasons behind a verdict: the scores, then each deciding feature against its levels."""
    labels = [r.label for r in Regime]
    reasons = ["scores " + ", ".join(f"{label} {x:.2f}" for label, x in zip(labels, scores))]
    if best != current:
        reasons.append(f"{labels[best]} leads by {scores[best] - scores[current]:.2f}, "
                       f"not the {s.switch_margin:.2f} margin on {s.min_dwell_bars} bar(s) a switch needs")
    vol = (f"volatility {ev.vol_ratio:.2f}x its {s.vol_baseline_bars}-bar median "
           f"(compressed <= {s.vol_ratio_compressed:.2f}, normal >= {s.vol_ratio_normal:.2f})")
    regime = Regime(current)
    if regime is Regime.COMPRESSION:
        reasons.append(vol)
    elif regime is Regime.EXPANSION:
        w = s.activity_window_bars
        reasons += [
            f"displacement candles {ev.displacement:.0%} of the last {w} bars "
            f"(quiet <= {s.displacement_quiet:.0%}, busy >= {s.displacement_busy:.0%})",
            f"new fair value gaps on {ev.gaps:.0%} of the last {w} bars "
            f"(quiet <= {s.gaps_quiet:.0%}, busy >= {s.gaps_busy:.0%})",
            f"volatility {ev.vol_ratio:.2f}x its {s.vol_baseline_bars}-bar median "
            f"(expanding >= {s.vol_ratio_expanding:.2f}, expanded >= {s.vol_ratio_expanded:.2f})",
        ]
    else:
        reasons += [
            f"trend strength {float(trend_strength(ev, s)):.2f} with volatility calm {float(calm(ev, s)):.2f}",
            f"ADX {ev.adx:.1f} (range <= {s.adx_range:g}, trend >= {s.adx_trend:g})",
            f"Hurst {ev.hurst:.2f} (mean reverting <= {s.hurst_mean_reversion:g}, trending >= {s.hurst_trend:g})",
            f"|RSI - 50| {ev.rsi_tilt:.1f} (range <= {s.rsi_range:g}, trend >= {s.rsi_trend:g})",
            f"regression slope {ev.slope_atr:.3f} ATR/bar (range <= {s.slope_range:g}, trend >= {s.slope_trend:g})",
            vol,
        ]
    return tuple(reasons)


def confusion_matrix(true: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """4x4 counts, rows = true regime, columns = predicted, in Regime code order."""
    true, predicted = np.asarray(true), np.asarray(predicted)
    if true.shape != predicted.shape or true.ndim != 1:
        raise ValueError(f"confusion_matrix needs two 1-D arrays of equal length, got shapes {true.shape} and {predicted.shape}")
    for name, codes in (("true", true), ("predicted", predicted)):
        if codes.size and (codes.min() < 0 or codes.max() >= _N):
            raise ValueError(f"confusion_matrix {name} codes span {codes.min()}..{codes.max()}; expected Regime codes 0..{_N - 1}")
    m = np.zeros((_N, _N), dtype=np.int64)
    np.add.at(m, (true.astype(np.int64), predicted.astype(np.int64)), 1)
    return m
