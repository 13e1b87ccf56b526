"""Simulated panels with known truth for the panel estimator tests (helper module, not a test file)."""

from __future__ import annotations

from pathlib import Path

import libpysal
import numpy as np
import pandas as pd
import scipy.sparse as sp
from libpysal.graph import Graph


def knn_graph(coords: np.ndarray, ids: list[int], k: int, symmetric: bool = True) -> Graph:
    """Row-standardised k-nearest-neighbour graph (symmetrised by union when ``symmetric``)."""
    d = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    n = len(ids)
    a = np.zeros((n, n))
    a[np.repeat(np.arange(n), k), nn.ravel()] = 1.0
    if symmetric:
        a = np.maximum(a, a.T)
    return Graph.from_sparse(sp.csr_array(a), ids=ids).transform("r")


def simulate_panel(
    n: int = 40,
    t: int = 5,
    rho: tuple[float, ...] = (0.4,),
    beta: tuple[float, ...] = (1.0, -1.0),
    theta: tuple[float, ...] | None = None,
    effects: str = "none",
    varying: bool = True,
    drop: float = 0.0,
    seed: int = 0,
    k: int = 4,
) -> tuple[pd.DataFrame, dict[str, dict[int, Graph]]]:
    """A panel y = sum_c rho_c W_ct y + X beta (+ W X theta) + effects + e with per-year KNN graphs.

    ``varying`` draws new coordinates (hence new W) every year; ``drop`` removes that share of state-years
    (unbalanced panel, graphs built on the states present).
    """
    rng = np.random.default_rng(seed)
    codes = np.arange(2, 2 + n) * 5
    base = rng.uniform(size=(n, 2))
    alpha = rng.normal(size=n) if effects in ("unit", "twoway") else np.zeros(n)
    gamma = rng.normal(size=t) if effects in ("time", "twoway") else np.zeros(t)
    rows, graphs = [], {f"c{c}": {} for c in range(len(rho))}
    for year in range(t):
        keep = rng.uniform(size=n) >= drop
        idx = np.flatnonzero(keep)
        ids = [int(c) for c in codes[idx]]
        X = rng.normal(size=(len(idx), len(beta))) + 0.5 * alpha[idx, None]
        mu = 1.0 + X @ np.asarray(beta) + alpha[idx] + gamma[year]
        A = np.eye(len(idx))
        for c, r in enumerate(rho):
            coords = base[idx] + (rng.normal(scale=0.05, size=(len(idx), 2)) if varying else 0)
            g = knn_graph(coords if c == 0 else coords[:, ::-1] ** 2, ids, k + c)
            graphs[f"c{c}"][2000 + year] = g
            W = g.sparse.toarray()
            A -= r * W
            if theta is not None:
                mu += (W @ X) @ np.asarray(theta[c * len(beta):(c + 1) * len(beta)])
        y = np.linalg.solve(A, mu + rng.normal(size=len(idx)))
        frame = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(len(beta))])
        frame.insert(0, "year", 2000 + year)
        frame.insert(0, "ccode", ids)
        frame["y"] = y
        rows.append(frame)
    return pd.concat(rows, ignore_index=True), graphs


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
