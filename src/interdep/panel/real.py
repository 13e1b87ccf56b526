"""Assembly of the real state-year panel: COW state-years x contributions x covariates, with its codebook.

Entry point: :func:`build_real_panel`. The ``options`` mapping is the ``panel:`` section of the config:

``years``            [first, last] (default: the years the contributions source covers)
``source``           ``ipi`` (default) or ``table``
``contributions``    for ``source: table``: ``file``, ``country_column``, ``country_code`` (name|ccode|iso3|gwcode),
                     ``year_column`` or ``date_column``, ``value_columns`` or ``type_column`` + ``value_column`` +
                     ``types``, ``na_means_zero``, ``aggregate`` (sum), ``drop_years`` (years the table covers badly:
                     their contributions are missing in the panel, not 0)
``names``            contributor name -> COW code (or null: excluded), before the curated name table
``combine``          for ``source: table``: ``ipi_until`` (IPI for the years up to it, the table after) and
                     ``warn_share`` (default 0.05); see :func:`compare_sources`
``covariates``       subset of :data:`COVARIATES` (default: all)
``contiguity_max_type``  COW contiguity types counted as neighbours for ``conflict_neighbour`` (default 1 = land)
``unga_column``      ideal-point column (default ``idealpointall``)
``files``            ``{source key: path}`` overriding the default paths of :data:`DEFAULT_FILES`
``nonmember``        ``fail`` (default): a contribution that cannot be placed in the panel (a state-year outside
                     the COW state system, or a name the name table excludes) stops the build, naming file, row and
                     value; ``drop``: such rows are left out and listed (``panel.attrs["dropped"]``, dropped.csv)

Paths are relative to ``raw_dir`` unless absolute.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interdep.config import resolve_source
from interdep.errors import InputError
from interdep.panel import contributions as contrib
from interdep.panel import countries, covariates
from interdep.panel.sources import resolve

log = logging.getLogger(__name__)

#: Default path under raw_dir of each source the panel reads (keys as in data/sources.csv).
DEFAULT_FILES = {
    "ipi_country_month": "ipi_peacekeeping/ipi_tcc_country_month_totals_1990_2014.csv",
    "cow_states": "cow_states/states2016.csv",
    "cw_gw_panel": "state_systems/cw_gw_panel_isard.csv",
    "cow_contiguity": "cow_contiguity/contdird_v3_2.csv",
    "gdppop": "isard_covariates/cw_gdppop_isard.csv",
    "democracy": "isard_covariates/cw_democracy_isard.csv",
    "cow_nmc": "cow_nmc/NMC-60-abridged.csv",
    "ucdp_acd": "ucdp_acd/ucdp_acd_v25_1_peacesciencer.csv",
    "unhcr_population": "unhcr/unhcr_population_refugees_pkg.csv.gz",
    "unga_idealpoints": "unga_idealpoints/IdealpointsJuly2025.csv",
    "cow_trade": "cow_trade/cow_trade_sy_peacesciencer.csv",
    "wb_gdp": "worldbank/wb_gdp_current_usd_datahub.csv",
    "terrthreat": "terrthreat/terrthreat_peacesciencer.csv.gz",
    "tss_rivalries": "rivalries/tss_rivalries_peacesciencer.csv",
    "maoz_powers": "maoz_powers/maoz_powers_peacesciencer.csv",
}

#: Covariate groups -> the source keys they read.
COVARIATES = {
    "gdppop": ["gdppop"],
    "democracy": ["democracy"],
    "nmc": ["cow_nmc"],
    "conflict": ["ucdp_acd", "cw_gw_panel", "cow_contiguity"],
    "refugees": ["unhcr_population"],
    "p5": [],
    "unga": ["unga_idealpoints"],
    "trade": ["cow_trade", "wb_gdp"],
    "threat": ["terrthreat"],
    "rivalry": ["tss_rivalries"],
    "status": ["maoz_powers"],
}

OPTION_KEYS = {"years", "source", "contributions", "covariates", "contiguity_max_type", "unga_column", "files",
               "nonmember", "names", "combine"}
#: log(1 + personnel) of each personnel type (outcome transformations as panel columns, see CODEBOOK)
LOG_TYPES = ["log_troops", "log_police", "log_experts"]
#: Columns of dropped.csv: the source row and why it is not in the panel.
DROPPED_COLUMNS = ["file", "row", "country", "period", "year", "ccode", *contrib.VALUES, "reason"]
TABLE_KEYS = {"file", "country_column", "country_code", "year_column", "date_column", "value_columns", "na_means_zero",
              "type_column", "value_column", "types", "aggregate", "drop_years"}

_IPI = "IPI country-month totals (ipi_country_month)"
_MEAN = "mean over the months the source covers that year of month-end values; month without a row = 0; NA = 0"
#: column -> (label, unit, source, transformation)
CODEBOOK: dict[str, tuple[str, str, str, str]] = {
    "ccode": ("COW state code", "code", "COW states2016 (cow_states)", "state-years of COW system membership"),
    "iso3": ("ISO 3166-1 alpha-3", "code", "src/interdep/panel/countries.csv", "lookup by ccode; blank if none"),
    "year": ("calendar year", "year", "COW states2016 (cow_states)", "any membership spell overlapping the year"),
    "troops": ("UN troops contributed", "persons", _IPI, _MEAN),
    "police": ("UN police contributed (individual police + formed police units)", "persons", _IPI, _MEAN),
    "experts": ("UN military experts / observers contributed", "persons", _IPI, _MEAN),
    "contrib_total": ("UN uniformed personnel contributed", "persons", _IPI, "troops + police + experts; " + _MEAN),
    "contributed": ("any uniformed personnel that year", "0/1", _IPI, "contrib_total > 0"),
    "log_contrib": ("log of 1 + contributions", "log persons", _IPI, "log(1 + contrib_total)"),
    "log_troops": ("log of 1 + troops", "log persons", _IPI, "log(1 + troops)"),
    "log_police": ("log of 1 + police", "log persons", _IPI, "log(1 + police)"),
    "log_experts": ("log of 1 + experts", "log persons", _IPI, "log(1 + experts)"),
    "contrib_share": ("share of the world total", "fraction", _IPI,
                      "contrib_total / yearly mean of monthly world totals of the source (all rows)"),
    "gdppc": ("real GDP per capita", "2011 international $", "isard cw_gdppop (gdppop), Fariss et al. 2022",
              "mrgdppc as published"),
    "log_gdppc": ("log real GDP per capita", "log 2011 int'l $", "isard cw_gdppop (gdppop)", "log(gdppc)"),
    "pop": ("population", "millions", "isard cw_gdppop (gdppop), PWT-anchored", "pwtpop as published"),
    "log_pop": ("log population", "log millions", "isard cw_gdppop (gdppop)", "log(pop)"),
    "polity2": ("Polity5 polity2", "-10..10", "isard cw_democracy (democracy), Polity5", "as published"),
    "polyarchy": ("V-Dem electoral democracy index", "0..1", "isard cw_democracy (democracy), V-Dem",
                  "v2x_polyarchy as published"),
    "milex": ("military expenditure", "thousands of current US$", "COW NMC v6.0 (cow_nmc)", "-9 -> missing"),
    "log_milex": ("log of 1 + military expenditure", "log thousands US$", "COW NMC v6.0 (cow_nmc)",
                  "log(1 + milex)"),
    "milper": ("military personnel", "thousands", "COW NMC v6.0 (cow_nmc)", "-9 -> missing"),
    "conflict_own": ("armed conflict on own territory", "0/1", "UCDP/PRIO ACD v25.1 (ucdp_acd), G-W -> COW via "
                     "cw_gw_panel", "1 if government side (gwno_a) of an active intrastate or internationalised "
                     "intrastate conflict (>= 25 battle deaths); missing outside 1946-2024"),
    "conflict_neighbour": ("armed conflict in a contiguous state", "0/1", "UCDP/PRIO ACD v25.1 + COW direct "
                           "contiguity v3.2 (cow_contiguity)", "1 if any neighbour with conttype <= "
                           "contiguity_max_type (default 1, land) has conflict_own = 1; 0 without neighbours; "
                           "missing after 2016"),
    "refugees_hosted": ("refugees hosted", "persons", "UNHCR refugee statistics (unhcr_population)",
                        "sum over origins of end-year refugee stocks by country of asylum; missing if not listed"),
    "log_refugees_hosted": ("log of 1 + refugees hosted", "log persons", "UNHCR (unhcr_population)",
                            "log(1 + refugees_hosted)"),
    "p5": ("permanent member of the UN Security Council", "0/1", "UN Charter art. 23 (coded in covariates.P5)",
           "USA, UK, France, USSR/Russia, China (ROC until 1970, PRC from 1971)"),
    "unga_idealpoint": ("UNGA ideal point", "latent scale", "Bailey, Strezhnev & Voeten July 2025 "
                        "(unga_idealpoints)", "unga_column (default idealpointall) as published"),
    "gdp_usd": ("GDP, current US$", "current US$", "World Bank WDI NY.GDP.MKTP.CD (wb_gdp), ISO3 -> COW via "
                "countries.csv", "as published; missing where the World Bank has no series (e.g. Taiwan)"),
    "trade_total": ("imports + exports", "current million US$", "COW National Trade v4.0 (cow_trade)",
                    "imports + exports; missing if either is missing; ends 2014"),
    "log_trade": ("log total trade", "log current million US$", "COW National Trade v4.0 (cow_trade)",
                  "log(trade_total)"),
    "trade_openness": ("trade openness", "percent of GDP", "COW trade (cow_trade) / World Bank GDP (wb_gdp)",
                       "100 * trade_total * 1e6 / gdp_usd: both in current US$ of the same year, so no deflator; "
                       "not the panel's gdppc (2011 international $, PPP), which is not in market exchange-rate "
                       "dollars; missing if either is missing. Values as in the sources, not trimmed: Liberia "
                       "400-5,000 %, Luxembourg 1990-1996 1,400-1,750 %, Singapore ~250-340 %; "
                       "COW 365 in 1990 is divided by the World Bank's RUS series"),
    "log_trade_openness": ("log trade openness", "log percent of GDP", "cow_trade / wb_gdp",
                           "log(trade_openness); damps the outliers above"),
    "terr_threat": ("latent external territorial threat", "latent scale (posterior estimate)",
                    "Miller 2022, JGSS 7(4) (terrthreat)", "lterrthreat as published; its posterior sd is "
                    "terr_threat_sd (about 0.03-0.05 in 1990-2010 against a spread of about -1.3..0.9); the source "
                    "ends 2010: later years missing, not zero"),
    "terr_threat_sd": ("posterior sd of terr_threat", "latent scale", "Miller 2022 (terrthreat)",
                       "sd as published; missing after 2010"),
    "n_rivalries": ("ongoing strategic rivalries", "count", "Thompson, Sakuwa & Suhas 2021 (tss_rivalries)",
                    "number of rivalries with start <= year <= end the state is a side of (rival in the system or "
                    "not); 0 if none; the source's end 2020 means ongoing"),
    "principal_rival": ("has a principal rival", "0/1", "Thompson, Sakuwa & Suhas 2021 (tss_rivalries)",
                        "1 if an ongoing rivalry has principal = 1 (the main rivalry of both sides); rivalries with "
                        "only aprin = 1 (main rivalry of one side, the source does not say which) do not count"),
    "regional_power": ("regional power", "0/1", "Maoz 2010 (maoz_powers)", "1 if a regional-power spell covers "
                       "1 July of the year; Maoz codes to 2001, spells ongoing then run to 2019-12-31 in the file "
                       "(peacesciencer's right bound), so later years carry the 2001 status"),
    "global_power": ("global power", "0/1", "Maoz 2010 (maoz_powers)", "1 if a global-power spell covers "
                     "1 July of the year (1990-2014: USA, UK; USSR in 1990); compare p5"),
}


def build_real_panel(raw_dir: Path, options: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the state-year panel from the raw sources.

    Parameters
    ----------
    raw_dir : Path
        Folder with the sources in the layout of ``data/sources.csv``.
    options : dict
        The ``panel:`` mapping of the config (see the module docstring).

    Returns
    -------
    panel : pandas.DataFrame
        One row per COW state-year, sorted by (ccode, year). ``attrs`` holds, as lists of records,
        ``nonmember_contributions`` (state-years with contributions but outside the state system; also logged as a
        warning), ``excluded_names`` (source names excluded by the name table) and ``world_totals`` (per year:
        n_periods, world_total, excluded_total, nonmember_total).
    codebook : pandas.DataFrame
        ``column, label, unit, source, transformation, n_missing`` for every panel column.

    Raises
    ------
    InputError
        On bad options, unknown names or codes, duplicate keys, bad counts, or a world total that does not add up.
    """
    options = dict(options or {})
    if "file" in options:
        raise InputError("panel.file belongs to the demo source; for real data use panel.files (source paths) "
                         "or panel.contributions.file (source: table)", value=options["file"])
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise InputError(f"unknown panel options {sorted(unknown)}; allowed: {sorted(OPTION_KEYS)}")
    files = source_files(raw_dir, options)
    long, source_label = _read_contributions(raw_dir, options, files)
    comparison = None
    if options.get("combine"):
        long, comparison, source_label = _combine(long, options, files)
    gaps = sorted(long.attrs.get("drop_years", []))
    years = _years(options, long, long.attrs.get("file", ""), gaps)
    keys = countries.read_state_years(files["cow_states"], years)
    dropped = unplaced_contributions(long, keys, years, options.get("nonmember", "fail"))
    state_year, world = contrib.yearly_contributions(long)
    panel, nonmember = _outcomes(keys, state_year, world, years)
    _check_world_totals(panel[~panel["year"].isin(gaps)], world, nonmember)
    panel = _blank_years(panel, gaps)
    panel = _add_covariates(panel, files, options)
    panel = panel.sort_values(["ccode", "year"]).reset_index(drop=True)
    _check_keys(panel)
    panel.attrs.update(  # plain records (DataFrames in attrs break pandas' attrs propagation)
        nonmember_contributions=nonmember.to_dict("records"),
        world_totals=world.loc[years[0]:years[1]].reset_index().to_dict("records"),
        excluded_names=sorted(set(long.loc[long["excluded"].notna(), "country"])),
        dropped=dropped.to_dict("records"),
        dropped_years=gaps,
        sources_comparison=None if comparison is None else comparison.to_dict("records"),
    )
    return panel, _codebook(panel, source_label)


