"""Interdependence channels built from the raw sources: one weight graph per year.

A channel is one entry of ``weights:`` in the config (see ``docs/channels.md`` and :data:`DEFAULTS` for the
keys). :func:`build_channel` reads the channel's raw file under ``raw_dir`` (layout of ``../shared/data``,
see its PROVENANCE.md; ``file:`` overrides the path), builds the raw graph of each year on the panel's
states of that year, then symmetrises, lags and transforms it (interdep.weights.graphs) and applies the
island policy.

Time lag: with ``lag: L`` the graph of year ``t`` is built from the source's year ``t - L`` on the states of
year ``t``; a state new in ``t`` keeps the links the source gives it in ``t - L`` (usually none: an island).

Past the source: a year whose source year lies after the last year the source covers stops the run, naming the
channel, the source and the years, unless the channel says ``carry_forward: true``: then the source's last year
is used (on the states of the target year) and :func:`channel_plan` marks the year as carried.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from libpysal.graph import Graph

from interdep.errors import InputError
from interdep.io import read_table
from interdep.panel.covariates import RIVALRY_KINDS, read_rivalries, rivalry_dyads
from interdep.weights.graphs import check_islands, graph_from_dyads, symmetrise_graph, transform_graph

Plan = dict[int, tuple[int, np.ndarray]]  # target year -> (source year, ids of the target year)

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
ATOP_OBLIGATIONS = ["atop_defense", "atop_offense", "atop_neutral", "atop_nonagg", "atop_consul"]
COW_OBLIGATIONS = ["cow_defense", "cow_neutral", "cow_nonagg", "cow_entente"]

COMMON = {"transform": "row", "islands": "keep", "symmetrise": False, "lag": 0, "carry_forward": False}
DEFAULTS: dict[str, dict[str, Any]] = {
    "contiguity": {"max_type": 1},
    "distance": {
        "source": "cshapes", "kernel": "inverse", "power": 1.0, "cutoff_km": None, "scale_km": 1000.0,
        "k": 5, "floor_km": 1.0, "snapshot": "jan1",
    },
    "alliance": {"source": "atop", "obligation": "defense", "weighting": "binary"},
    "igo": {"weighting": "count", "min_shared": 1},
    "unga": {"variable": "idealpointall", "similarity": "exp", "scale": 1.0, "k": 5},
    "dyads": {"value": "value", "mirror": False, "strict": True},
    "rivalry": {"rivals": "all", "kinds": None},
    "co_deployment": {"source": "un_dpo", "weighting": "count", "min_personnel": 1.0, "lag": 1},
}  # fmt: skip
CHOICES: dict[str, tuple] = {
    "transform": ("row", "spectral", "raw"),
    "islands": ("keep", "fail"),
    "source": ("cshapes", "capitals", "atop", "cow", "un_dpo", "ipi_gender"),
    "kernel": ("inverse", "exponential", "band", "knn"),
    "snapshot": ("jan1", "dec31"),
    "obligation": ("defense", "any"),
    "weighting": ("binary", "count", "overlap"),
    "similarity": ("exp", "knn"),
    "variable": ("idealpointall", "idealpointfp", "idealpointlegacy"),
    "rivals": ("all", "principal", "principal_any"),
}
YEAR_COLUMNS: dict[str, str] = {}  # channel type -> year column of its source, where not "year"
POSITIVE = ("power", "cutoff_km", "scale_km", "floor_km", "scale", "min_personnel")
DEFAULT_FILES = {
    "contiguity": "cow_contiguity/contdird_v3_2.csv",
    ("distance", "cshapes"): "cshapes_mindist/cow_mindist_cshapes2_peacesciencer.csv.gz",
    ("distance", "capitals"): "capitals/cow_capitals_peacesciencer.csv",
    ("alliance", "atop", "binary"): "atop/atop5_1_ddyr_directed_peacesciencer.csv.gz",
    ("alliance", "atop", "count"): "atop/atop5_1sy.csv",
    ("alliance", "cow", "binary"): "cow_alliance/cow_alliance_v4_1_ddy_directed_peacesciencer.csv",
    "igo": "cow_igo/cow_igo_ndy_peacesciencer.csv.gz",
    "unga": "unga_idealpoints/IdealpointsJuly2025.csv",
    "rivalry": "rivalries/tss_rivalries_peacesciencer.csv",
    ("co_deployment", "un_dpo"): "un_dpo/un_dpo_country_mission_year_2010_2021.csv",
    ("co_deployment", "ipi_gender"): "ipi_peacekeeping/ipi_gender_country_mission_month_2009_2014.csv",
}
#: co-deployment sources: (country column, its code system, mission column, personnel column, time column, monthly)
DEPLOYMENT_FILES = {
    "un_dpo": ("Country", "name", "Mission", "Total", "Year", False),
    "ipi_gender": ("Contributor ISO-3", "iso3", "Mission", "Total Total", "Date", True),
}


# --------------------------------------------------------------------------------------------- entry points


def build_channel(
    spec: Mapping[str, Any],
    ids_by_year: Mapping[int, Sequence[int]],
    raw_dir: str | Path,
) -> dict[int, Graph]:
    """Build one channel's weight graph for every year of ``ids_by_year``.

    Parameters
    ----------
    spec : mapping
        One channel entry of the config: ``name``, ``type`` (contiguity, distance, alliance, igo, unga,
        dyads, rivalry), the common options ``transform`` (row | spectral | raw), ``islands`` (keep | fail),
        ``symmetrise`` (bool), ``lag`` (int >= 0), optional ``file``, and the type's own keys
        (:data:`DEFAULTS`).
    ids_by_year : mapping of int to sequence of int
        The panel's states (COW codes) in each year; each graph's ids are these, sorted.
    raw_dir : path
        Folder in the layout of ``../shared/data``; relative ``file:`` paths are taken from here.

    Returns
    -------
    dict of int to libpysal.graph.Graph
        Sorted by year, transformed as asked.

    Raises
    ------
    InputError
        Invalid spec (unknown key or value), missing or malformed source file, years outside the source's
        coverage, a state without capital (capitals), or islands with ``islands: fail``.
    """
    spec = resolve_spec(spec)
    path = channel_file(spec, raw_dir)
    years = channel_plan(spec, sorted(ids_by_year), raw_dir)
    plan: Plan = {int(t): (int(s), np.unique(np.asarray(ids_by_year[t], dtype="int64")))
                  for t, s in zip(years["year"], years["source_year"], strict=True)}  # fmt: skip
    graphs = _BUILDERS[spec["type"]](spec, path, plan)
    if spec["symmetrise"]:
        graphs = {t: symmetrise_graph(g) for t, g in graphs.items()}
    graphs = {t: transform_graph(g, spec["transform"]) for t, g in graphs.items()}
    check_islands(graphs, spec["name"], spec["islands"], source=str(path))
    return graphs


def channel_plan(spec: Mapping[str, Any], years: Sequence[int], raw_dir: str | Path) -> pd.DataFrame:
    """Which source year builds each year's graph: ``year, source_year, carried`` (bool), one row per year.

    ``source_year`` is ``year - lag``, or the source's last year when that lies beyond it and the channel says
    ``carry_forward: true`` (``carried`` is then true).

    Raises
    ------
    InputError
        When a source year lies outside the years the source covers (before its first year, or after its last
        without ``carry_forward``), naming the channel, the source file, its years and the years concerned.
    """
    spec = resolve_spec(spec)
    path = channel_file(spec, raw_dir)
    lo, hi = source_years(spec, path)
    target = np.asarray(sorted(int(t) for t in years), dtype="int64")
    source = target - spec["lag"]
    late = source > hi
    early = source < lo
    lag = f" with lag {spec['lag']}" if spec["lag"] else ""
    if early.any():
        raise InputError(f"channel {spec['name']!r}: source covers years {lo}-{hi} ({path.name}); years "
                         f"{target[early].tolist()} need earlier source years{lag}", file=str(path),
                         row=f"channels.{spec['name']}", value=source[early].tolist())
    if late.any() and not spec["carry_forward"]:
        raise InputError(f"channel {spec['name']!r}: source covers years {lo}-{hi} ({path.name}); the panel's "
                         f"years {target[late].tolist()} need later source years{lag}. End the panel (panel.years) at "
                         f"{hi + spec['lag']}, or set carry_forward: true on the channel to use the links of {hi}",
                         file=str(path), row=f"channels.{spec['name']}", value=source[late].tolist())
    return pd.DataFrame({"year": target, "source_year": np.minimum(source, hi), "carried": late})


def source_years(spec: Mapping[str, Any], path: str | Path) -> tuple[int, int]:
    """First and last year a (resolved) channel's source file covers, as the channel reads it."""
    path = Path(path)
    if spec["type"] == "distance" and spec["source"] == "capitals":
        table = read_source(path, ["stdate", "enddate"])
        start = pd.to_datetime(table["stdate"], errors="coerce").dt.year
        end = pd.to_datetime(table["enddate"], errors="coerce").dt.year
        return int(start.min()), int(end.max())
    if spec["type"] == "co_deployment":
        years = deployments(spec, path)["year"]
        return int(years.min()), int(years.max())
    if spec["type"] == "rivalry":  # spells: start and end years
        lo, hi = read_rivalries(path).attrs["years"]
        return int(lo), int(hi)
    year_col = YEAR_COLUMNS.get(spec["type"], "year")
    table = read_source(path, [year_col])
    if table.empty:
        raise InputError("source has a header but no rows", file=str(path), value=list(table.columns))
    years = pd.to_numeric(table[year_col], errors="coerce")
    if years.isna().all():
        raise InputError("source has no readable years", file=str(path), value=year_col)
    lo, hi = int(years.min()), int(years.max())
    if spec["type"] == "distance" and spec["snapshot"] == "dec31":
        hi -= 1  # the map at the end of year t is the source's 1 January of t + 1
    return lo, hi


