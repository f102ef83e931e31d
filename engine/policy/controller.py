"""MetaPolicyController: blends agents' intents with per-regime weights into one target."""
from __future__ import annotations

from collections.abc import Sequence

from engine.agents.base import Intent
from engine.config import PolicySettings
from engine.policy.decision import Decision, NoTrade

_FLAT = Decision(0.0, 0.0, False, None, "no agent has an opinion: flat", "", ())


class MetaPolicyController:
    """Confidence- and weight-weighted average of the agents' signals.

    signal  = Σ wᵢ cᵢ dᵢ sᵢ / Σ wᵢ cᵢ      (d direction, s strength, c confidence)
    confidence = Σ wᵢ cᵢ / Σ wᵢ           (weights of the agents that spoke)
    Opposed camps whose net push is under `conflict_threshold` of the gross push are a
    conflict: the position is held rather than traded on noise.
    """

    def __init__(self, settings: PolicySettings) -> None:
        self.min_confidence = settings.min_confidence
        self.conflict_threshold = settings.conflict_threshold

    def decide(self, intents: Sequence[Intent], weights: dict[str, float]) -> Decision:
        if not intents:
            return _FLAT
        total_w = weighted_conf = signal_sum = long_push = short_push = 0.0
        for it in intents:
            w = weights.get(it.agent, 0.0)
            wc = w * it.confidence
            total_w += w
            weighted_conf += wc
            push = wc * it.direction * it.strength
            signal_sum += push
            if push > 0.0:
                long_push += push
            elif push < 0.0:
                short_push -= push
        if weighted_conf <= 0.0:
            return Decision(0.0, 0.0, True, NoTrade.LOW_CONFIDENCE, "agents spoke with zero weight or confidence", "", ())
        confidence = weighted_conf / total_w
        target = signal_sum / weighted_conf
        lead, shares = _attribution(intents, weights, target)
        if long_push > 0.0 and short_push > 0.0:
            gross = long_push + short_push
            if abs(long_push - short_push) < self.conflict_threshold * gross:
                return Decision(target, confidence, True, NoTrade.CONFLICT,
                                f"agents disagree: long {long_push:.2f} vs short {short_push:.2f}", lead, shares)
        if confidence < self.min_confidence:
            return Decision(target, confidence, True, NoTrade.LOW_CONFIDENCE,
                            f"confidence {confidence:.2f} < {self.min_confidence:.2f}", lead, shares)
        reason = next((it.reason for it in intents if it.agent == lead), "agents agree")
        return Decision(target, confidence, False, None, reason, lead, shares)


def _attribution(intents: Sequence[Intent], weights: dict[str, float], target: float) -> tuple[str, tuple[tuple[str, float], ...]]:
    """Shares of the push in the target's direction (flat votes count when the target is flat)."""
    sign = 1.0 if target > 0.0 else -1.0 if target < 0.0 else 0.0
    agents: list[str] = []
    pushes: list[float] = []
    lead, top, total = "", 0.0, 0.0
    for it in intents:
        p = weights.get(it.agent, 0.0) * it.confidence
        p = p * it.direction * it.strength * sign if sign != 0.0 else (p if it.direction == 0 else 0.0)
        if p > 0.0:
            agents.append(it.agent)
            pushes.append(p)
            total += p  # left to right, as the compiled backtest adds (sum() rounds differently on 3.12+)
            if p > top:  # strictly greater: the first of equal pushes leads, as max() would pick
                lead, top = it.agent, p
    if not pushes:
        return "", ()
    return lead, tuple([(a, p / total) for a, p in zip(agents, pushes)])