def source_files(raw_dir: Path, options: dict[str, Any]) -> dict[str, Path]:
    """Source key -> path of every file the real panel reads (``panel.files`` overrides the defaults).

    The IPI file is read (and so required) only with ``source: ipi`` or ``combine``.
    """
    overrides = dict(options.get("files") or {})
    unknown = set(overrides) - set(DEFAULT_FILES)
    if unknown:
        raise InputError(f"unknown source keys in panel.files: {sorted(unknown)}; allowed: {sorted(DEFAULT_FILES)}")
    files = {k: resolve(raw_dir, v) for k, v in DEFAULT_FILES.items()}
    files.update({k: resolve_source(raw_dir, v, key=f"panel.files.{k}") for k, v in overrides.items()})
    if options.get("source", "ipi") == "table" and not options.get("combine"):
        files.pop("ipi_country_month")
    return files


def _read_contributions(raw_dir: Path, options: dict[str, Any], files: dict[str, Path]) -> tuple[pd.DataFrame, str]:
    source = options.get("source", "ipi")
    names = options.get("names")
    if source == "ipi":
        return _read_ipi(files, names), _IPI
    if source != "table":
        raise InputError("panel.source must be ipi or table", value=source)
    spec = dict(options.get("contributions") or {})
    if set(spec) - TABLE_KEYS:
        raise InputError(f"unknown keys in panel.contributions: {sorted(set(spec) - TABLE_KEYS)}",
                         value=sorted(TABLE_KEYS))
    for key in ("file", "country_column", "country_code"):
        if key not in spec:
            raise InputError(f"panel.contributions needs {key!r} when source is table", value=sorted(spec))
    path = resolve_source(raw_dir, spec["file"], key="panel.contributions.file")
    long = contrib.read_contributions_table(path, spec)
    drop = sorted(int(y) for y in spec.get("drop_years") or [])
    if drop:
        log.info("panel.contributions.drop_years %s: %d rows of %s set aside (contributions missing those years)",
                 drop, int(long["year"].isin(drop).sum()), path.name)
        long = long[~long["year"].isin(drop)].reset_index(drop=True)
    xwalk = countries.read_gw_crosswalk(files["cw_gw_panel"]) if spec["country_code"] == "gwcode" else None
    long = contrib.map_contributors(long, spec["country_code"], file=str(path), crosswalk=xwalk, names=names,
                                    aggregate=spec.get("aggregate") == "sum")
    long.attrs.update(file=str(path), drop_years=drop)
    return long, contributions_label(options)


