"""Contributions of uniformed personnel: the IPI country-month file and any long table of contributions.

Both adapters return the same *long* table, one row per source row:

``country`` (the name or code as written), ``period`` (month as ``pandas.Period[M]`` or the year as int),
``year``, ``troops``, ``police``, ``experts``, ``contrib_total`` (floats; missing only where the source leaves a
value missing and ``na_means_zero`` is false), ``row`` (line number in the source file, header = 1).

:func:`map_contributors` adds ``ccode`` and ``excluded``; :func:`yearly_contributions` turns it into state-year
means and the source's yearly world totals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interdep.errors import InputError
from interdep.io import read_table
from interdep.panel import countries

TYPES = ("troops", "police", "experts")
VALUES = (*TYPES, "contrib_total")
IPI_COLUMNS = {"troops": "Troops", "police": "Police", "experts": "Experts"}
#: No state has ever sent more than ~10,000 uniformed personnel to UN missions; a count above this bound (or an
#: infinite one) is a unit or parsing error (e.g. a value in persons-days, or 1e308), refused with its row.
MAX_PERSONNEL = 10_000_000


def _check_bound(values: pd.Series, column: str, file: str) -> None:
    """Refuse infinite counts and counts above :data:`MAX_PERSONNEL`, naming the first such row."""
    bad = values.notna() & (~np.isfinite(values.astype("float64")) | (values > MAX_PERSONNEL))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"count in column {column!r} is infinite or above the bound of {MAX_PERSONNEL:,} "
                         "personnel", file=file, row=i + 2, value=float(values.iloc[i]))


def _numeric(df: pd.DataFrame, column: str, *, file: str, na_means_zero: bool) -> pd.Series:
    """A count column as float: non-numeric text and negative values raise, naming the row."""
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"non-numeric count in column {column!r}", file=file, row=i + 2, value=raw.iloc[i])
    neg = values < 0
    if neg.any():
        i = int(np.flatnonzero(neg.to_numpy())[0])
        raise InputError(f"negative count in column {column!r}", file=file, row=i + 2, value=float(values.iloc[i]))
    _check_bound(values, column, file)
    values = values.astype("float64")
    return values.fillna(0.0) if na_means_zero else values


def _require(df: pd.DataFrame, columns: list[str], file: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"missing columns {missing}; present: {list(df.columns)}", file=file)


def _months(raw: pd.Series, file: str) -> pd.Series:
    """Dates (YYYY-MM-DD or YYYY-MM) -> monthly periods; an unparseable date raises, naming the row."""
    _check_time_zones(raw, file)
    dates = pd.to_datetime(raw, format="ISO8601", errors="coerce")
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise InputError("unreadable date (want YYYY-MM-DD or YYYY-MM)", file=file, row=i + 2, value=raw.iloc[i])
    return dates.dt.to_period("M")


def _check_time_zones(raw: pd.Series, file: str) -> None:
    """Refuse dates whose time-zone offsets differ (``Z``, ``+02:00``, none): the month of a date near midnight
    depends on its zone, so the table must use one (or plain dates)."""
    zones = raw.astype(str).str.strip().str.extract(r"(Z|[+-]\d\d:?\d\d)$", expand=False).fillna("")
    differs = zones != zones.iloc[0]
    if differs.any():
        i = int(np.flatnonzero(differs.to_numpy())[0])
        raise InputError(f"dates with different time zones (row 2: {zones.iloc[0] or 'none'}, this row: "
                         f"{zones.iloc[i] or 'none'}); write all dates in one zone or as YYYY-MM-DD", file=file,
                         row=i + 2, value=raw.iloc[i])


def _years(raw: pd.Series, file: str) -> pd.Series:
    years = pd.to_numeric(raw, errors="coerce")
    bad = years.isna() | (years != np.floor(years))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("unreadable year", file=file, row=i + 2, value=raw.iloc[i])
    return years.astype("int64")


def _has_rows(df: pd.DataFrame, file: str) -> None:
    if df.empty:
        raise InputError("contributions source has a header but no rows", file=file, value=list(df.columns))


def _long(country: pd.Series, period: pd.Series, values: dict[str, pd.Series], total: pd.Series | None) -> pd.DataFrame:
    out = pd.DataFrame({"country": country.astype(str).str.strip(), "period": period})
    out["year"] = period.dt.year.astype("int64") if isinstance(period.dtype, pd.PeriodDtype) else period
    for t in TYPES:
        out[t] = values.get(t, np.nan)
    if total is None:
        given = [values[t] for t in TYPES if t in values]
        total = sum(given[1:], given[0])
    out["contrib_total"] = total
    out["row"] = np.arange(len(out)) + 2
    return out


def read_ipi_country_month(path: str | Path) -> pd.DataFrame:
    """Read IPI's contributor x month totals (``Date, Contributor, Troops, Police, Experts``).

    IPI wrote zero contributions as NA before publishing: an empty Troops/Police/Experts is 0.

    Returns
    -------
    pandas.DataFrame
        The long contributions table (see the module docstring), monthly.
    """
    file = str(path)
    df = read_table(path, dtype={"Contributor": str, "Date": str})
    _require(df, ["Date", "Contributor", *IPI_COLUMNS.values()], file)
    _has_rows(df, file)
    values = {t: _numeric(df, c, file=file, na_means_zero=True) for t, c in IPI_COLUMNS.items()}
    return _long(df["Contributor"], _months(df["Date"], file), values, None)


def read_contributions_table(path: str | Path, spec: dict[str, Any]) -> pd.DataFrame:
    """Read any long table of contributions by country and year or month.

    Parameters
    ----------
    path : path
        The CSV file.
    spec : dict
        ``country_column``; ``year_column`` (yearly values, e.g. yearly averages) or ``date_column`` (monthly
        snapshots, averaged over the months the source covers by :func:`yearly_contributions`) (exactly one);
        the values either as ``value_columns``, a mapping from ``troops``/``police``/``experts``/``contrib_total`` to
        column names (at least one; without ``contrib_total`` the total is the sum of the types given), or as a
        personnel-type column: ``type_column`` (the type of each row), ``value_column`` (its count) and ``types``
        (a mapping from ``troops``/``police``/``experts`` to the labels of the type column; a row with another
        label stops the run); ``na_means_zero`` (default True); ``aggregate`` (``sum``: rows that share country
        and period, e.g. one per mission, are summed by :func:`map_contributors`; default: such rows are an
        error).

    Returns
    -------
    pandas.DataFrame
        The long table (monthly for ``date_column``, yearly for ``year_column``), one row per source row, or per
        country, period and source line of its first type row when the table has a type column.
    """
    file = str(path)
    country_col = spec["country_column"]
    if ("value_columns" in spec) == ("type_column" in spec):
        raise InputError("give exactly one of value_columns and type_column (+ value_column, types)", file=file)
    if ("year_column" in spec) == ("date_column" in spec):
        raise InputError("give exactly one of year_column and date_column", file=file)
    if spec.get("aggregate") not in (None, "sum"):
        raise InputError("aggregate must be sum", file=file, value=spec.get("aggregate"))
    time_col = spec.get("year_column") or spec["date_column"]
    if "type_column" in spec:
        types: dict[str, str] = dict(spec.get("types") or {})
        if not types or set(types) - set(TYPES) or "value_column" not in spec:
            raise InputError(f"type_column needs value_column and types mapping some of {list(TYPES)} to labels",
                             file=file, value=types)
        value_cols = {"_count": spec["value_column"]}
        read_cols = [country_col, time_col, spec["type_column"], spec["value_column"]]
    else:
        value_cols = dict(spec["value_columns"])
        if not value_cols or set(value_cols) - set(VALUES):
            raise InputError(f"value_columns must map some of {list(VALUES)}", file=file, value=value_cols)
        read_cols = [country_col, time_col, *value_cols.values()]
    df = read_table(path, dtype={country_col: str, time_col: str})
    _require(df, read_cols, file)
    _has_rows(df, file)
    nz = bool(spec.get("na_means_zero", True))
    values = {t: _numeric(df, c, file=file, na_means_zero=nz) for t, c in value_cols.items()}
    period = _years(df[time_col], file) if "year_column" in spec else _months(df[time_col], file)
    if "type_column" in spec:
        values = _split_types(df[spec["type_column"]], values.pop("_count"), types, file)
        long = _long(df[country_col], period, values, None)
        return _combine_type_rows(long, df[spec["type_column"]], aggregate=spec.get("aggregate") == "sum", file=file)
    return _long(df[country_col], period, values, values.pop("contrib_total", None))


def _split_types(labels: pd.Series, counts: pd.Series, types: dict[str, str], file: str) -> dict[str, pd.Series]:
    """One count column per personnel type from a type column: the row's count under its type, 0 elsewhere."""
    labels = labels.astype(str).str.strip()
    unknown = ~labels.isin(list(types.values()))
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(f"personnel type not in types {types}", file=file, row=i + 2, value=labels.iloc[i])
    return {t: counts.where(labels == label, 0.0) for t, label in types.items()}


