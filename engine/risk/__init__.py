"""Risk: the AdvancedRiskManager between the policy's target and the broker."""
from engine.risk.manager import AdvancedRiskManager
from engine.risk.snapshot import RiskSnapshot
from engine.risk.state import RiskAction, RiskDecision, RiskEvent, TradingState

__all__ = ["AdvancedRiskManager", "RiskAction", "RiskDecision", "RiskEvent", "RiskSnapshot", "TradingState"]