def contributions_label(options: dict[str, Any]) -> str:
    """The source of the contribution columns as the codebook names it."""
    if options.get("source", "ipi") == "ipi":
        return _IPI
    table = f"contributions table {Path(options['contributions']['file']).name} (panel.contributions)"
    if options.get("combine"):
        until = int(options["combine"]["ipi_until"])
        return f"{_IPI} up to {until}; {table} from {until + 1}"
    return table


def _read_ipi(files: dict[str, Path], names: dict[str, int | None] | None) -> pd.DataFrame:
    path = files["ipi_country_month"]
    long = contrib.map_contributors(contrib.read_ipi_country_month(path), "name", file=str(path), names=names)
    long.attrs["file"] = str(path)
    return long


def unplaced_contributions(long: pd.DataFrame, keys: pd.DataFrame, years: tuple[int, int],
                           policy: str = "fail") -> pd.DataFrame:
    """Source rows in the panel's years with personnel that cannot be placed in the panel.

    A row cannot be placed when its state is not in the COW state system that year, or its name is excluded by
    the name table (with the table's reason). Rows with zero personnel are not contributions and never count.

    Parameters
    ----------
    long : pandas.DataFrame
        The mapped long table (:func:`interdep.panel.contributions.map_contributors`); ``attrs["file"]`` names it.
    keys : pandas.DataFrame
        The system's state-years (``ccode, year``).
    years : (int, int)
        The panel's first and last year.
    policy : {"fail", "drop"}
        The config's ``panel.nonmember``.

    Returns
    -------
    pandas.DataFrame
        :data:`DROPPED_COLUMNS`, one row per dropped source row (empty when nothing is dropped).

    Raises
    ------
    InputError
        Under ``fail``, naming the file, row and value of the first such row and why it cannot be placed.
    """
    if policy not in ("fail", "drop"):
        raise InputError("panel.nonmember must be fail or drop", row="panel.nonmember", value=policy)
    file = long.attrs.get("file", "")
    member = pd.MultiIndex.from_frame(keys[["ccode", "year"]])
    codes = pd.MultiIndex.from_arrays([long["ccode"].fillna(-1).astype("int64"), long["year"]])
    outside = long["ccode"].notna() & ~codes.isin(member)
    excluded = long["ccode"].isna() & long["excluded"].notna()
    positive = long[list(contrib.VALUES)].gt(0).any(axis=1) & long["year"].between(*years)
    rows = long[(outside | excluded) & positive].copy()
    rows["reason"] = np.where(
        rows["ccode"].notna(),
        "COW code " + rows["ccode"].astype(str) + " is not a state of the COW system in " + rows["year"].astype(str),
        np.where(rows["excluded"].astype(str).str.startswith(contrib.OUTSIDE_PREFIX),
                 rows["excluded"].astype(str).str.removeprefix(contrib.OUTSIDE_PREFIX),
                 "name excluded by country_names.csv: " + rows["excluded"].astype(str).str.removeprefix("excluded: ")),
    )
    rows["file"] = file
    rows["period"] = rows["period"].astype(str)
    rows = rows[DROPPED_COLUMNS].sort_values("row").reset_index(drop=True)
    if len(rows) and policy == "fail":
        first = rows.iloc[0]
        raise InputError(
            f"contribution cannot be placed in the panel ({first['reason']}); {len(rows)} such row(s) in "
            f"{years[0]}-{years[1]}; fix the name or code, or set panel.nonmember: drop to leave them out "
            "(listed in dropped.csv)",
            file=file, row=int(first["row"]), value=f"{first['country']}, {first['period']}, "
                                                    f"{first['contrib_total']:g} personnel")
    if len(rows):
        log.warning("%d contribution row(s) dropped (panel.nonmember: drop), %g personnel in total",
                    len(rows), rows["contrib_total"].sum())
    return rows


