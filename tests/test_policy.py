"""MetaPolicyController: the blend, the thresholds and a reason for every no-trade."""
from __future__ import annotations

import pytest

from engine.agents.base import Intent
from engine.config import PolicySettings
from engine.policy.controller import MetaPolicyController
from engine.policy.decision import NoTrade

EQUAL = {"a": 0.5, "b": 0.5}


def policy(min_conf: float = 0.5, conflict: float = 0.25) -> MetaPolicyController:
    return MetaPolicyController(PolicySettings(min_confidence=min_conf, conflict_threshold=conflict))


def test_no_intents_means_flat_with_a_reason() -> None:
    d = policy().decide([], EQUAL)
    assert d.target == 0.0 and not d.hold and "no agent" in d.reason


def test_blend_is_the_weight_and_confidence_weighted_mean() -> None:
    intents = [Intent("a", 1, 1.0, 0.8, "up"), Intent("b", 1, 0.5, 0.6, "up too")]
    weights = {"a": 0.7, "b": 0.3}
    d = policy().decide(intents, weights)
    wc = [0.7 * 0.8, 0.3 * 0.6]
    assert d.target == pytest.approx((wc[0] * 1.0 + wc[1] * 0.5) / sum(wc))
    assert d.confidence == pytest.approx(sum(wc) / 1.0)
    assert not d.hold and d.lead == "a" and d.reason == "up"
    assert dict(d.shares) == pytest.approx({"a": wc[0] / (wc[0] + wc[1] * 0.5), "b": wc[1] * 0.5 / (wc[0] + wc[1] * 0.5)})


def test_low_confidence_holds() -> None:
    d = policy(min_conf=0.6).decide([Intent("a", 1, 1.0, 0.5, "weak")], EQUAL)
    assert d.hold and d.no_trade is NoTrade.LOW_CONFIDENCE and "0.50 < 0.60" in d.reason


def test_balanced_disagreement_is_a_conflict() -> None:
    d = policy().decide([Intent("a", 1, 1.0, 0.8, "up"), Intent("b", -1, 0.9, 0.8, "down")], EQUAL)
    assert d.hold and d.no_trade is NoTrade.CONFLICT


def test_clear_majority_is_not_a_conflict() -> None:
    d = policy().decide([Intent("a", 1, 1.0, 0.9, "up"), Intent("b", -1, 0.2, 0.6, "down")], EQUAL)
    assert not d.hold and d.target > 0 and d.lead == "a"


def test_flat_vote_pulls_the_target_toward_zero() -> None:
    alone = policy().decide([Intent("a", 1, 1.0, 0.8, "up")], EQUAL)
    with_flat = policy().decide([Intent("a", 1, 1.0, 0.8, "up"), Intent("b", 0, 0.0, 0.8, "quiet")], EQUAL)
    assert alone.target == pytest.approx(1.0) and with_flat.target == pytest.approx(0.5)


def test_unweighted_agent_cannot_move_the_target() -> None:
    d = policy().decide([Intent("a", 1, 1.0, 0.9, "up"), Intent("z", -1, 1.0, 0.9, "down")], {"a": 1.0})
    assert d.target == pytest.approx(1.0)
