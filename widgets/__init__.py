"""Qt views: the live panes (price, equity, drawdown, regime, weights, fitness, tables) and
the dialogs. Widgets render snapshot values and emit intents; they never touch the engine."""
