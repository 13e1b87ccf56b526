"""Source-independent operations on yearly weight graphs.

A channel is a ``dict[int, libpysal.graph.Graph]``: one graph per year whose ids are the COW codes (``int``)
of the panel's states that year, in increasing order. The order matters: ``Graph.sparse`` orders rows and
columns by sorted label, so sorted ids make ``g.unique_ids``, ``g.sparse`` and a panel sorted by ccode agree.

The intended order of operations for a channel is: build the raw graph per year (:func:`graph_from_dyads`),
symmetrise if asked (:func:`symmetrise_graph`), apply the time lag (:func:`lag_graphs`), transform
(:func:`transform_graph`), then check islands (:func:`check_islands`). Transforming before restricting or
lagging would break the row sums.

Conventions (libpysal.graph):

- an island (a state without neighbours, a zero row) is stored as a self-loop of weight 0 in
  ``Graph.adjacency``; it is never written to the edge list, which has no self links;
- ``Graph.transform("r")`` leaves islands as zero rows; ``Graph.equals`` (``==``) compares the adjacency
  (ids, order and weights, floats with pandas' default tolerance) but not the transformation flag.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from libpysal.graph import Graph

from interdep.errors import InputError

Transform = Literal["row", "spectral", "raw"]
IslandPolicy = Literal["keep", "fail"]

EDGE_COLUMNS = ["year", "ccode", "neighbor", "weight"]
SUMMARY_COLUMNS = [
    "year", "n", "links", "mean_neighbors", "islands", "components",
    "eig_min", "eig_max", "rho_min", "rho_max",
]  # fmt: skip


# --------------------------------------------------------------------------------------------- construction


def normalise_ids(ids: Sequence[int] | np.ndarray | pd.Index) -> np.ndarray:
    """Return ``ids`` as a sorted ``int64`` array; raise :class:`InputError` on duplicates.

    Parameters
    ----------
    ids : sequence of int
        COW codes of the states of one year.

    Returns
    -------
    numpy.ndarray
        The codes, sorted increasingly.
    """
    arr = np.asarray(ids, dtype="int64")
    uniq = np.unique(arr)
    if uniq.size != arr.size:
        dup = pd.Series(arr)[pd.Series(arr).duplicated()].unique().tolist()
        raise InputError("duplicate state codes in the list of ids", value=dup)
    return uniq


def graph_from_dyads(
    dyads: pd.DataFrame,
    ids: Sequence[int] | np.ndarray | pd.Index,
    *,
    value: str | None = None,
    symmetrise: bool = False,
    strict: bool = False,
    source: str | None = None,
) -> Graph:
    """Build one year's graph from a table of directed dyads.

    Parameters
    ----------
    dyads : pandas.DataFrame
        Columns ``ccode`` and ``neighbor`` (COW codes), and ``value`` when given. A row is a link from
        ``ccode`` to ``neighbor`` (row ``ccode`` of W). Rows with weight 0 are not links.
    ids : sequence of int
        The states of that year; the graph's ids are these, sorted. States without a link are islands.
    value : str, optional
        Column holding the weight (finite, non-negative). ``None`` gives binary weights 1.
    symmetrise : bool, default False
        Make W symmetric with ``w_ij = max(w_ij, w_ji)`` (for binary links: the union of both directions).
    strict : bool, default False
        Raise :class:`InputError` on self links, codes not in ``ids`` and duplicated pairs (use for
        user-supplied tables). When False, self links and pairs with a code outside ``ids`` are dropped
        silently, and duplicated pairs are dropped when ``value`` is None.
    source : str, optional
        File name used in error messages.

    Returns
    -------
    libpysal.graph.Graph
        Transformation flag "O", ids sorted, islands as zero-weight self-loops.

    Raises
    ------
    InputError
        Missing columns, non-integer codes, missing / negative / infinite weights, duplicated pairs with a
        value, and (``strict``) self links or unknown codes; the message names the file, row and value.
    """
    ids = normalise_ids(ids)
    frame = _validated_dyads(dyads, value, source)
    frame = _restrict_dyads(frame, ids, strict=strict, source=source)
    frame = _deduplicate(frame, strict=strict or value is not None, source=source)
    frame = frame[frame["weight"] != 0]
    graph = _graph_from_frame(frame, ids)
    return symmetrise_graph(graph) if symmetrise else graph


def _validated_dyads(dyads: pd.DataFrame, value: str | None, source: str | None) -> pd.DataFrame:
    needed = ["ccode", "neighbor"] + ([value] if value is not None else [])
    missing = [c for c in needed if c not in dyads.columns]
    if missing:
        raise InputError(f"dyad table lacks column(s) {missing}", file=source, value=list(dyads.columns))
    frame = pd.DataFrame(index=dyads.index)
    for col in ("ccode", "neighbor"):
        frame[col] = _as_codes(dyads[col], col, source)
    if value is None:
        frame["weight"] = 1.0
    else:
        frame["weight"] = _as_weights(dyads[value], value, source)
    return frame


def _as_codes(col: pd.Series, name: str, source: str | None) -> pd.Series:
    num = pd.to_numeric(col, errors="coerce")
    bad = num.isna() | (num != np.round(num))
    if bad.any():
        pos = _first(bad)
        raise InputError(
            f"column {name!r} holds a non-integer state code", file=source, row=col.index[pos], value=col.iloc[pos]
        )
    return num.astype("int64")


def _as_weights(col: pd.Series, name: str, source: str | None) -> pd.Series:
    num = pd.to_numeric(col, errors="coerce").astype("float64")
    bad = ~np.isfinite(num) | (num < 0)
    if bad.any():
        pos = _first(bad)
        raise InputError(
            f"column {name!r} must hold finite, non-negative weights",
            file=source,
            row=col.index[pos],
            value=col.iloc[pos],
        )
    return num


def _restrict_dyads(frame: pd.DataFrame, ids: np.ndarray, *, strict: bool, source: str | None) -> pd.DataFrame:
    self_link = frame["ccode"] == frame["neighbor"]
    outside = ~frame["ccode"].isin(ids) | ~frame["neighbor"].isin(ids)
    if strict and self_link.any():
        row, pair = _row_and_pair(frame, self_link)
        raise InputError("self link (a state is its own neighbour)", file=source, row=row, value=pair)
    if strict and outside.any():
        row, pair = _row_and_pair(frame, outside)
        raise InputError("state code not among the panel's states that year", file=source, row=row, value=pair)
    return frame[~self_link & ~outside]


def _deduplicate(frame: pd.DataFrame, *, strict: bool, source: str | None) -> pd.DataFrame:
    dup = frame.duplicated(["ccode", "neighbor"])
    if dup.any() and strict:
        row, pair = _row_and_pair(frame, dup)
        raise InputError("duplicated dyad", file=source, row=row, value=pair)
    return frame[~dup]


def _first(mask: pd.Series) -> int:
    """Position of the first True (index labels may repeat, e.g. after mirroring)."""
    return int(np.flatnonzero(mask.to_numpy())[0])


def _row_and_pair(frame: pd.DataFrame, mask: pd.Series) -> tuple[object, tuple[int, int]]:
    pos = _first(mask)
    return frame.index[pos], (int(frame["ccode"].iloc[pos]), int(frame["neighbor"].iloc[pos]))


def _graph_from_frame(frame: pd.DataFrame, ids: np.ndarray) -> Graph:
    """Graph from a clean (focal, neighbor, weight) frame; islands become zero-weight self-loops."""
    islands = np.setdiff1d(ids, frame["ccode"].to_numpy())
    focal = np.concatenate([frame["ccode"].to_numpy(), islands])
    neighbor = np.concatenate([frame["neighbor"].to_numpy(), islands])
    weight = np.concatenate([frame["weight"].to_numpy(dtype="float64"), np.zeros(islands.size)])
    order = np.lexsort((neighbor, focal))
    return Graph.from_arrays(focal[order], neighbor[order], weight[order])


def _edges(g: Graph) -> pd.DataFrame:
    """Links of ``g`` as a frame (ccode, neighbor, weight), without the islands' self-loops."""
    adj = g.adjacency.reset_index()
    adj.columns = ["ccode", "neighbor", "weight"]
    return adj[adj["ccode"] != adj["neighbor"]].reset_index(drop=True)


