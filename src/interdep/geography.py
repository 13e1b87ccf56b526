"""Country polygons for maps and the demo: Natural Earth 1:110m (public domain), the copy that ships inside the
``pyogrio`` wheel, so no network is needed. Present-day borders; maps of earlier years show today's outlines."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

# Natural Earth 1:110m codes France and Norway as "-99"
ISO3_FIXES = {"France": "FRA", "Norway": "NOR"}
ATTRIBUTION = "Made with Natural Earth (public domain), 1:110m countries, as shipped in pyogrio"


def natural_earth_path() -> Path:
    """Path of the Natural Earth 1:110m countries shapefile inside the installed pyogrio."""
    path = Path(pyogrio.__file__).parent / "tests" / "fixtures" / "naturalearth_lowres" / "naturalearth_lowres.shp"
    if not path.exists():
        raise FileNotFoundError(f"Natural Earth 1:110m not found in the installed pyogrio: {path}")
    return path


def natural_earth_countries() -> gpd.GeoDataFrame:
    """Countries with columns name, continent, iso3, pop_est, gdp_md_est, geometry (EPSG:4326)."""
    world = gpd.read_file(natural_earth_path())
    world["iso3"] = world["name"].map(ISO3_FIXES).fillna(world["iso_a3"])
    return world[["name", "continent", "iso3", "pop_est", "gdp_md_est", "geometry"]]
