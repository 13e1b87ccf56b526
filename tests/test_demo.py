"""The embedded demo: regenerating it gives the committed files byte for byte, and it is what it claims."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from interdep.panel.demo import YEARS, build_demo


def test_regeneration_is_byte_identical(repo, tmp_path):
    paths = build_demo(tmp_path)
    for path in paths.values():
        committed = repo / "data" / "demo" / path.name
        assert committed.read_bytes() == path.read_bytes(), f"data/demo/{path.name} differs from a regeneration"
    assert sorted(p.name for p in (repo / "data" / "demo").iterdir() if p.suffix != ".md") == sorted(
        p.name for p in paths.values()
    )


def test_demo_panel_shape_and_truth(repo):
    panel = pd.read_csv(repo / "data" / "demo" / "panel.csv", keep_default_na=False, na_values=[""])
    truth = json.loads((repo / "data" / "demo" / "truth.json").read_text())
    assert 150 <= panel["ccode"].nunique() <= 200
    assert len(YEARS) >= 20 and panel.groupby("ccode").size().eq(len(YEARS)).all()
    assert not panel.duplicated(["ccode", "year"]).any()
    assert "NAM" in set(panel["iso3"])  # Namibia's codes survive CSV round trips
    share_zero = (panel["contrib_total"] == 0).mean()
    assert 0.2 < share_zero < 0.6 and np.isclose(share_zero, truth["share_zero"], atol=1e-4)
    assert {"rho_contiguity", "rho_bloc"} <= set(truth)


def test_demo_contiguity_is_symmetric_and_real(repo):
    dyads = pd.read_csv(repo / "data" / "demo" / "contiguity.csv")
    pairs = set(zip(dyads["ccode1"], dyads["ccode2"], strict=True))
    assert all((b, a) in pairs for a, b in pairs)
    assert (2, 20) in pairs and (2, 70) in pairs  # USA-Canada, USA-Mexico
    assert not any(395 in p for p in pairs)  # Iceland has no land neighbour