def symmetrise_graph(g: Graph) -> Graph:
    """Return the symmetric graph with ``w_ij = max(w_ij, w_ji)``.

    For binary graphs this is the union of both directions (e.g. k nearest neighbours becomes "i among j's
    k nearest or j among i's"). The transformation flag is reset to "O": symmetrise before transforming.
    """
    edges = _edges(g)
    mirrored = edges.rename(columns={"ccode": "neighbor", "neighbor": "ccode"})
    both = pd.concat([edges, mirrored], ignore_index=True)
    both = both.groupby(["ccode", "neighbor"], as_index=False, sort=True)["weight"].max()
    return _graph_from_frame(both, normalise_ids(g.unique_ids))


# --------------------------------------------------------------------------------------------- transformations


def transform_graph(g: Graph, how: Transform) -> Graph:
    """Scale the weights of one graph.

    Parameters
    ----------
    g : libpysal.graph.Graph
    how : {"row", "spectral", "raw"}
        ``row``: each row sums to one (libpysal ``transform("r")``); islands stay zero rows.
        ``spectral``: divide every weight by the largest absolute eigenvalue of W (left unchanged when all
        eigenvalues are zero, e.g. a graph of islands); keeps symmetry, flag "C".
        ``raw``: unchanged copy.

    Returns
    -------
    libpysal.graph.Graph
    """
    if how == "row":
        return g.transform("r")
    if how == "raw":
        return g.copy()
    if how == "spectral":
        radius = float(np.max(np.abs(_eigvals(dense(g))), initial=0.0))
        scale = radius if radius > 0 else 1.0
        return Graph(g.adjacency / scale, transformation="C", is_sorted=True)
    raise ValueError(f"unknown transformation {how!r}; use 'row', 'spectral' or 'raw'")


