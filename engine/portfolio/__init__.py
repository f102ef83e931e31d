"""Positions, cash, PnL and the equity curve; closed trades."""
from engine.portfolio.portfolio import EquityCurve, Portfolio, PortfolioSnapshot, PositionSnapshot
from engine.portfolio.trades import PositionSide, Trade

__all__ = ["EquityCurve", "Portfolio", "PortfolioSnapshot", "PositionSide", "PositionSnapshot", "Trade"]