def resolve_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a channel entry and fill in the defaults of its type.

    Raises
    ------
    InputError
        Naming the channel, the key and the value: unknown type or key, value not among the choices,
        non-positive numbers, ``kernel: band`` without ``cutoff_km``, ``dyads`` without ``file``, or
        ``weighting: count`` where the sources give no count (ATOP defence pacts, COW alliances).
    """
    name = spec.get("name", "<unnamed>")
    where = f"weights channel {name!r}"
    kind = spec.get("type")
    if kind not in DEFAULTS:
        raise InputError(f"unknown channel type; use one of {sorted(DEFAULTS)}", row=where, value=kind)
    allowed = {"name", "type", "file", "description", *COMMON, *DEFAULTS[kind]}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise InputError(f"key(s) not used by a {kind} channel; allowed: {sorted(allowed)}", row=where,
                         value=unknown)  # fmt: skip
    out = {"name": name, "file": None, **COMMON, **DEFAULTS[kind], **spec}
    _check_values(out, where)
    return out


def channel_file(spec: Mapping[str, Any], raw_dir: str | Path) -> Path:
    """The raw file a (resolved) channel reads: ``file:`` if given (relative to ``raw_dir``, which it may not
    leave; an absolute path is taken as given), else the default."""
    if spec.get("file"):
        from interdep.config import resolve_source

        return resolve_source(raw_dir, spec["file"], key=f"channels.{spec['name']}.file")
    kind = spec["type"]
    key: Any = kind
    if kind == "distance":
        key = (kind, spec["source"])
    elif kind == "alliance":
        key = (kind, spec["source"], spec["weighting"])
    elif kind == "co_deployment":
        key = (kind, spec["source"])
    if key not in DEFAULT_FILES:
        raise InputError("this channel type needs a file: key", row=f"weights channel {spec['name']!r}")
    return Path(raw_dir) / DEFAULT_FILES[key]


def _check_values(spec: dict[str, Any], where: str) -> None:
    for key, choices in CHOICES.items():
        if key in spec and spec[key] not in choices and not (key == "source" and spec["type"] == "dyads"):
            raise InputError(f"{key} must be one of {list(choices)}", row=where, value=spec[key])
    for key in POSITIVE:
        val = spec.get(key)
        if val is not None and (isinstance(val, bool) or not isinstance(val, int | float) or val <= 0):
            raise InputError(f"{key} must be a positive number", row=where, value=val)
    _check_ints(spec, where)
    if spec["type"] == "contiguity" and spec["max_type"] not in (1, 2, 3, 4, 5):
        raise InputError("max_type must be a COW contiguity type 1..5", row=where, value=spec["max_type"])
    if spec["type"] == "distance" and spec["source"] not in ("cshapes", "capitals"):
        raise InputError("distance source must be cshapes or capitals", row=where, value=spec["source"])
    if spec["type"] == "co_deployment" and (spec["source"] not in DEPLOYMENT_FILES
                                            or spec["weighting"] not in ("count", "overlap")):
        raise InputError("co_deployment: source must be un_dpo or ipi_gender, weighting count or overlap", row=where,
                         value=(spec["source"], spec["weighting"]))
    if spec["type"] == "alliance" and spec["source"] not in ("atop", "cow"):
        raise InputError("alliance source must be atop or cow", row=where, value=spec["source"])
    if spec["type"] != "co_deployment" and spec.get("weighting") == "overlap":
        raise InputError("weighting overlap exists only for co_deployment channels", row=where)
    if spec["type"] == "distance" and spec["kernel"] == "band" and spec["cutoff_km"] is None:
        raise InputError("kernel band needs cutoff_km", row=where)
    if (
        spec["type"] == "alliance"
        and spec["weighting"] == "count"
        and (spec["source"], spec["obligation"])
        != (
            "atop",
            "any",
        )
    ):
        raise InputError(
            "weighting count (number of shared pacts) exists only for source atop with obligation any "
            "(shared ATOP ids in atop5_1sy.csv; the member-level file with obligations is not available)",
            row=where,
            value=(spec["source"], spec["obligation"]),
        )
    if spec["type"] == "rivalry":
        _check_rivalry_kinds(spec["kinds"], where)
    if spec["type"] == "dyads" and not spec.get("file"):
        raise InputError("a dyads channel needs file: (a table ccode1, ccode2, year, value)", row=where)


def _check_rivalry_kinds(kinds: Any, where: str) -> None:
    if kinds is None:
        return
    if not isinstance(kinds, list) or not kinds or any(k not in RIVALRY_KINDS for k in kinds):
        raise InputError(f"kinds must be null or a non-empty list of {list(RIVALRY_KINDS)}", row=where, value=kinds)


def _check_ints(spec: dict[str, Any], where: str) -> None:
    for key, low in (("lag", 0), ("k", 1), ("min_shared", 1), ("max_type", 1)):
        val = spec.get(key)
        if key in spec and (isinstance(val, bool) or not isinstance(val, int) or val < low):
            raise InputError(f"{key} must be an integer >= {low}", row=where, value=val)
    for key in ("symmetrise", "mirror", "strict", "carry_forward"):
        if key in spec and not isinstance(spec[key], bool):
            raise InputError(f"{key} must be true or false", row=where, value=spec[key])


# --------------------------------------------------------------------------------------------- reading


def read_source(path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    """Read a raw table (cached by path, size and modification time) and check it has ``columns``.

    The returned frame is shared between calls: do not modify it in place.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("raw source file not found (set raw_dir or the channel's file:)", file=str(path))
    stat = path.stat()
    table = _read_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"source lacks column(s) {missing}", file=str(path), value=list(table.columns))
    return table


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int) -> pd.DataFrame:  # noqa: ARG001 (cache key)
    return read_table(path)