def _combine_type_rows(long: pd.DataFrame, labels: pd.Series, *, aggregate: bool, file: str) -> pd.DataFrame:
    """The type rows of one country and period as one row (a type given twice is an error unless aggregating)."""
    if not aggregate:
        key = pd.DataFrame({"c": long["country"], "p": long["period"], "t": labels.astype(str).str.strip().to_numpy()})
        dup = key.duplicated(keep=False).to_numpy()
        if dup.any():
            first = key[dup].iloc[0]
            rows = long.loc[dup & (key == first).all(axis=1).to_numpy(), "row"].tolist()
            raise InputError(f"personnel type {first['t']!r} given twice for one country and period (rows {rows}); "
                             "set aggregate: sum to add such rows", file=file, row=rows[0], value=first["c"])
    return sum_rows(long, ["country", "period"])


def sum_rows(long: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sum the value columns of rows sharing ``by``; a missing value makes the sum missing.

    The result keeps the first source line (``row``) and the names as written (``country``: the first one),
    sorted by that line.
    """
    grouped = long.groupby(by, sort=False, dropna=False)
    values = grouped[list(VALUES)].sum(min_count=1)
    complete = grouped[list(VALUES)].count() == grouped.size().to_numpy()[:, None]
    values = values.where(complete)
    firsts = grouped[[c for c in long.columns if c not in VALUES and c not in by]].first()
    out = pd.concat([firsts, values], axis=1).reset_index()
    return out[list(long.columns)].sort_values("row", kind="stable").reset_index(drop=True)


def map_contributors(long: pd.DataFrame, code_system: str, *, file: str,
                     crosswalk: pd.DataFrame | None = None, names: dict[str, int | None] | None = None,
                     aggregate: bool = False) -> pd.DataFrame:
    """Add ``ccode`` (Int64) and ``excluded`` (reason or missing) to the long table.

    Parameters
    ----------
    long : pandas.DataFrame
        From one of the readers.
    code_system : {"name", "ccode", "iso3", "gwcode"}
        How ``country`` identifies a state. Names go through the curated name table; unknown names, codes not in
        the COW list, unknown ISO3 codes and G-W codes without a COW state that year raise.
    file : str
        The source file, named in errors.
    crosswalk : pandas.DataFrame, optional
        The G-W crosswalk (needed for ``gwcode``).
    names : mapping, optional
        The config's name overrides (``panel.names``; see :func:`interdep.panel.countries.map_names`).
    aggregate : bool
        Sum rows that land on the same (ccode, period) (``aggregate: sum``, e.g. one row per mission or two
        spellings in one period; excluded names: rows with the same name and period) instead of refusing them.

    Raises
    ------
    InputError
        Also when two source rows land on the same (ccode, period) (e.g. two spellings in the same month) and
        ``aggregate`` is false.

    Notes
    -----
    Rows whose counts are all zero (:func:`zero_rows`) are not mapped (``ccode`` missing, ``excluded`` missing):
    zero is not a contribution, and a reshaped wide table lists names in years they were no state.
    """
    zero = zero_rows(long)  # zero is not a contribution: such rows are not mapped (never to another state)
    out = long.copy()
    out["ccode"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
    out["excluded"] = pd.Series(pd.NA, index=out.index, dtype="object")
    mapped = _on_source_rows(lambda part: _map_codes(part, code_system, file, crosswalk, names), long[~zero])
    out.loc[~zero, "ccode"] = mapped["ccode"].astype("Int64")
    out.loc[~zero, "excluded"] = mapped["excluded"]
    if aggregate:
        out["_key"] = out["ccode"].astype("string").fillna("name:" + out["country"])
        out = sum_rows(out, ["_key", "period"]).drop(columns="_key")
    _check_duplicates(out, file)
    return out


#: ``excluded`` of a name that places no state existing that year (the panel stops on it or drops it).
OUTSIDE_PREFIX = "name places no state that year: "


def _map_codes(long: pd.DataFrame, code_system: str, file: str, crosswalk: pd.DataFrame | None,
               names: dict[str, int | None] | None) -> pd.DataFrame:
    out = long.copy()
    out["excluded"] = pd.Series(pd.NA, index=out.index, dtype="object")
    if code_system == "name":
        mapped = countries.map_names(out["country"], out["year"], file=file, overrides=names, outside="mark")
        out["ccode"], out["excluded"] = mapped["ccode"], mapped["excluded"]
        _mark_outside(out, mapped["outside"])
    elif code_system == "iso3":
        out["ccode"] = countries.iso3_to_ccode(out["country"], file=file)
    elif code_system in ("ccode", "gwcode"):
        codes = pd.to_numeric(out["country"], errors="coerce")
        if codes.isna().any():
            i = int(np.flatnonzero(codes.isna().to_numpy())[0])
            raise InputError(f"non-numeric {code_system}", file=file, row=i + 2, value=out["country"].iloc[i])
        codes = codes.astype("int64")
        if code_system == "ccode":
            countries.check_ccodes(codes, file=file)
            out["ccode"] = codes.astype("Int64")
        else:
            if crosswalk is None:
                raise ValueError("gwcode contributions need the G-W crosswalk")
            out["ccode"] = countries.gwcode_to_ccode(codes, out["year"], crosswalk)
            if out["ccode"].isna().any():
                i = int(np.flatnonzero(out["ccode"].isna().to_numpy())[0])
                raise InputError(f"G-W code has no COW state in {out['year'].iloc[i]}", file=file, row=i + 2,
                                 value=out["country"].iloc[i])
    else:
        raise InputError("country_code must be one of name, ccode, iso3, gwcode", file=file, value=code_system)
    return out


def zero_rows(long: pd.DataFrame) -> pd.Series:
    """Rows whose every reported count is 0 (a wide table reshaped to long lists every name in every year)."""
    return long["contrib_total"].eq(0) & long[list(TYPES)].fillna(0).eq(0).all(axis=1)


def _on_source_rows(step: Any, part: pd.DataFrame) -> pd.DataFrame:
    """Run ``step`` on a subset of the long table, where errors name positions in the subset (+2, as for a whole
    table); re-raise them naming the source row."""
    try:
        return step(part.reset_index(drop=True)).set_axis(part.index)
    except InputError as err:
        if not isinstance(err.row, int):
            raise
        raise InputError(err.message, file=err.file, row=int(part["row"].iloc[err.row - 2]),
                         value=err.value) from None


def _mark_outside(out: pd.DataFrame, outside: pd.Series) -> None:
    """A name that places no existing state that year (the rows are not zero: those are never mapped): marked
    excluded with the reason, so the panel stops on it or drops it as ``panel.nonmember`` says."""
    marked = outside.notna().to_numpy()
    out.loc[marked, "excluded"] = OUTSIDE_PREFIX + outside[marked].astype(str)


def _check_duplicates(out: pd.DataFrame, file: str) -> None:
    keyed = out.dropna(subset=["ccode"])
    dup = keyed.duplicated(["ccode", "period"], keep=False)
    if dup.any():
        first = keyed[dup].sort_values("row").iloc[0]
        same = keyed[dup & (keyed["ccode"] == first["ccode"]) & (keyed["period"] == first["period"])]
        raise InputError(
            f"duplicate key (ccode {first['ccode']}, {first['period']}) from rows {same['row'].tolist()}",
            file=file, row=int(first["row"]), value=sorted(set(same["country"])),
        )


def periods_per_year(long: pd.DataFrame) -> pd.Series:
    """Number of distinct periods (months, or 1 for a yearly table) the source covers in each year."""
    return long.groupby("year")["period"].nunique().rename("n_periods")


def yearly_contributions(long: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """State-year means over the periods the source covers, and the source's yearly world totals.

    A state without a row in a covered month contributes 0 that month, so the yearly value is the sum over its
    rows divided by the number of months the source covers in that year (for a yearly table, the value itself).
    A missing value (``na_means_zero: false``) makes that state-year value missing.

    Parameters
    ----------
    long : pandas.DataFrame
        The mapped long table (:func:`map_contributors`).

    Returns
    -------
    state_year : pandas.DataFrame
        ``ccode, year`` + the four value columns, for mapped rows only.
    world : pandas.DataFrame
        Indexed by year: ``n_periods``, ``world_total`` (mean over periods of the sum over *all* source rows,
        mapped or not), ``excluded_total`` (the part from excluded names).
    """
    n = periods_per_year(long)
    mapped = long.dropna(subset=["ccode"])
    grouped = mapped.groupby(["ccode", "year"])[list(VALUES)]
    sums = grouped.sum(min_count=1).where(grouped.count() == grouped.size().to_numpy()[:, None])
    sums = sums.div(sums.index.get_level_values("year").map(n).to_numpy(), axis=0)
    state_year = sums.reset_index().astype({"ccode": "int64", "year": "int64"})
    world = pd.DataFrame({"n_periods": n})
    world["world_total"] = long.groupby("year")["contrib_total"].sum(min_count=1) / n
    excl = long[long["ccode"].isna()].groupby("year")["contrib_total"].sum()
    world["excluded_total"] = excl.reindex(world.index, fill_value=0.0) / n
    return state_year, world