def lag_graphs(
    graphs: Mapping[int, Graph],
    lag: int = 1,
    ids_by_year: Mapping[int, Sequence[int]] | None = None,
) -> dict[int, Graph]:
    """Give year ``t`` the graph of year ``t - lag``, realigned to the states of year ``t``.

    Links between states of year ``t`` are taken from ``graphs[t - lag]``; states that exist in ``t`` but
    were not in the graph of ``t - lag`` (new states) are islands in ``t``; states of ``t - lag`` gone in
    ``t`` are dropped with their links. Years ``t`` whose ``t - lag`` has no graph are left out of the result.
    Apply to untransformed graphs and transform afterwards (restriction breaks row sums).

    Parameters
    ----------
    graphs : mapping of int to Graph
    lag : int, default 1
        Non-negative; 0 returns the graphs realigned to ``ids_by_year`` (unchanged when that is None).
    ids_by_year : mapping of int to sequence of int, optional
        Target years and their states; default: the years and ids of ``graphs``.

    Returns
    -------
    dict of int to Graph
    """
    if lag < 0:
        raise ValueError(f"lag must be non-negative, got {lag}")
    targets = ids_by_year if ids_by_year is not None else {y: g.unique_ids for y, g in graphs.items()}
    out = {}
    for year in sorted(targets):
        src = graphs.get(year - lag)
        if src is not None:
            out[year] = graph_from_dyads(_edges(src), targets[year], value="weight")
    return out


# --------------------------------------------------------------------------------------------- checks, facts


def islands(g: Graph) -> list[int]:
    """COW codes of the states without neighbours (zero rows) in ``g``."""
    return [int(i) for i in g.isolates]


def check_islands(
    graphs: Mapping[int, Graph], channel: str, policy: IslandPolicy = "keep", *, source: str | None = None
) -> pd.DataFrame:
    """Report the islands of a channel, or fail on them.

    Parameters
    ----------
    graphs : mapping of int to Graph
    channel : str
        Channel name, used in the message.
    policy : {"keep", "fail"}
        ``keep`` returns the report; ``fail`` raises when any year has an island.
    source : str, optional
        The channel's source file, named in the error.

    Returns
    -------
    pandas.DataFrame
        Columns ``channel, year, ccode``, one row per island and year (empty when none).

    Raises
    ------
    InputError
        With ``policy="fail"``, naming the source file, the channel, the first year with islands and (as
        ``value``) that year's islands; the message counts the years with islands.
    """
    if policy not in ("keep", "fail"):
        raise ValueError(f"unknown island policy {policy!r}; use 'keep' or 'fail'")
    found = {year: islands(graphs[year]) for year in sorted(graphs)}
    found = {year: codes for year, codes in found.items() if codes}
    if found and policy == "fail":
        first = min(found)
        raise InputError(
            f"channel {channel!r} has states without neighbours (islands) in {len(found)} year(s) "
            f"({min(found)}-{max(found)}); first {first}: ccode {found[first]} "
            "(the config says islands: fail; set islands: keep to keep them as zero rows)",
            file=source,
            row=f"channels.{channel}.islands, year {first}",
            value=found[first],
        )
    rows = [(channel, year, code) for year, codes in found.items() for code in codes]
    return pd.DataFrame(rows, columns=["channel", "year", "ccode"]).astype({"year": "int64", "ccode": "int64"})


def dense(g: Graph) -> np.ndarray:
    """W as a dense ``n x n`` array, rows and columns in the order of ``g.unique_ids`` (sorted ids)."""
    ids = g.unique_ids
    if not ids.is_monotonic_increasing:
        raise ValueError("graph ids must be sorted increasingly (Graph.sparse orders by sorted label)")
    return g.sparse.toarray()