def _check_coverage(table: pd.DataFrame, plan: Plan, path: Path, year_col: str = "year") -> None:
    """Raise when a needed source year is outside the years the file covers (or a year is missing)."""
    if table.empty:
        raise InputError("source has a header but no rows", file=str(path), value=list(table.columns))
    years = pd.to_numeric(table[year_col], errors="coerce")
    if years.isna().any():
        row = years.isna().idxmax()
        raise InputError("missing or non-numeric year", file=str(path), row=row, value=table.at[row, year_col])
    lo, hi = int(years.min()), int(years.max())
    outside = sorted({s for s, _ in plan.values() if not lo <= s <= hi})
    if outside:
        raise InputError(f"source covers years {lo}-{hi}; needed (after lag)", file=str(path), value=outside)


def _split_years(table: pd.DataFrame, plan: Plan, year_col: str = "year") -> dict[int, pd.DataFrame]:
    """Rows of each needed source year."""
    needed = {s for s, _ in plan.values()}
    wanted = table[table[year_col].isin(needed)]
    return {int(y): rows for y, rows in wanted.groupby(year_col)}


def _rows(by_year: Mapping[int, pd.DataFrame], year: int, like: pd.DataFrame) -> pd.DataFrame:
    return by_year.get(year, like.iloc[0:0])