def _combine(table: pd.DataFrame, options: dict[str, Any],
             files: dict[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """IPI for the years up to ``combine.ipi_until``, the table after; the two compared where both cover."""
    until = int(options["combine"]["ipi_until"])
    ipi = _read_ipi(files, options.get("names"))
    comparison = compare_sources(ipi, table)
    warn_share = float(options["combine"].get("warn_share", 0.05))
    for line in comparison_warnings(comparison, warn_share):
        log.warning(line)
    drop = [y for y in table.attrs.get("drop_years", []) if y > until]
    long = pd.concat([ipi[ipi["year"] <= until], table[table["year"] > until]], ignore_index=True)
    long.attrs.update(file=f"{ipi.attrs['file']} + {table.attrs['file']}", drop_years=drop)
    return long, comparison, contributions_label(options)


COMPARISON_COLUMNS = ["scope", "year", "ccode", "iso3", "ipi", "table", "difference", "ratio", "share_difference"]


def compare_sources(ipi: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Yearly contributions of two mapped long tables over the years both cover.

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`: one ``world`` row per year (totals of all rows, mapped or not) and one
        ``state`` row per state-year either source lists (0 where the other has no row); ``difference`` =
        table - ipi, ``ratio`` = table / ipi, ``share_difference`` = difference / ipi (missing where ipi is 0).
    """
    a_sy, a_w = contrib.yearly_contributions(ipi)
    b_sy, b_w = contrib.yearly_contributions(table)
    both = sorted(set(a_w.index) & set(b_w.index))
    world = pd.DataFrame({"year": both, "ipi": a_w.loc[both, "world_total"].to_numpy(),
                          "table": b_w.loc[both, "world_total"].to_numpy()}).assign(scope="world")
    states = (a_sy.loc[a_sy["year"].isin(both), ["ccode", "year", "contrib_total"]]
              .merge(b_sy.loc[b_sy["year"].isin(both), ["ccode", "year", "contrib_total"]], on=["ccode", "year"],
                     how="outer", suffixes=("_ipi", "_table")).fillna(0.0)
              .rename(columns={"contrib_total_ipi": "ipi", "contrib_total_table": "table"}).assign(scope="state"))
    states["ccode"] = states["ccode"].astype("int64")
    states["iso3"] = countries.ccode_to_iso3(states["ccode"])
    out = pd.concat([world, states.sort_values(["year", "ccode"])], ignore_index=True)
    out["ccode"] = out["ccode"].astype("Int64")
    out["difference"] = out["table"] - out["ipi"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ratio"] = (out["table"] / out["ipi"]).where(out["ipi"] > 0)
    out["share_difference"] = out["ratio"] - 1
    return out[COMPARISON_COLUMNS]


def comparison_warnings(comparison: pd.DataFrame, warn_share: float) -> list[str]:
    """One line per year in which the two sources' world totals differ by more than ``warn_share``."""
    world = comparison[comparison["scope"] == "world"]
    bad = world[(world["share_difference"].abs() > warn_share) | world["share_difference"].isna()]
    return [f"contribution sources differ in {int(r.year)}: table {r.table:,.0f} vs IPI {r.ipi:,.0f} "
            f"({r.share_difference:+.1%}, more than {warn_share:.0%}); see tables/sources_comparison.md"
            for r in bad.itertuples()]


def _years(options: dict[str, Any], long: pd.DataFrame, file: str, gaps: list[int]) -> tuple[int, int]:
    covered = sorted(set(long["year"].unique()) | set(gaps))
    lo, hi = options.get("years") or (covered[0], covered[-1])
    missing = sorted(set(range(int(lo), int(hi) + 1)) - set(covered))
    if lo > hi or missing:
        raise InputError(f"panel.years includes years the contributions source does not cover "
                         f"(source covers {covered[0]}-{covered[-1]}; missing: {missing[:10]})", file=file,
                         row="panel.years", value=[int(lo), int(hi)])
    return int(lo), int(hi)


def _outcomes(keys: pd.DataFrame, state_year: pd.DataFrame, world: pd.DataFrame,
              years: tuple[int, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join yearly contributions onto the system state-years; report contributions of non-members."""
    sy = state_year[state_year["year"].between(*years)]
    merged = sy.merge(keys, on=["ccode", "year"], how="outer", indicator=True)
    nonmember = merged[merged["_merge"] == "left_only"].drop(columns="_merge").reset_index(drop=True)
    if len(nonmember):
        log.warning("contributions of %d state-years outside the COW state system (not in the panel):\n%s",
                    len(nonmember), nonmember.to_string(index=False))
    panel = merged[merged["_merge"] != "left_only"].copy()
    values = list(contrib.VALUES)
    absent = (panel["_merge"] == "right_only").to_numpy()
    for col in values:  # no row in the source = 0, for the value types the source reports at all
        if state_year[col].notna().any():
            panel.loc[absent, col] = 0.0
    panel = panel.drop(columns="_merge")
    panel["iso3"] = countries.ccode_to_iso3(panel["ccode"])
    panel["contributed"] = (panel["contrib_total"] > 0).astype("Int64").where(panel["contrib_total"].notna())
    panel["log_contrib"] = np.log1p(panel["contrib_total"])
    for col in ("troops", "police", "experts"):  # outcome transformations as named columns, never expressions
        panel[f"log_{col}"] = np.log1p(panel[col])
    panel["contrib_share"] = panel["contrib_total"] / panel["year"].map(world["world_total"])
    cols = ["ccode", "iso3", "year", *values, "contributed", "log_contrib", *LOG_TYPES, "contrib_share"]
    return panel[cols].reset_index(drop=True), nonmember


def _blank_years(panel: pd.DataFrame, gaps: list[int]) -> pd.DataFrame:
    """Contributions of the years the source covers badly (``drop_years``) are missing, not 0."""
    gap = panel["year"].isin(gaps)
    if gap.any():
        for col in [*contrib.VALUES, "log_contrib", *LOG_TYPES, "contrib_share"]:
            panel.loc[gap, col] = np.nan
        panel["contributed"] = panel["contributed"].mask(gap)
    return panel


def _check_world_totals(panel: pd.DataFrame, world: pd.DataFrame, nonmember: pd.DataFrame) -> None:
    """Panel total + non-members + excluded names must equal the source's yearly mean of monthly world totals."""
    got = panel.groupby("year")["contrib_total"].sum(min_count=0)
    extra = nonmember.groupby("year")["contrib_total"].sum() if len(nonmember) else pd.Series(dtype=float)
    w = world.loc[got.index]
    w = w.assign(nonmember_total=extra.reindex(got.index, fill_value=0.0).to_numpy())
    world.loc[got.index, "nonmember_total"] = w["nonmember_total"]
    has_na = panel.groupby("year")["contrib_total"].apply(lambda s: s.isna().any())
    total = got + w["nonmember_total"] + w["excluded_total"]
    bad = ~np.isclose(total, w["world_total"], rtol=1e-9, atol=1e-6) & ~has_na
    if bad.any():
        y = bad[bad].index[0]
        raise InputError(
            f"world total of year {y} in the panel ({got[y]:.4f}) + non-members ({w['nonmember_total'][y]:.4f}) "
            f"+ excluded names ({w['excluded_total'][y]:.4f}) != source yearly mean of monthly world totals "
            f"({w['world_total'][y]:.4f})", value=int(y))
    if has_na.any():
        log.warning("world-total check skipped for years with missing contributions: %s",
                    has_na[has_na].index.tolist())


def _add_covariates(panel: pd.DataFrame, files: dict[str, Path], options: dict[str, Any]) -> pd.DataFrame:
    wanted = options.get("covariates", list(COVARIATES))
    unknown = set(wanted) - set(COVARIATES)
    if unknown:
        raise InputError(f"unknown covariates {sorted(unknown)}; allowed: {list(COVARIATES)}")
    readers = {
        "gdppop": lambda: covariates.read_gdppop(files["gdppop"]),
        "democracy": lambda: covariates.read_democracy(files["democracy"]),
        "nmc": lambda: covariates.read_nmc(files["cow_nmc"]),
        "unga": lambda: covariates.read_unga(files["unga_idealpoints"], options.get("unga_column", "idealpointall")),
        "refugees": lambda: covariates.read_refugees(files["unhcr_population"]),
        "trade": lambda: covariates.trade_openness(covariates.read_trade(files["cow_trade"]),
                                                   covariates.read_wb_gdp(files["wb_gdp"])),
        "threat": lambda: covariates.read_terrthreat(files["terrthreat"]),
    }
    for name in COVARIATES:
        if name not in wanted:
            continue
        if name in readers:
            panel = panel.merge(readers[name](), on=["ccode", "year"], how="left", validate="one_to_one")
        elif name == "conflict":
            panel = _add_conflict(panel, files, int(options.get("contiguity_max_type", 1)))
        elif name == "p5":
            panel["p5"] = covariates.p5(panel)
        elif name == "rivalry":
            counts = covariates.rivalry_counts(panel, covariates.read_rivalries(files["tss_rivalries"]))
            panel = panel.join(counts)
        elif name == "status":
            panel = panel.join(covariates.power_status(panel, covariates.read_powers(files["maoz_powers"])))
    return panel


def _add_conflict(panel: pd.DataFrame, files: dict[str, Path], max_type: int) -> pd.DataFrame:
    xwalk = countries.read_gw_crosswalk(files["cw_gw_panel"])
    conflict = covariates.read_conflict(files["ucdp_acd"], xwalk)
    contiguity = covariates.read_contiguity(files["cow_contiguity"], max_type)
    panel["conflict_own"] = covariates.conflict_own(panel, conflict).astype("Int64")
    panel["conflict_neighbour"] = covariates.conflict_neighbour(panel, conflict, contiguity).astype("Int64")
    return panel


def _check_keys(panel: pd.DataFrame) -> None:
    if panel[["ccode", "year"]].isna().any().any() or panel.duplicated(["ccode", "year"]).any():
        dup = panel[panel.duplicated(["ccode", "year"], keep=False)]
        raise InputError("panel keys (ccode, year) missing or duplicated", value=dup[["ccode", "year"]].head().values)


def _codebook(panel: pd.DataFrame, source_label: str) -> pd.DataFrame:
    rows = []
    for col in panel.columns:
        label, unit, source, how = CODEBOOK[col]
        if source == _IPI:
            source = source_label
        rows.append((col, label, unit, source, how, int(panel[col].isna().sum())))
    return pd.DataFrame(rows, columns=["column", "label", "unit", "source", "transformation", "n_missing"])


def comparison_summary(comparison: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """Per year: the two world totals, their difference and ratio, and the states differing most (table - IPI)."""
    world = comparison[comparison["scope"] == "world"]
    states = comparison[comparison["scope"] == "state"]
    rows = []
    for r in world.itertuples():
        s = states[states["year"] == r.year]
        s = s.reindex(s["difference"].abs().sort_values(ascending=False, kind="stable").index).head(top)
        largest = "; ".join(f"{iso or c} {d:+,.0f}" for iso, c, d in zip(s["iso3"], s["ccode"], s["difference"],
                                                                         strict=True))
        ratios = states.loc[(states["year"] == r.year) & (states["ipi"] >= 100), "ratio"]
        rows.append({"year": int(r.year), "ipi": r.ipi, "table": r.table, "difference": r.difference,
                     "ratio": r.ratio, "state ratio range (IPI >= 100)":
                     f"{ratios.min():.2f}-{ratios.max():.2f}" if len(ratios) else "", "largest differences": largest})
    return pd.DataFrame(rows)
