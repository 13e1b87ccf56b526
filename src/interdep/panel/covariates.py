"""One reader per covariate source; each returns a table keyed by unique (``ccode``, ``year``).

Missing values stay missing: nothing is imputed. Each reader checks its key and names the file in errors.
The :data:`CODEBOOK` entries document each column's unit, source and transformation.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from interdep.errors import InputError
from interdep.io import read_table
from interdep.panel import countries

log = logging.getLogger(__name__)

#: ccode -> (first year, last year) of permanent membership of the UN Security Council (ROC held China's seat
#: until 1971-10-25: 710 from 1971, 713 until 1970; COW 365 is the USSR and Russia).
P5 = {2: (1945, 9999), 200: (1945, 9999), 220: (1945, 9999), 365: (1945, 9999), 710: (1971, 9999), 713: (1945, 1970)}


def _keyed(df: pd.DataFrame, file: str | Path) -> pd.DataFrame:
    """Cast the key to int64, check it is unique and the codes are COW codes; sort."""
    if df[["ccode", "year"]].isna().any().any():
        i = int(np.flatnonzero(df[["ccode", "year"]].isna().any(axis=1).to_numpy())[0])
        raise InputError("missing ccode or year", file=str(file), row=i + 2)
    df = df.astype({"ccode": "int64", "year": "int64"})
    dup = df.duplicated(["ccode", "year"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError("duplicate (ccode, year)", file=str(file), row=i + 2,
                         value=tuple(df[["ccode", "year"]].iloc[i]))
    countries.check_ccodes(df["ccode"], file=str(file))
    return df.sort_values(["ccode", "year"]).reset_index(drop=True)


def _log_or_na(x: pd.Series) -> pd.Series:
    """Natural log; non-positive values -> missing (there are none in these sources; kept as a guard)."""
    return np.log(x.where(x > 0))


def read_gdppop(path: str | Path) -> pd.DataFrame:
    """isard ``cw_gdppop``: ``gdppc`` (mrgdppc, 2011 int'l $) and ``pop`` (pwtpop, millions), with logs."""
    df = _keyed(read_table(path, usecols=["ccode", "year", "mrgdppc", "pwtpop"]), path)
    df = df.rename(columns={"mrgdppc": "gdppc", "pwtpop": "pop"})
    df["log_gdppc"] = _log_or_na(df["gdppc"])
    df["log_pop"] = _log_or_na(df["pop"])
    return df[["ccode", "year", "gdppc", "log_gdppc", "pop", "log_pop"]]


def read_democracy(path: str | Path) -> pd.DataFrame:
    """isard ``cw_democracy``: ``polity2`` (Polity5, -10..10) and ``polyarchy`` (V-Dem v2x_polyarchy, 0..1)."""
    df = _keyed(read_table(path, usecols=["ccode", "year", "polity2", "v2x_polyarchy"]), path)
    bad = ~df["polity2"].between(-10, 10) & df["polity2"].notna()
    if bad.any():
        raise InputError("polity2 outside -10..10 (special codes -66/-77/-88 belong to `polity`)", file=str(path),
                         value=df.loc[bad, "polity2"].iloc[0])
    return df.rename(columns={"v2x_polyarchy": "polyarchy"})[["ccode", "year", "polity2", "polyarchy"]]


def read_nmc(path: str | Path) -> pd.DataFrame:
    """COW NMC (v6.0 abridged): ``milex`` (thousands of current US$) and ``milper`` (thousands); -9 = missing."""
    df = read_table(path, usecols=["ccode", "year", "milex", "milper"])
    for col in ("milex", "milper"):
        df[col] = df[col].where(df[col] != -9).astype("float64")
        if (df[col] < 0).any():
            raise InputError(f"negative {col} other than the missing code -9", file=str(path),
                             value=df.loc[df[col] < 0, col].iloc[0])
    df = _keyed(df, path)
    df["log_milex"] = np.log1p(df["milex"])
    return df[["ccode", "year", "milex", "log_milex", "milper"]]


def read_unga(path: str | Path, column: str = "idealpointall") -> pd.DataFrame:
    """UNGA ideal points (Bailey, Strezhnev & Voeten, July 2025): ``unga_idealpoint`` from ``column``."""
    df = _keyed(read_table(path, usecols=["ccode", "year", column]), path)
    return df.rename(columns={column: "unga_idealpoint"})


def read_conflict(path: str | Path, crosswalk: pd.DataFrame) -> pd.DataFrame:
    """UCDP/PRIO ACD: state-years with an armed conflict on the state's own territory.

    The stored ACD extract has no location field, so "on own territory" is the government side (``gwno_a``) of an
    intrastate or internationalised intrastate conflict (``type_of_conflict`` intrastate / II) active that year
    (>= 25 battle deaths). Interstate and extrasystemic conflicts are not counted: their location is not in the file.

    Returns
    -------
    pandas.DataFrame
        ``ccode, year, conflict_own`` (= 1) for the state-years with such a conflict; ``attrs["years"]`` holds the
        (first, last) year the source covers, outside of which the indicator is missing.
    """
    df = read_table(path, usecols=["year", "gwno_a", "type_of_conflict", "intensity_level"])
    types = {"intrastate", "II"}
    unknown = set(df["type_of_conflict"].dropna()) - types - {"interstate", "extrasystemic"}
    if unknown:
        raise InputError("unknown type_of_conflict", file=str(path), value=sorted(unknown))
    own = df[df["type_of_conflict"].isin(types)][["gwno_a", "year"]].drop_duplicates()
    own["ccode"] = countries.gwcode_to_ccode(own["gwno_a"], own["year"], crosswalk)
    unmatched = own[own["ccode"].isna()]
    if len(unmatched):  # G-W states that are not COW states that year (e.g. Hyderabad 1947-48)
        log.info("UCDP conflicts in G-W states without a COW state that year, not counted: %s",
                 unmatched.groupby("gwno_a")["year"].agg(["min", "max"]).to_dict("index"))
    own = own.dropna(subset=["ccode"])
    out = _keyed(own[["ccode", "year"]].drop_duplicates().assign(conflict_own=1), path)
    out.attrs["years"] = (int(df["year"].min()), int(df["year"].max()))
    return out


def read_contiguity(path: str | Path, max_type: int = 1) -> pd.DataFrame:
    """COW direct contiguity (directed dyad-years): pairs with ``conttype <= max_type`` (1 = land or river).

    Returns
    -------
    pandas.DataFrame
        ``ccode, neighbour, year``, unique; ``attrs["years"]`` = (first, last) year covered.
    """
    df = read_table(path, usecols=["state1no", "state2no", "year", "conttype"])
    out = df[df["conttype"] <= max_type].rename(columns={"state1no": "ccode", "state2no": "neighbour"})
    out = out[["ccode", "neighbour", "year"]].astype("int64").drop_duplicates()
    out = out.sort_values(["ccode", "year", "neighbour"]).reset_index(drop=True)
    out.attrs["years"] = (int(df["year"].min()), int(df["year"].max()))
    return out


def conflict_neighbour(keys: pd.DataFrame, conflict: pd.DataFrame, contiguity: pd.DataFrame) -> pd.Series:
    """1 if any contiguous neighbour has ``conflict_own`` that year, else 0; missing outside both sources' years.

    Parameters
    ----------
    keys : pandas.DataFrame
        ``ccode, year`` rows of the panel.
    conflict, contiguity : pandas.DataFrame
        From :func:`read_conflict` and :func:`read_contiguity`.

    Returns
    -------
    pandas.Series
        Float (0/1/NaN), aligned with ``keys``. A state without land neighbours gets 0.
    """
    hit = contiguity.merge(conflict.rename(columns={"ccode": "neighbour"}), on=["neighbour", "year"])
    hit = hit[["ccode", "year"]].drop_duplicates().assign(conflict_neighbour=1.0)
    out = keys[["ccode", "year"]].merge(hit, on=["ccode", "year"], how="left")["conflict_neighbour"].fillna(0.0)
    lo = max(conflict.attrs["years"][0], contiguity.attrs["years"][0])
    hi = min(conflict.attrs["years"][1], contiguity.attrs["years"][1])
    inside = keys["year"].between(lo, hi).to_numpy()
    return pd.Series(np.where(inside, out.to_numpy(), np.nan), index=keys.index, name="conflict_neighbour")


def conflict_own(keys: pd.DataFrame, conflict: pd.DataFrame) -> pd.Series:
    """``conflict_own`` for the panel keys: 1/0 inside the source's years, missing outside."""
    out = keys[["ccode", "year"]].merge(conflict, on=["ccode", "year"], how="left")["conflict_own"].fillna(0.0)
    lo, hi = conflict.attrs["years"]
    inside = keys["year"].between(lo, hi).to_numpy()
    return pd.Series(np.where(inside, out.to_numpy(), np.nan), index=keys.index, name="conflict_own")


def read_refugees(path: str | Path) -> pd.DataFrame:
    """UNHCR: refugees hosted = sum over origins of ``refugees`` by country of asylum (``coa_iso``) and year.

    Asylum codes without a COW state (territories such as Hong Kong) are dropped and logged; a state-year the
    source does not list stays missing (UNHCR lists only positive stocks, but a missing row is not imputed as 0).
    """
    df = read_table(path, usecols=["year", "coa_iso", "refugees"], dtype={"coa_iso": str})
    df["ccode"] = countries.iso3_to_ccode(df["coa_iso"].fillna(""), file=str(path), unknown="na")
    dropped = sorted(set(df.loc[df["ccode"].isna(), "coa_iso"].dropna()))
    if dropped:
        log.info("UNHCR asylum codes without a COW state, dropped: %s", ", ".join(dropped))
    df = df.dropna(subset=["ccode"])
    if (df["refugees"] < 0).any():
        raise InputError("negative refugees", file=str(path), value=df.loc[df["refugees"] < 0, "refugees"].iloc[0])
    out = df.groupby(["ccode", "year"], as_index=False)["refugees"].sum(min_count=1)
    out = _keyed(out.rename(columns={"refugees": "refugees_hosted"}), path)
    out["log_refugees_hosted"] = np.log1p(out["refugees_hosted"])
    out.attrs["dropped_codes"] = dropped
    return out


def p5(keys: pd.DataFrame) -> pd.Series:
    """1 for the permanent members of the UN Security Council in that year, else 0 (int)."""
    out = np.zeros(len(keys), dtype="int64")
    for ccode, (lo, hi) in P5.items():
        out |= ((keys["ccode"] == ccode) & keys["year"].between(lo, hi)).to_numpy()
    return pd.Series(out.astype("int64"), index=keys.index, name="p5")


# --------------------------------------------------------------------------------------------- motives

#: Kinds of strategic rivalry flagged in Thompson, Sakuwa & Suhas (2021) (tss_rivalries columns, 1 or empty).
RIVALRY_KINDS = ("positional", "spatial", "ideological", "interventionary")
RIVALRY_COLUMNS = ["tssr_id", "ccode1", "ccode2", "start", "end", *RIVALRY_KINDS, "principal", "aprin"]


def _years_covered(df: pd.DataFrame) -> tuple[int, int]:
    return int(df["year"].min()), int(df["year"].max())


def read_trade(path: str | Path) -> pd.DataFrame:
    """COW National Trade v4.0 (peacesciencer ``cow_trade_sy``): imports + exports, current million US$.

    Returns
    -------
    pandas.DataFrame
        ``ccode, year, trade_total, log_trade``; ``trade_total`` is missing when imports or exports is (nothing
        imputed); ``attrs["years"]`` = (first, last) year covered.
    """
    df = _keyed(read_table(path, usecols=["ccode", "year", "imports", "exports"]), path)
    for col in ("imports", "exports"):
        if (df[col] < 0).any():
            raise InputError(f"negative {col}", file=str(path), value=df.loc[df[col] < 0, col].iloc[0])
    df["trade_total"] = df["imports"] + df["exports"]  # NaN if either is missing
    df["log_trade"] = _log_or_na(df["trade_total"])
    out = df[["ccode", "year", "trade_total", "log_trade"]]
    out.attrs["years"] = _years_covered(df)
    return out


def read_wb_gdp(path: str | Path) -> pd.DataFrame:
    """World Bank WDI NY.GDP.MKTP.CD (datahub copy): GDP in current US$, ISO3 codes mapped to COW codes.

    Rows whose code is not a COW state in ``countries.csv`` (aggregates such as WLD, and territories such as
    Hong Kong) are dropped and logged.
    """
    df = read_table(path, usecols=["Country Code", "Year", "Value"], dtype={"Country Code": str})
    df["ccode"] = countries.iso3_to_ccode(df["Country Code"].fillna(""), file=str(path), unknown="na")
    dropped = sorted(set(df.loc[df["ccode"].isna(), "Country Code"].dropna()))
    log.info("World Bank GDP codes without a COW state, dropped: %s", ", ".join(dropped))
    df = df.dropna(subset=["ccode"]).rename(columns={"Year": "year", "Value": "gdp_usd"})
    if (df["gdp_usd"] <= 0).any():
        raise InputError("non-positive GDP", file=str(path), value=df.loc[df["gdp_usd"] <= 0, "gdp_usd"].iloc[0])
    return _keyed(df[["ccode", "year", "gdp_usd"]], path)


def trade_openness(trade: pd.DataFrame, gdp: pd.DataFrame) -> pd.DataFrame:
    """Trade openness in percent of GDP: ``100 * trade_total * 1e6 / gdp_usd``.

    Both in current US dollars of the same year (COW trade in millions, hence the factor 1e6); no deflator is
    needed because numerator and denominator are in the same year's prices. Missing when either is missing.

    Returns
    -------
    pandas.DataFrame
        ``ccode, year, gdp_usd, trade_total, log_trade, trade_openness, log_trade_openness`` on the union of
        both keys.
    """
    out = gdp.merge(trade, on=["ccode", "year"], how="outer", validate="one_to_one")
    out["trade_openness"] = 100.0 * out["trade_total"] * 1e6 / out["gdp_usd"]
    out["log_trade_openness"] = _log_or_na(out["trade_openness"])
    return out[["ccode", "year", "gdp_usd", "trade_total", "log_trade", "trade_openness", "log_trade_openness"]]


def read_terrthreat(path: str | Path) -> pd.DataFrame:
    """Miller (2022) latent external territorial threat: ``terr_threat`` (posterior estimate ``lterrthreat``)
    and ``terr_threat_sd`` (its posterior sd). The source ends in 2010; later years stay missing."""
    df = _keyed(read_table(path, usecols=["ccode", "year", "lterrthreat", "sd"]), path)
    if (df["sd"] < 0).any():
        raise InputError("negative posterior sd", file=str(path), value=df.loc[df["sd"] < 0, "sd"].iloc[0])
    return df.rename(columns={"lterrthreat": "terr_threat", "sd": "terr_threat_sd"})


def read_rivalries(path: str | Path) -> pd.DataFrame:
    """Thompson, Sakuwa & Suhas (2021) strategic rivalries (peacesciencer ``tss_rivalries``), one row per rivalry.

    Returns
    -------
    pandas.DataFrame
        ``tssr_id, ccode1, ccode2, start, end`` (int; the rivalry is ongoing in every year ``start..end``), the
        kinds :data:`RIVALRY_KINDS` and ``principal`` (both sides' main rivalry), ``aprin`` (main rivalry of one
        side, the source does not say which) as 0/1. ``attrs["years"]`` = (first start, last end).

    Raises
    ------
    InputError
        Missing codes or years, ``end < start``, a flag other than 1 or empty, a self-rivalry.
    """
    df = read_table(path, usecols=RIVALRY_COLUMNS)
    keys = ["tssr_id", "ccode1", "ccode2", "start", "end"]
    bad = df[keys].isna().any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("missing rivalry id, code or year", file=str(path), row=i + 2, value=df.iloc[i].tolist())
    df = df.astype(dict.fromkeys(keys, "int64"))
    for col in [*RIVALRY_KINDS, "principal", "aprin"]:
        odd = df[col].notna() & (df[col] != 1)
        if odd.any():
            i = int(np.flatnonzero(odd.to_numpy())[0])
            raise InputError(f"{col} must be 1 or empty", file=str(path), row=i + 2, value=df[col].iloc[i])
        df[col] = df[col].notna().astype("int64")
    for mask, what in ((df["end"] < df["start"], "end year before start year"),
                       (df["ccode1"] == df["ccode2"], "a state cannot be its own rival")):
        if mask.any():
            i = int(np.flatnonzero(mask.to_numpy())[0])
            raise InputError(what, file=str(path), row=i + 2, value=df[keys].iloc[i].tolist())
    df.attrs["years"] = (int(df["start"].min()), int(df["end"].max()))
    return df


def rivalry_dyads(rivalries: pd.DataFrame, years: range | list[int]) -> pd.DataFrame:
    """Rivalry-years ``tssr_id, ccode1, ccode2, year`` of the rivalries ongoing in ``years`` (start..end)."""
    years = np.asarray(list(years), dtype="int64")
    parts = [r.assign(year=t) for t in years
             for r in [rivalries[(rivalries["start"] <= t) & (rivalries["end"] >= t)]]]  # fmt: skip
    cols = [*rivalries.columns, "year"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def rivalry_counts(keys: pd.DataFrame, rivalries: pd.DataFrame) -> pd.DataFrame:
    """Per state-year: ``n_rivalries`` (ongoing strategic rivalries) and ``principal_rival`` (1 if one of them has
    ``principal == 1``, the main rivalry of both sides). Missing outside the source's years.

    A rivalry with only ``aprin == 1`` (principal for one side, which one the source does not say) does not count
    as a principal rival of either side. Counted whether or not the rival is in the panel that year.
    """
    ry = rivalry_dyads(rivalries, sorted(keys["year"].unique()))
    sides = pd.concat([ry.rename(columns={"ccode1": "ccode"}), ry.rename(columns={"ccode2": "ccode"})])
    per = sides.groupby(["ccode", "year"]).agg(n_rivalries=("tssr_id", "nunique"), principal_rival=("principal", "max"))
    out = keys[["ccode", "year"]].merge(per.reset_index(), on=["ccode", "year"], how="left")
    out = out[["n_rivalries", "principal_rival"]].fillna(0.0)
    lo, hi = rivalries.attrs["years"]
    out.loc[~keys["year"].between(lo, hi).to_numpy(), :] = np.nan
    return out.set_axis(keys.index).astype("Int64")


def read_powers(path: str | Path) -> pd.DataFrame:
    """Maoz (2010) regional and global power spells (peacesciencer ``maoz_powers``), as dates.

    Returns
    -------
    pandas.DataFrame
        ``ccode, status (regional|global), start, end`` (Timestamps), one row per spell;
        ``attrs["years"]`` = (first start year, last end year).
    """
    df = read_table(path, usecols=["ccode", "regstdate", "regenddate", "globstdate", "globenddate"])
    countries.check_ccodes(df["ccode"], file=str(path))
    spells = []
    for status, st, en in (("regional", "regstdate", "regenddate"), ("global", "globstdate", "globenddate")):
        part = df[["ccode", st, en]].dropna(how="all", subset=[st, en])
        start = pd.to_datetime(part[st], format="%Y-%m-%d", errors="coerce")
        end = pd.to_datetime(part[en], format="%Y-%m-%d", errors="coerce")
        bad = start.isna() | end.isna() | (end < start)
        if bad.any():
            i = bad.to_numpy().nonzero()[0][0]
            raise InputError(f"{status} spell without valid dates (YYYY-MM-DD, end >= start)", file=str(path),
                             row=int(part.index[i]) + 2, value=part.iloc[i][[st, en]].tolist())
        spells.append(pd.DataFrame({"ccode": part["ccode"].astype("int64"), "status": status,
                                    "start": start, "end": end}))  # fmt: skip
    out = pd.concat(spells, ignore_index=True)
    out.attrs["years"] = (int(out["start"].dt.year.min()), int(out["end"].dt.year.max()))
    return out


def power_status(keys: pd.DataFrame, spells: pd.DataFrame) -> pd.DataFrame:
    """``regional_power`` and ``global_power`` (0/1): a spell of that status covers 1 July of the year.

    Missing outside the years the spells cover (peacesciencer right-bounds them at 2019-12-31).
    """
    mid = pd.to_datetime(keys["year"].astype(str) + "-07-01").to_numpy()
    out = pd.DataFrame(index=keys.index)
    for status in ("regional", "global"):
        hit = np.zeros(len(keys), dtype=bool)
        for s in spells[spells["status"] == status].itertuples():
            covers = (mid >= s.start.to_datetime64()) & (mid <= s.end.to_datetime64())
            hit |= (keys["ccode"].to_numpy() == s.ccode) & covers
        out[f"{status}_power"] = hit.astype("float64")
    lo, hi = spells.attrs["years"]
    out.loc[~keys["year"].between(lo, hi).to_numpy(), :] = np.nan
    return out.astype("Int64")