def _mirror(dyads: pd.DataFrame) -> pd.DataFrame:
    """Both directions of non-directed dyads (columns ccode, neighbor)."""
    flipped = dyads.rename(columns={"ccode": "neighbor", "neighbor": "ccode"})
    return pd.concat([dyads, flipped])  # index kept: errors name the source row


# --------------------------------------------------------------------------------------------- contiguity


def _dyad_graphs(table: pd.DataFrame, plan: Plan, path: Path, pair: tuple[str, str] = ("ccode1", "ccode2"), *,
                 value: str | None = None, mirror: bool = False, strict: bool = False,
                 file_rows: bool = False) -> dict[int, Graph]:
    """One graph per target year from a dyad-year table (the source year of each target year per ``plan``).

    ``mirror`` adds each dyad's reverse; ``file_rows`` numbers rows as lines of the file in error messages.
    """
    by_year = _split_years(table, plan)
    out = {}
    for t, (s, ids) in plan.items():
        rows = _rows(by_year, s, table).rename(columns={pair[0]: "ccode", pair[1]: "neighbor"})
        if file_rows:
            rows = rows.set_axis(rows.index + 2)  # header = line 1
        if mirror:
            rows = _mirror(rows)
        out[t] = graph_from_dyads(rows, ids, value=value, strict=strict, source=str(path))
    return out


def _contiguity(spec: Mapping[str, Any], path: Path, plan: Plan) -> dict[int, Graph]:
    """COW direct contiguity: link when the (minimum, within year) contiguity type is <= max_type.

    The directed file lists both directions; a dyad listed twice in a year (type changed) is linked when
    any of its types qualifies, i.e. when min(conttype) <= max_type.
    """
    table = read_source(path, ["state1no", "state2no", "year", "conttype"])
    _check_coverage(table, plan, path)
    table = table[pd.to_numeric(table["conttype"], errors="coerce") <= spec["max_type"]]
    return _dyad_graphs(table, plan, path, ("state1no", "state2no"))


