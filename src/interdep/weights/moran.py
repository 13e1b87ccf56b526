"""Moran's I of an outcome per year under a channel's weights (esda), with permutation p-values."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from esda.moran import Moran
from libpysal.graph import Graph

from interdep.errors import InputError

MORAN_COLUMNS = ["year", "n", "moran_i", "expected_i", "z", "p_sim"]


def moran_by_year(
    panel: pd.DataFrame,
    graphs: Mapping[int, Graph],
    outcome: str,
    permutations: int = 999,
    seed: int = 12345,
) -> pd.DataFrame:
    """Global Moran's I of ``outcome`` for every year that has both a graph and panel rows.

    Parameters
    ----------
    panel : pandas.DataFrame
        Columns ``ccode``, ``year`` and ``outcome``; one row per state-year.
    graphs : mapping of int to Graph
        The channel's graphs as used in estimation. Moran's I is computed with W as it is (its own
        transformation; for a raw or spectral W the statistic is the same, it is invariant to scaling).
    outcome : str
        Column of ``panel``.
    permutations : int, default 999
        Number of random permutations for ``p_sim`` (0: no permutation test, ``p_sim`` is NaN).
    seed : int, default 12345
        Seeds numpy's global generator (esda draws from it) before each year, as ``seed + year``, so each
        year's p-value does not depend on which other years are computed; the caller's state is restored.

    Returns
    -------
    pandas.DataFrame
        ``year, n, moran_i, expected_i, z, p_sim``: ``z`` is the z-value under the normality assumption
        (``esda.Moran.z_norm``), ``p_sim`` the pseudo p-value (two-sided folding as in esda). States with a
        missing outcome are dropped from that year's graph (then re-row-standardised if W was row-standardised).
        A year with fewer than 3 states or a constant outcome gets NaN statistics.

    Raises
    ------
    InputError
        Missing columns, duplicated ``(ccode, year)`` rows, or panel states not in that year's graph.
    """
    _check_panel(panel, outcome)
    state = np.random.get_state()
    try:
        rows = [
            _moran_year(year, panel[panel["year"] == year], graphs[year], outcome, permutations, seed)
            for year in sorted(graphs)
            if (panel["year"] == year).any()
        ]
    finally:
        np.random.set_state(state)
    return pd.DataFrame(rows, columns=MORAN_COLUMNS)


def _check_panel(panel: pd.DataFrame, outcome: str) -> None:
    missing = [c for c in ("ccode", "year", outcome) if c not in panel.columns]
    if missing:
        raise InputError(f"panel lacks column(s) {missing}", value=list(panel.columns))
    dup = panel.duplicated(["ccode", "year"])
    if dup.any():
        row = dup.idxmax()
        raise InputError(
            "duplicated state-year in the panel", row=row, value=(panel.at[row, "ccode"], panel.at[row, "year"])
        )


def _moran_year(year: int, rows: pd.DataFrame, g: Graph, outcome: str, permutations: int, seed: int) -> tuple:
    y = rows.set_index("ccode")[outcome].astype("float64")
    unknown = y.index.difference(g.unique_ids)
    if len(unknown):
        raise InputError(f"panel states not in the weights of year {year}", value=[int(c) for c in unknown])
    y = y.dropna()
    ids = np.sort(y.index.to_numpy(dtype="int64"))
    if ids.size < 3 or np.ptp(y.to_numpy()) == 0:
        return (int(year), int(ids.size), np.nan, np.nan, np.nan, np.nan)
    w = g if ids.size == g.n else _restrict(g, ids)
    np.random.seed((seed + int(year)) % 2**32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # islands: zero rows make esda divide 0 / 0
        mi = Moran(y.loc[ids].to_numpy(), w, transformation=w.transformation, permutations=permutations)
    p_sim = float(mi.p_sim) if permutations else np.nan
    return (int(year), int(ids.size), float(mi.I), float(mi.EI), float(mi.z_norm), p_sim)


def _restrict(g: Graph, ids: np.ndarray) -> Graph:
    sub = g.subgraph(ids)
    return sub.transform("r") if g.transformation == "R" else sub
