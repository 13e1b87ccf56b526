"""Helpers of the panel estimator tests (not a test file): validation data and the package's panel simulator.

``simulate_panel`` is :func:`interdep.montecarlo.simulate_panel` (the one simulator of the package), re-exported
here so the tests keep importing it from one place.
"""

from __future__ import annotations

from pathlib import Path

import libpysal
import numpy as np
import pandas as pd
from libpysal.graph import Graph

from interdep.montecarlo import simulate_panel

__all__ = ["COLUMBUS_SPEC", "VALIDATION", "columbus", "int_graph", "read_gal", "simulate_panel"]


VALIDATION = Path(__file__).resolve().parents[2] / "shared" / "reference" / "validation"


def read_gal(path: str | Path) -> libpysal.weights.W:
    """Read a .gal file (closing it: libpysal's reader is no context manager)."""
    f = libpysal.io.open(str(path))
    try:
        return f.read()
    finally:
        f.close()


def int_graph(w: libpysal.weights.W) -> Graph:
    """A libpysal W with string ids -> row-standardised Graph with integer ids."""
    adj = Graph.from_W(w).adjacency
    focal = [int(a) for a in adj.index.get_level_values(0)]
    neighbor = [int(a) for a in adj.index.get_level_values(1)]
    return Graph.from_arrays(focal, neighbor, adj.to_numpy()).transform("r")


def columbus() -> tuple[pd.DataFrame, dict[str, dict[int, Graph]]] | None:
    """Anselin's Columbus data with spdep's COL.nb as a one-year panel (None when the files are absent)."""
    if not (VALIDATION / "COL_OLD.csv").exists():
        return None
    df = pd.read_csv(VALIDATION / "COL_OLD.csv")
    g = int_graph(read_gal(VALIDATION / "COL_nb.gal"))
    # COL_nb.gal numbers the regions 1..49 in the row order of COL_OLD.csv (spdep's COL.nb)
    panel = pd.DataFrame({"ccode": np.arange(1, 50), "year": 1980, "CRIME": df["CRIME"], "INC": df["INC"],
                          "HOVAL": df["HOVAL"]})
    return panel, {"nb": {1980: g}}


COLUMBUS_SPEC = {"id": "columbus", "estimator": "sar_ml", "weights": ["nb"], "outcome": "CRIME",
                 "regressors": ["INC", "HOVAL"], "years": [1980], "effects": "none"}
