"""Country codes: the curated COW table, source names -> COW codes, ISO3 and G-W codes -> COW codes.

Two tables ship with the package:

- ``countries.csv``: one row per COW state (``ccode,stateabb,name,iso3,gwcode,first_year,last_year``); ``iso3`` is
  the ISO 3166-1
  alpha-3 code of the state (blank for states that ended before ISO codes or share one with a successor),
  ``gwcode`` the Gleditsch-Ward code of the state in its last year (G-W and COW differ for Germany, Serbia,
  Yemen and four Pacific states; year-specific mapping uses the crosswalk panel, see :func:`gwcode_to_ccode`);
  ``first_year``/``last_year`` the first and last year of any of its COW v2016 membership spells (blank last year =
  ongoing in 2016). A name maps to a state only in those years: "Korea" (COW 730, 1887-1905) is no name for 2005.
- ``country_names.csv``: curated source names -> ``ccode`` (``name,ccode,first_year,last_year,reason``). A blank
  ``ccode`` means the name is excluded (not a state), with the reason. ``first_year``/``last_year`` bound the years
  in which a name means that code (the IPI file carries Czechoslovakia under "Czech Republic" before 1993).
  A name not in this table may still match a COW state name in ``countries.csv`` exactly (case-insensitive).

Names are compared folded (:func:`fold_names`): Unicode compatibility forms and accents, typographic apostrophes,
case and runs of whitespace are ignored, so "Côte d’Ivoire", "Cote d'Ivoire" and "COTE D'IVOIRE" are one name.
A config may add or override names (``panel.names``, see :func:`map_names`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from interdep.errors import InputError
from interdep.io import read_table

HERE = Path(__file__).parent
COUNTRIES_CSV = HERE / "countries.csv"
NAMES_CSV = HERE / "country_names.csv"


APOSTROPHES = "\u2018\u2019\u201b\u02bc\u02bb\u0060\u00b4\u2032"  # ‘ ’ ‛ ʼ ʻ ` ´ ′ -> '


def _fold(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return plain.translate(str.maketrans(APOSTROPHES, "'" * len(APOSTROPHES)))


def fold_names(names: pd.Series) -> pd.Series:
    """Names as compared: compatibility-decomposed without accents, apostrophe variants as ``'``, case-folded,
    trimmed, inner whitespace collapsed ("Côte d’Ivoire" -> "cote d'ivoire")."""
    folded = names.astype(str).map(_fold)
    return folded.str.strip().str.replace(r"\s+", " ", regex=True).str.casefold()



@cache
def load_countries() -> pd.DataFrame:
    """The curated COW state table (one row per ``ccode``).

    Returns
    -------
    pandas.DataFrame
        Columns ``ccode`` (int), ``stateabb``, ``name``, ``iso3`` (text, may be missing), ``gwcode``,
        ``first_year``, ``last_year`` (Int64; missing last year = ongoing).
    """
    df = read_table(COUNTRIES_CSV, dtype={"stateabb": str, "name": str, "iso3": str})
    for col in ("gwcode", "first_year", "last_year"):
        df[col] = df[col].astype("Int64")
    if df["ccode"].duplicated().any():
        dup = df["ccode"][df["ccode"].duplicated()].iloc[0]
        raise InputError("duplicate ccode", file=str(COUNTRIES_CSV), value=dup)
    return df


@cache
def load_country_names() -> pd.DataFrame:
    """The curated name table plus the exact COW names, with a normalised ``key`` column.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``ccode`` (Int64; missing = excluded), ``first_year``, ``last_year`` (Int64; missing =
        unbounded), ``reason``, ``key``.
    """
    curated = read_table(NAMES_CSV, dtype={"name": str, "reason": str})
    for col in ("ccode", "first_year", "last_year"):
        curated[col] = curated[col].astype("Int64")
    bad = curated["ccode"].isna() & curated["reason"].isna()
    if bad.any():
        raise InputError("excluded name without a reason", file=str(NAMES_CSV), row=int(np.flatnonzero(bad)[0]) + 2)
    cow = load_countries()[["name", "ccode"]].assign(reason="COW state name")
    curated["key"] = fold_names(curated["name"])
    cow["key"] = fold_names(cow["name"])
    curated = curated.drop_duplicates(["key", "ccode", "first_year", "last_year"])  # spellings equal once folded
    cow = cow[~cow["key"].isin(curated["key"])]
    out = pd.concat([curated, cow.astype({"ccode": "Int64"})], ignore_index=True)
    return out[["name", "ccode", "first_year", "last_year", "reason", "key"]]


def excluded_names() -> pd.DataFrame:
    """Names the curated table excludes, with the reason (``name, reason``)."""
    names = load_country_names()
    return names.loc[names["ccode"].isna(), ["name", "reason"]].reset_index(drop=True)


def map_names(names: pd.Series, years: pd.Series, *, file: str,
              overrides: Mapping[str, int | None] | None = None, outside: str = "raise") -> pd.DataFrame:
    """Map source country names to COW codes, year by year.

    A name maps to a code only in the years its table row allows (``first_year``/``last_year`` of
    ``country_names.csv``) and the state exists (``countries.csv``): "Korea" is COW 730 only in 1887-1905.

    Parameters
    ----------
    names, years : pandas.Series
        Aligned series: the name as written in the source and the calendar year of each row.
    file : str
        The source file, named in errors.
    overrides : mapping of str to int or None, optional
        The config's ``names:``: a name (folded like the tables) -> COW code in every year (replacing the tables'
        entry), or ``None`` to exclude the name ("excluded by the config's names").
    outside : {"raise", "mark"}
        A known name in a year where it names no existing state: raise, or return it with a missing ``ccode``
        and the reason in ``outside`` (for the caller to decide: a zero row is no contribution).

    Returns
    -------
    pandas.DataFrame
        Same index as ``names``; ``ccode`` (Int64, missing for excluded names) and ``excluded`` (the reason,
        or missing), and with ``outside="mark"`` ``outside`` (why a known name places no state that year, or
        missing).

    Raises
    ------
    InputError
        For a name the tables do not know, a known name in a year outside its validity or the state's existence
        (first such row), or an override to a code not in the COW list.
    """
    table = _with_overrides(load_country_names(), overrides or {}, file)
    states = load_countries()[["ccode", "first_year", "last_year"]].rename(
        columns={"first_year": "state_first", "last_year": "state_last"})
    table = table.merge(states.astype({"ccode": "Int64"}), on="ccode", how="left")
    from_config = table["reason"] == "config's names"  # the config's word holds in every year
    table.loc[from_config, ["state_first", "state_last"]] = pd.NA
    left = pd.DataFrame({"key": fold_names(names).to_numpy(), "year": years.to_numpy(), "pos": np.arange(len(names))})
    merged = left.merge(table, on="key", how="left")
    unknown = merged["name"].isna()
    if unknown.any():
        pos = int(merged.loc[unknown, "pos"].iloc[0])
        raise InputError(
            f"country name not in the curated table {NAMES_CSV.name}; add it there (mapped or excluded with a "
            "reason) or map it in the config (panel.names)", file=file, row=pos + 2, value=names.iloc[pos],
        )
    year = merged["year"]
    ok = (merged["first_year"].isna() | (year >= merged["first_year"])) & (
        merged["last_year"].isna() | (year <= merged["last_year"])) & (
        merged["state_first"].isna() | (year >= merged["state_first"])) & (
        merged["state_last"].isna() | (year <= merged["state_last"]))
    merged = merged[ok.to_numpy(dtype=bool)]
    if merged["pos"].duplicated().any():
        pos = int(merged.loc[merged["pos"].duplicated(), "pos"].iloc[0])
        raise InputError(f"name maps to two codes in one year in {NAMES_CSV.name}", file=file, row=pos + 2,
                         value=names.iloc[pos])
    out = pd.DataFrame({"ccode": pd.array([pd.NA] * len(names), dtype="Int64"), "excluded": None, "outside": None},
                       index=names.index)
    merged = merged.sort_values("pos")
    out.iloc[merged["pos"].to_numpy(), 0] = merged["ccode"].to_numpy()
    out.iloc[merged["pos"].to_numpy(), 1] = merged["reason"].where(merged["ccode"].isna()).to_numpy()
    for pos in np.setdiff1d(np.arange(len(names)), merged["pos"].to_numpy()):
        known = table.loc[table["key"] == fold_names(names.iloc[[pos]]).iloc[0], ["ccode", "state_first", "state_last"]]
        spans = "; ".join(f"COW {c} {a}-{'' if pd.isna(b) else b}" for c, a, b in known.itertuples(index=False)
                          if not pd.isna(c))
        why = (f"country name not valid in year {years.iloc[pos]} per {NAMES_CSV.name} and the COW state years "
               f"({spans or 'excluded name'}); map it in the config (panel.names) if meant")
        if outside == "raise":
            raise InputError(why, file=file, row=int(pos) + 2, value=names.iloc[pos])
        out.iloc[pos, 2] = why
    return out if outside == "mark" else out.drop(columns="outside")


def _with_overrides(table: pd.DataFrame, overrides: Mapping[str, int | None], file: str) -> pd.DataFrame:
    """The name table with the config's ``names:`` replacing every entry of the same folded name."""
    if not overrides:
        return table
    given = pd.DataFrame({"name": list(overrides), "ccode": pd.array(list(overrides.values()), dtype="Int64")})
    bad = given["ccode"].notna() & ~given["ccode"].isin(load_countries()["ccode"])
    if bad.any():
        raise InputError("panel.names maps a name to a code not in the COW state list", file=file,
                         row=f"panel.names.{given['name'][bad].iloc[0]}", value=int(given["ccode"][bad].iloc[0]))
    given["key"] = fold_names(given["name"])
    given["reason"] = np.where(given["ccode"].isna(), "excluded by the config's names", "config's names")
    kept = table[~table["key"].isin(given["key"])]
    return pd.concat([kept, given.assign(first_year=pd.NA, last_year=pd.NA).astype(
        {"first_year": "Int64", "last_year": "Int64"})], ignore_index=True)[list(table.columns)]


