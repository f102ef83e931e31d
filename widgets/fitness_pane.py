"""Agent fitness pane: one group of bars per agent, one bar per regime inside the group."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app import theme
from app.snapshot import SnapshotBatch
from engine.regime.regime import Regime
from widgets.redraw import settle
from widgets.regime_pane import category_plot, visibly_changed

_GROUP_WIDTH = 0.8


def fitness_matrix(fitness: dict[str, dict[str, float]], agents: list[str]) -> np.ndarray:
    """Fitness as a (agent, regime code) matrix; regimes an agent has no score for are 0."""
    out = np.zeros((len(agents), len(Regime)), dtype=np.float64)
    for row, agent in enumerate(agents):
        for regime, value in fitness.get(agent, {}).items():
            try:
                col = int(Regime.parse(regime))
            except ValueError as exc:
                raise ValueError(f"batch.fitness[{agent!r}] has key {regime!r}: {exc}") from None
            out[row, col] = value
    return out


class FitnessPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.agents: list[str] = []
        self._named: list[str] = []         # agents on the axis
        self._matrix = np.zeros((0, len(Regime)))
        self.dirty = False
        self._view = view = pg.GraphicsLayoutWidget()
        self.plot, self._axis = category_plot("fitness per agent, by regime", [], "fitness")
        view.addItem(self.plot)
        bar_width = _GROUP_WIDTH / len(Regime)
        self.bars: list[pg.BarGraphItem] = []
        for regime in Regime:
            item = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=bar_width,
                                   brush=theme.regime_color(regime), pen=None)
            self.plot.addItem(item)
            self.bars.append(item)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(view)

    def apply_batch(self, batch: SnapshotBatch, x: np.ndarray) -> None:
        if not batch.fitness:
            return
        agents = self.agents + [a for a in batch.fitness if a not in self.agents]
        self._matrix = fitness_matrix(batch.fitness, agents)
        self.agents = agents
        self.dirty = True

    def redraw(self) -> None:
        if len(self._named) != len(self.agents):
            self._named = list(self.agents)
            self._axis.set_names([a.replace("_", " ") for a in self.agents])
            self.plot.setXRange(-0.6, len(self.agents) - 0.4, padding=0.0)
        elif not visibly_changed(self.heights(), self._matrix):
            return
        centres = np.arange(len(self.agents), dtype=np.float64)
        bar_width = _GROUP_WIDTH / len(Regime)
        for col, item in enumerate(self.bars):
            offset = (col - (len(Regime) - 1) / 2.0) * bar_width
            item.setOpts(x=centres + offset, height=self._matrix[:, col])
        settle(self._view)

    def heights(self) -> np.ndarray:
        """The drawn bar heights as an (agent, regime code) matrix."""
        return np.column_stack([np.asarray(b.opts["height"], dtype=np.float64) for b in self.bars])