# --------------------------------------------------------------------------------------------- distance


def _distance(spec: Mapping[str, Any], path: Path, plan: Plan) -> dict[int, Graph]:
    """Distance channel: CShapes minimum distance or great-circle distance between capitals, then a kernel."""
    pairs = _cshapes_pairs if spec["source"] == "cshapes" else _capital_pairs
    return {
        t: graph_from_dyads(_distance_kernel(d, spec), ids, value="weight", source=str(path))
        for t, (d, ids) in pairs(spec, path, plan).items()
    }


def _cshapes_pairs(spec: Mapping[str, Any], path: Path, plan: Plan) -> dict[int, tuple[pd.DataFrame, np.ndarray]]:
    """Ordered pairs with CShapes minimum distance (km) among each year's states.

    ``snapshot: jan1`` uses the source's year (distances on 1 January); ``dec31`` uses the next year's
    1 January, i.e. the map at the end of the year (matching a state list taken on 31 December). A state
    absent from the CShapes snapshot (e.g. one born during the year, with ``jan1``) has no distances.
    """
    shift = 1 if spec["snapshot"] == "dec31" else 0
    table = read_source(path, ["ccode1", "ccode2", "year", "mindist"])
    shifted = {t: (s + shift, ids) for t, (s, ids) in plan.items()}
    _check_coverage(table, shifted, path)
    by_year = _split_years(table, shifted)
    out = {}
    for t, (s, ids) in shifted.items():
        rows = _rows(by_year, s, table)
        rows = rows.rename(columns={"ccode1": "ccode", "ccode2": "neighbor", "mindist": "distance"})
        rows = rows[rows["ccode"].isin(ids) & rows["neighbor"].isin(ids)]
        out[t] = (_mirror(rows[["ccode", "neighbor", "distance"]]), ids)
    return out


def capitals_in_year(path: str | Path, year: int, ids: Sequence[int]) -> pd.DataFrame:
    """Capital coordinates (ccode, capital, lat, lng) of ``ids`` in ``year``, respecting the capitals' dates.

    Coordinates are the source's, unchanged (note: peacesciencer's Brasilia, -10.33 / -53.2, is the centroid
    of Brazil, about 800 km from the city; Riyadh is about 200 km off).

    Rule: among the capital spells of a state that overlap the year, the one starting last (the capital at
    the end of the year, or on the state's last day in it).

    Raises
    ------
    InputError
        A state without a capital spell overlapping the year (names the file, year and ccodes).
    """
    table = read_source(path, ["ccode", "stdate", "enddate", "lat", "lng"])
    start = pd.to_datetime(table["stdate"], errors="coerce")
    end = pd.to_datetime(table["enddate"], errors="coerce")
    overlap = (start <= pd.Timestamp(year, 12, 31)) & (end >= pd.Timestamp(year, 1, 1))
    spells = table.assign(_start=start)[overlap & table["ccode"].isin(ids)]
    caps = spells.sort_values(["ccode", "_start"]).groupby("ccode").tail(1)
    missing = sorted({int(i) for i in ids} - set(caps["ccode"].astype(int)))
    if missing:
        raise InputError(f"no capital for state(s) in {year}", file=str(path), value=missing)
    cols = ["ccode", "capital", "lat", "lng"] if "capital" in caps.columns else ["ccode", "lat", "lng"]
    return caps[cols].sort_values("ccode", ignore_index=True)


def link_coordinates(g: Graph, year: int, capitals_file: str | Path) -> pd.DataFrame:
    """The links of one year's graph with the capitals of both ends, for drawing them on a map.

    Parameters
    ----------
    g : libpysal.graph.Graph
        The channel's graph of ``year``.
    year : int
        Calendar year whose capitals are used (see :func:`capitals_in_year`).
    capitals_file : path
        ``capitals/cow_capitals_peacesciencer.csv`` under the raw folder, or a file with the same columns.

    Returns
    -------
    pandas.DataFrame
        ``ccode, neighbor, weight, lat, lng, lat_neighbor, lng_neighbor``, one row per directed link
        (a symmetric pair appears twice), sorted; islands are not listed.
    """
    adj = g.adjacency.reset_index()
    adj.columns = ["ccode", "neighbor", "weight"]
    adj = adj[adj["ccode"] != adj["neighbor"]]
    caps = capitals_in_year(capitals_file, year, g.unique_ids)[["ccode", "lat", "lng"]]
    out = adj.merge(caps, on="ccode").merge(
        caps.rename(columns={"ccode": "neighbor", "lat": "lat_neighbor", "lng": "lng_neighbor"}), on="neighbor"
    )
    return out.sort_values(["ccode", "neighbor"], ignore_index=True)