def iso3_to_ccode(codes: pd.Series, *, file: str, unknown: str = "raise") -> pd.Series:
    """Map ISO3 codes to COW codes via ``countries.csv``.

    Parameters
    ----------
    codes : pandas.Series
        ISO 3166-1 alpha-3 codes.
    file : str
        The source file, named in errors.
    unknown : {"raise", "na"}
        What to do with a code the table does not know: raise :class:`InputError`, or return missing.

    Returns
    -------
    pandas.Series
        Int64 COW codes, same index.
    """
    table = load_countries().dropna(subset=["iso3"])
    lookup = pd.Series(table["ccode"].to_numpy(), index=table["iso3"].str.upper())
    out = codes.astype(str).str.strip().str.upper().map(lookup).astype("Int64")
    if unknown == "raise" and out.isna().any():
        pos = int(np.flatnonzero(out.isna().to_numpy())[0])
        raise InputError(f"ISO3 code not in {COUNTRIES_CSV.name}", file=file, row=pos + 2, value=codes.iloc[pos])
    return out


def ccode_to_iso3(ccodes: pd.Series) -> pd.Series:
    """ISO3 code of each COW code (missing where the state has none)."""
    table = load_countries()
    return ccodes.map(pd.Series(table["iso3"].to_numpy(), index=table["ccode"]))