def eigenvalues(g: Graph) -> np.ndarray:
    """Real parts of the eigenvalues of W, sorted increasingly.

    Used for the admissible interval of rho and the log-determinant ``sum(log(1 - rho * lambda))`` (exact
    when all eigenvalues are real, e.g. symmetric W or row-standardised symmetric W).
    """
    if g.n == 0:
        return np.empty(0)
    return np.sort(_eigvals(dense(g)).real)


def _eigvals(w: np.ndarray) -> np.ndarray:
    with _blas_single_thread(w.shape[0]):
        return np.linalg.eigvals(w)


@contextlib.contextmanager
def _blas_single_thread(n: int) -> Iterator[None]:
    """One BLAS thread for small matrices: on a loaded 2-core machine a multi-threaded OpenBLAS eigvals of a
    200 x 200 matrix was measured 50 times slower (1.7 s instead of 0.03 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with the pinned environment
        yield
        return
    if n > 500:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def summarise_graphs(graphs: Mapping[int, Graph]) -> pd.DataFrame:
    """One row per year: size, links, islands, weak components and the admissible interval of rho.

    ``links`` counts directed nonzero links (a symmetric pair counts twice), ``mean_neighbors`` is
    ``links / n``; ``components`` are weakly connected components (each island is one). The interval of rho
    is ``(1 / eig_min, 1 / eig_max)`` from the real parts of the eigenvalues; a bound is infinite when there
    is no eigenvalue of that sign (e.g. a graph of islands).
    """
    rows = [_summary_row(year, graphs[year]) for year in sorted(graphs)]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _summary_row(year: int, g: Graph) -> tuple:
    eig = eigenvalues(g)
    eig_min = float(eig[0]) if eig.size else np.nan
    eig_max = float(eig[-1]) if eig.size else np.nan
    tol = 1e-12
    rho_min = 1.0 / eig_min if eig_min < -tol else -np.inf
    rho_max = 1.0 / eig_max if eig_max > tol else np.inf
    links = int(g.n_edges)
    return (
        int(year),
        int(g.n),
        links,
        links / g.n if g.n else np.nan,
        int(len(g.isolates)),
        int(g.n_components),
        eig_min,
        eig_max,
        rho_min,
        rho_max,
    )


# --------------------------------------------------------------------------------------------- edge lists


def graphs_to_edge_list(graphs: Mapping[int, Graph]) -> pd.DataFrame:
    """All years' links as one table ``year, ccode, neighbor, weight``, sorted, without self links.

    Islands do not appear; :func:`graphs_from_edge_list` restores them from the ids of each year.
    """
    frames = [_edges(graphs[year]).assign(year=int(year)) for year in sorted(graphs)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "weight" else "int64") for c in EDGE_COLUMNS})
    out = pd.concat(frames, ignore_index=True)[EDGE_COLUMNS]
    out = out.astype({"year": "int64", "ccode": "int64", "neighbor": "int64", "weight": "float64"})
    return out.sort_values(["year", "ccode", "neighbor"], ignore_index=True)


def graphs_from_edge_list(
    df: pd.DataFrame,
    ids_by_year: Mapping[int, Sequence[int]],
    *,
    source: str | None = None,
) -> dict[int, Graph]:
    """Rebuild yearly graphs from an edge list written by :func:`graphs_to_edge_list`.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``year, ccode, neighbor, weight``.
    ids_by_year : mapping of int to sequence of int
        The states of each year (islands are the states without a row).
    source : str, optional
        File name for error messages.

    Returns
    -------
    dict of int to Graph
        Flag "O" (an edge list does not carry the transformation).

    Raises
    ------
    InputError
        Years not in ``ids_by_year``, codes not among that year's states, self links, duplicates, bad weights.
    """
    missing = [c for c in EDGE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"edge list lacks column(s) {missing}", file=source, value=list(df.columns))
    years = _as_codes(df["year"], "year", source)
    unknown = ~years.isin(list(ids_by_year))
    if unknown.any():
        row = unknown.idxmax()
        raise InputError("edge list year without a list of states", file=source, row=row, value=df.at[row, "year"])
    groups = dict(list(df.groupby(years, sort=True)))
    empty = df.iloc[0:0]
    return {
        int(year): graph_from_dyads(groups.get(year, empty), ids, value="weight", strict=True, source=source)
        for year, ids in sorted(ids_by_year.items())
    }
