"""The Monte Carlo engine (src/interdep/montecarlo.py) and the study as a workflow (rules/montecarlo.smk)."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from interdep.errors import InputError
from interdep.montecarlo import (
    chunk_replications,
    design_graphs,
    n_chunks,
    parse_study,
    replication_seed,
    run_chunk,
    simulate,
    summarise,
    true_value,
)

ESTIMATORS = {"sar_ml_twoway": {"estimator": "sar_ml", "effects": "twoway"},
              "ols_twoway": {"estimator": "ols", "effects": "twoway"},
              "sar_gmm": {"estimator": "sar_gmm"}}


def study(**design):
    base = {"id": "d", "n": 30, "t": 3, "effects": "twoway", "channels": {"geo": {"rho": 0.4}},
            "estimators": ["sar_ml_twoway"]}
    return {"estimators": ESTIMATORS, "designs": [{**base, **design}]}


def one_design(**design):
    designs, estimators = parse_study(study(**design))
    return designs[0], estimators


def test_seeds_depend_on_seed_design_and_replication_only():
    a = replication_seed(1, "d", 3).generate_state(4)
    assert np.array_equal(a, replication_seed(1, "d", 3).generate_state(4))
    for other in (replication_seed(2, "d", 3), replication_seed(1, "e", 3), replication_seed(1, "d", 4)):
        assert not np.array_equal(a, other.generate_state(4))


def test_chunks_cover_the_replications_once():
    assert n_chunks(10, 4) == 3
    reps = [r for c in range(3) for r in chunk_replications(c, 10, 4)]
    assert reps == list(range(10))
    with pytest.raises(InputError):
        chunk_replications(3, 10, 4)


def test_geography_fixed_or_time_varying_and_the_same_in_every_call():
    design, _ = one_design(channels={"geo": {"rho": 0.3, "w": "knn", "k": 3},
                                     "bloc": {"rho": 0.3, "w": "random", "k": 4, "varying": True}})
    g1, g2 = design_graphs(design, 7), design_graphs(design, 7)
    for ch in ("geo", "bloc"):
        for year in design.years:
            assert (g1[ch][year].sparse != g2[ch][year].sparse).nnz == 0
    geo = [g1["geo"][y].sparse for y in design.years]
    bloc = [g1["bloc"][y].sparse for y in design.years]
    assert all((w != geo[0]).nnz == 0 for w in geo[1:])
    assert any((w != bloc[0]).nnz > 0 for w in bloc[1:])
    rows = np.asarray(geo[0].sum(axis=1)).ravel()
    np.testing.assert_allclose(rows, 1.0)  # row-standardised, every kNN state has neighbours


def test_simulation_is_reproducible_and_solves_the_spatial_process():
    design, _ = one_design(effects="none", t=2, channels={"geo": {"rho": 0.5, "w": "knn", "k": 4}})
    graphs = design_graphs(design, 1)
    a, b = simulate(design, graphs, 1, 5), simulate(design, graphs, 1, 5)
    pd.testing.assert_frame_equal(a, b)
    assert not simulate(design, graphs, 1, 6)["y"].equals(a["y"])
    assert list(a.columns) == ["ccode", "year", "y", "x1", "x2"] and len(a) == design.n * design.t
    # y - rho W y - X beta - intercept are the errors: mean about 0, variance about sigma^2
    resid = []
    for year, g in a.groupby("year"):
        W = graphs["geo"][year].sparse.toarray()
        y = g["y"].to_numpy()
        resid.append(y - 0.5 * W @ y - 1.0 - g[["x1", "x2"]].to_numpy() @ np.array([1.0, -0.5]))
    resid = np.concatenate(resid)
    assert abs(resid.mean()) < 0.4 and 0.5 < resid.var() < 1.6


def test_results_do_not_depend_on_the_chunking():
    design, estimators = one_design(estimators=["sar_ml_twoway", "ols_twoway"])
    whole = run_chunk(design, estimators, range(4), seed=3)
    parts = pd.concat([run_chunk(design, estimators, range(0, 1), seed=3),
                       run_chunk(design, estimators, range(1, 4), seed=3)], ignore_index=True)
    pd.testing.assert_frame_equal(whole, parts)
    assert set(whole["term"]) == {"x1", "x2", "rho_geo"}
    assert (whole.loc[whole["term"] == "rho_geo", "truth"] == 0.4).all()


def test_true_values():
    design, _ = one_design(intercept=2.0, beta=[0.5, 1.5, -1.0])
    assert true_value(design, "const") == 2.0
    assert true_value(design, "x3") == -1.0
    assert true_value(design, "rho_geo") == 0.4
    assert true_value(design, "W_geo_x1") == 0.0
    assert math.isnan(true_value(design, "sigma2"))


def test_true_values_of_the_convex_combination_terms():
    design, _ = one_design(channels={"a": {"rho": 0.3}, "b": {"rho": 0.2}}, beta=[1.0, -0.5],
                           theta=[0.3, -0.06, 0.2, -0.04])  # theta_c = gamma_c (0.5, -0.1)
    assert true_value(design, "rho") == pytest.approx(0.5)
    assert true_value(design, "gamma_a") == pytest.approx(0.6)
    assert true_value(design, "W_x1") == pytest.approx(0.5) and true_value(design, "W_x2") == pytest.approx(-0.1)
    assert true_value(design, "W_a_x1") == 0.3
    other, _ = one_design(channels={"a": {"rho": 0.3}, "b": {"rho": 0.2}}, beta=[1.0, -0.5],
                          theta=[0.2, -0.06, 0.3, -0.04])  # not a convex SDM: W_x1 has no true value
    assert math.isnan(true_value(other, "W_x1"))


def test_convex_estimators_run_in_a_study():
    """sar_conv / sdm_conv through run_chunk (what the Monte Carlo workflow calls), 2 replications, short chains:
    every term has its true value and lies within 4 posterior sd of it."""
    mcmc = {"draws": 400, "burn_in": 300, "chains": 2, "seed": 1}
    designs, estimators = parse_study({
        "estimators": {"sar_conv": {"estimator": "sar_conv", "effects": "twoway", "mcmc": mcmc},
                       "sdm_conv": {"estimator": "sdm_conv", "effects": "twoway", "mcmc": mcmc}},
        "designs": [{"id": "sar", "n": 60, "t": 5, "effects": "twoway", "beta": [1.0, -0.5],
                     "channels": {"a": {"rho": 0.3, "varying": True}, "b": {"rho": 0.2, "varying": True}},
                     "estimators": ["sar_conv"]},
                    {"id": "sdm", "n": 60, "t": 5, "effects": "twoway", "beta": [1.0, -0.5],
                     "channels": {"a": {"rho": 0.3, "varying": True}, "b": {"rho": 0.2, "varying": True}},
                     "theta": [0.3, -0.06, 0.2, -0.04], "estimators": ["sdm_conv"]}]})
    reps = pd.concat([run_chunk(d, estimators, range(2), seed=20260101) for d in designs], ignore_index=True)
    assert (reps["term"] != "<failed>").all()
    assert reps["truth"].notna().all(), reps[reps["truth"].isna()]
    assert set(reps.loc[reps["estimator"] == "sdm_conv", "term"]) == {"x1", "x2", "W_x1", "W_x2", "rho", "gamma_a",
                                                                      "gamma_b"}
    z = (reps["estimate"] - reps["truth"]).abs() / reps["std_error"]
    assert (z < 4).all(), reps.assign(z=z)[z >= 4]


def test_summary_statistics_by_hand():
    reps = pd.DataFrame({
        "design": "d", "estimator": "e", "replication": [0, 1, 2, 3], "term": "rho_geo", "truth": 0.5,
        "estimate": [0.4, 0.6, 0.5, 0.7], "std_error": 0.1, "conf_low": [0.3, 0.55, 0.4, 0.6],
        "conf_high": [0.5, 0.65, 0.6, 0.8], "converged": True, "error": "",
    })
    failed = pd.DataFrame({"design": ["d"], "estimator": ["e"], "replication": [4], "term": ["<failed>"],
                           "converged": [False], "error": ["singular"]})
    s = summarise(pd.concat([reps, failed], ignore_index=True)).iloc[0]
    assert s["replications"] == 4 and s["failed"] == 1
    assert s["bias"] == pytest.approx(0.05)
    assert s["rmse"] == pytest.approx(math.sqrt((0.01 + 0.01 + 0 + 0.04) / 4))
    assert s["coverage"] == pytest.approx(0.5)  # [0.55, 0.65] and [0.6, 0.8] miss 0.5
    assert s["mean_se"] == pytest.approx(0.1)
    assert s["sd"] == pytest.approx(np.std([0.4, 0.6, 0.5, 0.7], ddof=1))


@pytest.mark.parametrize(("change", "message"), [
    ({"estimators": ["nope"]}, "unknown estimator"),
    ({"channels": {"geo": {"rho": 0.6}, "bloc": {"rho": 0.5}}}, "sum of |rho|"),
    ({"channels": {"geo": {"rho": 0.4, "k": 30}}}, "k must be"),
])
def test_bad_studies_are_rejected_with_the_key(change, message):
    with pytest.raises(InputError, match=message):
        parse_study(study(**change))
    bad = study()
    bad["designs"].append(dict(bad["designs"][0]))
    with pytest.raises(InputError, match="used twice"):
        parse_study(bad)


def test_estimators_recover_the_truth_sar_ml_twoway():
    """Validation at (small) scale: SAR ML with two-way effects, 30 replications, N = 60, T = 5."""
    design, estimators = one_design(n=60, t=5, channels={"geo": {"rho": 0.4, "w": "knn", "k": 4}})
    summary = summarise(run_chunk(design, estimators, range(30), seed=20260101)).set_index("term")
    assert (summary["failed"] == 0).all()
    for term in ("x1", "x2", "rho_geo"):
        s = summary.loc[term]
        assert abs(s["bias"]) < 3 * s["bias_mcse"] + 0.02, (term, s["bias"], s["bias_mcse"])
        assert s["coverage"] >= 0.8, (term, s["coverage"])
        assert 0.6 < s["mean_se"] / s["sd"] < 1.6, (term, s["mean_se"], s["sd"])


# ------------------------------------------------------------------------------------------ the workflow
PROJECT_PARTS = ["Snakefile", "rules", "scripts", "config", "profiles", "envs", "data/demo", "data/sources.csv"]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def small_study_config(dest: Path, replications: int = 4, chunk_size: int = 2, designs: int | None = None) -> Path:
    """config/montecarlo.yaml with fewer replications (and optionally only the first designs)."""
    cfg = yaml.safe_load((dest / "config" / "montecarlo.yaml").read_text())
    cfg["montecarlo"].update(replications=replications, chunk_size=chunk_size)
    if designs is not None:
        cfg["montecarlo"]["designs"] = cfg["montecarlo"]["designs"][:designs]
    path = dest / "config" / "montecarlo_small.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def copy_project(repo: Path, dest: Path) -> Path:
    for part in PROJECT_PARTS:
        src, dst = repo / part, dest / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    return dest


@pytest.mark.workflow
def test_study_workflow_runs_and_equals_a_direct_run(repo, tmp_path):
    work = copy_project(repo, tmp_path)
    config = small_study_config(work, replications=3, chunk_size=2, designs=1)
    result = subprocess.run([SNAKEMAKE, "--cores", "2", "--configfile", str(config)], cwd=work,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    out = work / "results" / "montecarlo"
    for f in ("tables/montecarlo_summary.csv", "tables/montecarlo_summary.md", "figures/montecarlo.png",
              "figures/montecarlo.pdf", "chunks/n40_t5_knn_twoway/chunk_0000.csv",
              "chunks/n40_t5_knn_twoway/chunk_0001.csv"):
        assert (out / f).is_file(), f
    cfg = yaml.safe_load(config.read_text())
    designs, estimators = parse_study(cfg["montecarlo"])
    direct = run_chunk(designs[0], estimators, range(3), seed=cfg["seed"])
    from_workflow = pd.read_csv(out / "montecarlo_replications.csv", keep_default_na=False, na_values=[""])
    from_workflow["error"] = from_workflow["error"].fillna("")
    pd.testing.assert_frame_equal(from_workflow, direct, check_exact=True, check_dtype=False)
    summary = pd.read_csv(out / "tables" / "montecarlo_summary.csv")
    assert {"bias", "rmse", "coverage"} <= set(summary.columns) and len(summary) == 5