def check_ccodes(ccodes: pd.Series, *, file: str) -> None:
    """Raise :class:`InputError` naming the first COW code not in ``countries.csv``."""
    known = ccodes.isin(load_countries()["ccode"])
    if not known.all():
        pos = int(np.flatnonzero(~known.to_numpy())[0])
        raise InputError("COW code not in the COW state list", file=file, row=pos + 2, value=ccodes.iloc[pos])


def read_gw_crosswalk(path: str | Path) -> pd.DataFrame:
    """Read the COW<->G-W state-year crosswalk (isard ``cw_gw_panel``): columns ``gwcode, year, ccode``.

    Rows without both codes are dropped. In a year where one G-W code matches two COW states (1990: G-W 260 =
    COW 260 and 255, G-W 678 = COW 678 and 679) the COW state that continues (latest last year) is kept.
    """
    df = read_table(path, usecols=["year", "gwcode", "ccode"]).dropna().astype("int64")
    df["last"] = df.groupby("ccode")["year"].transform("max")
    df = df.sort_values(["gwcode", "year", "last"]).drop_duplicates(["gwcode", "year"], keep="last")
    return df[["gwcode", "year", "ccode"]].reset_index(drop=True)


def gwcode_to_ccode(codes: pd.Series, years: pd.Series, crosswalk: pd.DataFrame) -> pd.Series:
    """Map G-W codes to COW codes year by year (missing where the crosswalk has no COW state).

    Parameters
    ----------
    codes, years : pandas.Series
        Aligned G-W codes and years.
    crosswalk : pandas.DataFrame
        From :func:`read_gw_crosswalk`.

    Returns
    -------
    pandas.Series
        Int64 COW codes with the index of ``codes``.
    """
    left = pd.DataFrame({"gwcode": codes.to_numpy(), "year": years.to_numpy()})
    out = left.merge(crosswalk, on=["gwcode", "year"], how="left")["ccode"]
    return pd.Series(out.to_numpy(), index=codes.index).astype("Int64")


def read_state_years(path: str | Path, years: tuple[int, int]) -> pd.DataFrame:
    """State-years of the COW state system from ``states2016.csv`` (one row per membership spell).

    A state is in the system in a year when any of its spells overlaps that year. COW v2016 codes the spells of
    current members as ending 2016-12-31; those spells are taken as ongoing for later years.

    Returns
    -------
    pandas.DataFrame
        ``ccode, year`` (int64), sorted, unique.
    """
    spells = read_table(path, usecols=["ccode", "styear", "endyear", "endmonth", "endday", "version"])
    if spells[["ccode", "styear", "endyear"]].isna().any().any():
        raise InputError("missing ccode or spell year", file=str(path))
    last = int(spells["version"].max())
    ongoing = (spells["endyear"] == last) & (spells["endmonth"] == 12) & (spells["endday"] == 31)
    ends = spells["endyear"].where(~ongoing, max(years[1], last))
    lo, hi = years
    parts = [
        pd.DataFrame({"ccode": c, "year": np.arange(max(s, lo), min(e, hi) + 1)})
        for c, s, e in zip(spells["ccode"], spells["styear"], ends, strict=True)
        if e >= lo and s <= hi
    ]
    out = pd.concat(parts, ignore_index=True).astype("int64").drop_duplicates()
    return out.sort_values(["ccode", "year"]).reset_index(drop=True)
