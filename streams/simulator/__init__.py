"""The city simulator: instruments on the grid, realistic background, labelled scenarios, a producer.

Public API: `Simulator` (engine.py), `Emissions`, `inject(sim, kind, cell, at, strength)`,
`TYPES` (scenario types), `band(strength)`; `streams.simulator.producer.run` publishes to Kafka.
"""

from __future__ import annotations

from streams.schemas import ScenarioTruth
from streams.simulator.engine import Emissions, Simulator
from streams.simulator.scenarios import CATEGORY, TYPES, band


def inject(sim: Simulator, kind: str, cell: str, at: float, strength: float, **kw) -> ScenarioTruth:
    """Inject one labelled scenario into `sim` (see `Simulator.inject`)."""
    return sim.inject(kind, cell, at, strength, **kw)


__all__ = ["CATEGORY", "Emissions", "Simulator", "TYPES", "band", "inject"]