def great_circle_km(lat1: np.ndarray, lng1: np.ndarray, lat2: np.ndarray, lng2: np.ndarray) -> np.ndarray:
    """Haversine distance in km on a sphere of radius :data:`EARTH_RADIUS_KM` (degrees in, km out)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat, dlng = p2 - p1, np.radians(lng2) - np.radians(lng1)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _capital_pairs(spec: Mapping[str, Any], path: Path, plan: Plan) -> dict[int, tuple[pd.DataFrame, np.ndarray]]:
    del spec  # capitals carry no options
    out = {}
    for t, (s, ids) in plan.items():
        caps = capitals_in_year(path, s, ids)
        i, j = np.meshgrid(np.arange(len(caps)), np.arange(len(caps)), indexing="ij")
        off = i != j
        i, j = i[off], j[off]
        lat, lng, code = caps["lat"].to_numpy(), caps["lng"].to_numpy(), caps["ccode"].to_numpy()
        dist = great_circle_km(lat[i], lng[i], lat[j], lng[j])
        out[t] = (pd.DataFrame({"ccode": code[i], "neighbor": code[j], "distance": dist}), ids)
    return out


def _kernel(
    pairs: pd.DataFrame,
    kernel: str,
    *,
    power: float = 1.0,
    floor: float = 1.0,
    scale: float = 1.0,
    k: int = 5,
    cutoff: float | None = None,
) -> pd.DataFrame:
    """Weights from distances (ccode, neighbor, distance) -> (ccode, neighbor, weight).

    inverse: ``max(d, floor) ** -power``; exponential: ``exp(-d / scale)``; band: 1 when ``d <= cutoff``;
    knn: 1 for the ``k`` nearest (ties broken by the lower ccode). ``cutoff``, when set, first drops pairs
    farther apart, for every kernel.
    """
    d = pairs if cutoff is None else pairs[pairs["distance"] <= cutoff]
    if kernel == "knn":
        return _knn(d, k)
    dist = d["distance"].to_numpy(dtype="float64")
    if kernel == "inverse":
        weight = np.maximum(dist, floor) ** -float(power)
    elif kernel == "exponential":
        weight = np.exp(-dist / float(scale))
    elif kernel == "band":
        weight = np.ones_like(dist)
    else:
        raise ValueError(f"unknown kernel {kernel!r}")
    return pd.DataFrame({"ccode": d["ccode"].to_numpy(), "neighbor": d["neighbor"].to_numpy(), "weight": weight})


def _distance_kernel(pairs: pd.DataFrame, spec: Mapping[str, Any]) -> pd.DataFrame:
    return _kernel(pairs, spec["kernel"], power=spec["power"], floor=spec["floor_km"], scale=spec["scale_km"],
                   k=spec["k"], cutoff=spec["cutoff_km"])  # fmt: skip


def _knn(pairs: pd.DataFrame, k: int) -> pd.DataFrame:
    nearest = pairs.sort_values(["ccode", "distance", "neighbor"]).groupby("ccode", sort=False).head(k)
    return nearest[["ccode", "neighbor"]].assign(weight=1.0)


# --------------------------------------------------------------------------------------------- alliance


def _alliance(spec: Mapping[str, Any], path: Path, plan: Plan) -> dict[int, Graph]:
    """Alliance channel: allied dyads (binary) or number of shared ATOP alliances (count)."""
    if spec["weighting"] == "count":
        return _atop_shared(path, plan)
    flags = ATOP_OBLIGATIONS if spec["source"] == "atop" else COW_OBLIGATIONS
    table = read_source(path, ["ccode1", "ccode2", "year", *flags])
    _check_coverage(table, plan, path)
    if spec["obligation"] == "defense":
        table = table[table[flags[0]] == 1]
    return _dyad_graphs(table, plan, path)


def _atop_shared(path: Path, plan: Plan) -> dict[int, Graph]:
    """Number of ATOP alliances (any obligation) two states share in a year, from atopid1..59 of atop5_1sy."""
    table = read_source(path, ["state", "year", "atopid1"])
    id_cols = [c for c in table.columns if c.startswith("atopid")]
    _check_coverage(table, plan, path)
    by_year = _split_years(table, plan)
    out = {}
    for t, (s, ids) in plan.items():
        rows = _rows(by_year, s, table)
        rows = rows[rows["state"].isin(ids)]
        members = rows.melt(id_vars="state", value_vars=id_cols, value_name="atopid").dropna(subset=["atopid"])
        members = members[members["atopid"].astype(str).str.strip() != ""][["state", "atopid"]]
        members = members.drop_duplicates()
        pairs = members.merge(members, on="atopid", suffixes=("", "_2"))
        pairs = pairs[pairs["state"] != pairs["state_2"]]
        counts = pairs.groupby(["state", "state_2"], as_index=False).size()
        counts = counts.rename(columns={"state": "ccode", "state_2": "neighbor", "size": "count"})
        out[t] = graph_from_dyads(counts, ids, value="count", source=str(path))
    return out


# --------------------------------------------------------------------------------------------- affinity


def _igo(spec: Mapping[str, Any], path: Path, plan: Plan) -> dict[int, Graph]:
    """Joint full IGO memberships (COW IGO, non-directed): count (or binary) when >= min_shared."""
    table = read_source(path, ["ccode1", "ccode2", "year", "dyadigos"])
    _check_coverage(table, plan, path)
    table = table[table["dyadigos"] >= spec["min_shared"]]
    value = "dyadigos" if spec["weighting"] == "count" else None
    return _dyad_graphs(table, plan, path, value=value, mirror=True)


def _unga(spec: Mapping[str, Any], path: Path, plan: Plan) -> dict[int, Graph]:
    """UNGA ideal-point similarity: ``exp(-|x_i - x_j| / scale)`` for all pairs, or the k most similar.

    States without an ideal point that year (not UN members, no votes) are islands.
    """
    var = spec["variable"]
    table = read_source(path, ["ccode", "year", var])
    _check_coverage(table, plan, path)
    by_year = _split_years(table, plan)
    out = {}
    for t, (s, ids) in plan.items():
        rows = _rows(by_year, s, table)
        x = rows[rows["ccode"].isin(ids)].dropna(subset=[var]).drop_duplicates("ccode")
        code, val = x["ccode"].to_numpy(dtype="int64"), x[var].to_numpy(dtype="float64")
        i, j = np.meshgrid(np.arange(code.size), np.arange(code.size), indexing="ij")
        off = i != j
        diff = pd.DataFrame({"ccode": code[i[off]], "neighbor": code[j[off]],
                             "distance": np.abs(val[i[off]] - val[j[off]])})  # fmt: skip
        kernel = "knn" if spec["similarity"] == "knn" else "exponential"
        weights = _kernel(diff, kernel, scale=spec["scale"], k=spec["k"])
        out[t] = graph_from_dyads(weights, ids, value="weight", source=str(path))
    return out


# --------------------------------------------------------------------------------------------- user-supplied


def _dyads(spec: Mapping[str, Any], path: Path, plan: Plan) -> dict[int, Graph]:
    """A user's dyad-year table ``ccode1, ccode2, year[, value]`` (directed unless ``mirror: true``).

    ``value: null`` gives binary links. With ``strict: true`` (default) self links, duplicated dyads and
    codes that are not among the panel's states that year stop the run, naming file, row and value.
    """
    value = spec["value"]
    table = read_source(path, ["ccode1", "ccode2", "year"] + ([value] if value else []))
    _check_coverage(table, plan, path)
    return _dyad_graphs(table, plan, path, value=value, mirror=spec["mirror"], strict=spec["strict"],
                        file_rows=True)


# --------------------------------------------------------------------------------------------- rivalry


def _rivalry(spec: Mapping[str, Any], path: Path, plan: Plan) -> dict[int, Graph]:
    """Strategic rivals (Thompson, Sakuwa & Suhas 2021): link i and j in year t when a rivalry between them is
    ongoing (start <= t <= end); binary and symmetric.

    ``rivals``: ``all`` rivalries, only ``principal`` ones (the main rivalry of both sides) or ``principal_any``
    (principal, or asymmetric principal ``aprin``: the main rivalry of one side, the source does not say which).
    ``kinds``: only rivalries with at least one of these elements (positional, spatial, ideological,
    interventionary); null = any. A rival outside the panel that year is dropped; states without a rival are islands.
    """
    rivalries = read_rivalries(path)
    lo, hi = rivalries.attrs["years"]
    outside = sorted({s for s, _ in plan.values() if not lo <= s <= hi})
    if outside:
        raise InputError(f"source covers years {lo}-{hi}; needed (after lag)", file=str(path), value=outside)
    if spec["rivals"] == "principal":
        rivalries = rivalries[rivalries["principal"] == 1]
    elif spec["rivals"] == "principal_any":
        rivalries = rivalries[(rivalries["principal"] == 1) | (rivalries["aprin"] == 1)]
    if spec["kinds"]:
        rivalries = rivalries[rivalries[list(spec["kinds"])].eq(1).any(axis=1)]
    dyads = rivalry_dyads(rivalries, sorted({s for s, _ in plan.values()}))
    return _dyad_graphs(dyads, plan, path, mirror=True)


# --------------------------------------------------------------------------------------------- co-deployment


def deployments(spec: Mapping[str, Any], path: str | Path) -> pd.DataFrame:
    """Yearly personnel of each state in each mission (cached by source, path, size and modification time; the
    returned frame is shared between calls: do not modify it in place). See :func:`_deployments`."""
    path = Path(path)
    if not path.exists():
        raise InputError("raw source file not found (set raw_dir or the channel's file:)", file=str(path))
    stat = path.stat()
    return _deployments_cached(spec["source"], str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _deployments_cached(source: str, path: str, mtime_ns: int, size: int) -> pd.DataFrame:  # noqa: ARG001
    return _deployments(source, Path(path))


def _deployments(source: str, path: Path) -> pd.DataFrame:
    """Yearly personnel of each state in each mission: ``ccode, mission, year, personnel`` (rows with 0 kept).

    UN DPO (``un_dpo``): yearly averages as published, names mapped by the curated name table; IPI gender file
    (``ipi_gender``): month-end totals (``Total Total``) averaged over the months the file covers in the year,
    ISO3 codes mapped to COW. Names the table excludes (not states) are left out.
    """
    from interdep.panel import countries

    country, code, mission, value, time, monthly = DEPLOYMENT_FILES[source]
    table = read_source(path, [country, mission, value, time])
    if table.empty:
        raise InputError("source has a header but no rows", file=str(path), value=list(table.columns))
    personnel = pd.to_numeric(table[value], errors="coerce")
    bad = personnel.isna() | (personnel < 0) | ~np.isfinite(personnel)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"non-numeric or negative personnel in {value!r}", file=str(path), row=i + 2,
                         value=table[value].iloc[i])
    if monthly:
        dates = pd.to_datetime(table[time], format="ISO8601", errors="coerce")
        if dates.isna().any():
            i = int(np.flatnonzero(dates.isna().to_numpy())[0])
            raise InputError("unreadable date", file=str(path), row=i + 2, value=table[time].iloc[i])
        year, period = dates.dt.year, dates.dt.to_period("M")
    else:
        year = pd.to_numeric(table[time], errors="coerce")
        if year.isna().any():
            i = int(np.flatnonzero(year.isna().to_numpy())[0])
            raise InputError("unreadable year", file=str(path), row=i + 2, value=table[time].iloc[i])
        period = year
    if code == "name":
        mapped = countries.map_names(table[country].astype(str), year.astype("int64"), file=str(path))["ccode"]
    else:
        mapped = countries.iso3_to_ccode(table[country], file=str(path))
    long = pd.DataFrame({"ccode": mapped.to_numpy(), "mission": table[mission].astype(str).str.strip().to_numpy(),
                         "year": year.astype("int64").to_numpy(), "period": period.to_numpy(),
                         "personnel": personnel.to_numpy(dtype="float64")}).dropna(subset=["ccode"])
    n_periods = long.groupby("year")["period"].nunique()
    out = long.groupby(["ccode", "mission", "year"], as_index=False)["personnel"].sum()
    out["personnel"] /= out["year"].map(n_periods).to_numpy()
    return out.astype({"ccode": "int64"})


def _co_deployment(spec: Mapping[str, Any], path: Path, plan: Plan) -> dict[int, Graph]:
    """States serving in the same missions in the source year (``lag: 1`` by default: the partners of t - 1).

    A state serves in a mission when its yearly personnel there is at least ``min_personnel``. ``count``: the
    number of missions both serve in; ``overlap``: ``sum_m min(s_im, s_jm)`` with ``s_im`` the share of state
    i's personnel (in the missions where it serves) deployed to mission m (1 = the same spread over missions).
    """
    serving = deployments(spec, path)
    serving = serving[serving["personnel"] >= spec["min_personnel"]]
    out = {}
    for t, (s, ids) in plan.items():
        rows = serving[(serving["year"] == s) & serving["ccode"].isin(ids)].copy()  # a copy: the cache is shared
        rows["share"] = rows["personnel"] / rows.groupby("ccode")["personnel"].transform("sum")
        pairs = rows.merge(rows, on="mission", suffixes=("", "_2"))
        pairs = pairs[pairs["ccode"] != pairs["ccode_2"]]
        pairs["weight"] = 1.0 if spec["weighting"] == "count" else np.minimum(pairs["share"], pairs["share_2"])
        links = pairs.groupby(["ccode", "ccode_2"], as_index=False)["weight"].sum()
        links = links.rename(columns={"ccode_2": "neighbor"})
        out[t] = graph_from_dyads(links, ids, value="weight", source=str(path))
    return out


_BUILDERS: dict[str, Callable[[Mapping[str, Any], Path, Plan], dict[int, Graph]]] = {
    "contiguity": _contiguity,
    "distance": _distance,
    "alliance": _alliance,
    "igo": _igo,
    "unga": _unga,
    "dyads": _dyads,
    "rivalry": _rivalry,
    "co_deployment": _co_deployment,
}
