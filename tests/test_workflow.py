"""The whole workflow on the embedded demo, run by Snakemake in a temporary copy of the project.

Checks the contract of DESIGN.md (every output file), the truth of the simulated demo, a byte-identical forced
rerun, and that a config typo stops the run before anything is written.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.workflow

PROJECT_PARTS = ["Snakefile", "rules", "scripts", "config", "profiles", "envs", "data/demo", "data/sources.csv"]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def copy_project(repo: Path, dest: Path) -> Path:
    for part in PROJECT_PARTS:
        src, dst = repo / part, dest / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([SNAKEMAKE, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True,
                            timeout=1500)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def snapshot(results: Path) -> dict[str, bytes]:
    keep = {".csv", ".md", ".tex", ".html", ".png", ".pdf"}
    return {str(p.relative_to(results)): p.read_bytes() for p in sorted(results.rglob("*"))
            if p.suffix in keep and "benchmarks" not in p.parts and p.name != "report.html"}


@pytest.fixture(scope="module")
def demo_run(repo, tmp_path_factory):
    workdir = copy_project(repo, tmp_path_factory.mktemp("demo"))
    snakemake(workdir)
    return workdir


def test_every_contract_file_is_written(demo_run):
    results = demo_run / "results" / "demo"
    config = __import__("yaml").safe_load((demo_run / "config" / "config.yaml").read_text())
    expected = ["panel.csv", "codebook.md", "report.html", "provenance.json"]
    for channel in config["channels"]:
        expected += [f"weights/{channel}.csv", f"weights/{channel}_summary.csv"]
    for model in config["models"]:
        expected += [f"models/{model['id']}/{f}"
                     for f in ("coefficients.csv", "fit.json", "impacts.csv", "sample.csv", "draws.parquet")]
    expected += ["tables/regression_main.md", "tables/regression_main.tex", "figures/map_contributions.png",
                 "figures/moran_scatter_contiguity.png", "figures/links_bloc.png", "figures/truth.png"]
    missing = [f for f in expected if not (results / f).is_file()]
    assert not missing, missing
    coefficients = pd.read_csv(results / "models" / "sar_contiguity_unit" / "coefficients.csv")
    assert list(coefficients.columns) == ["term", "estimate", "std_error", "statistic", "p_value", "conf_low",
                                          "conf_high"]
    fit = json.loads((results / "models" / "sar_two_channel_twoway" / "fit.json").read_text())
    for key in ("model_id", "estimator", "weights", "outcome", "regressors", "years", "effects", "n_obs", "n_units",
                "n_periods", "log_likelihood", "aic", "sigma2", "converged", "rho", "seconds"):
        assert key in fit, key
    edges = pd.read_csv(results / "weights" / "contiguity.csv")
    assert list(edges.columns) == ["year", "ccode", "neighbor", "weight"]
    assert not (edges["ccode"] == edges["neighbor"]).any()
    provenance = json.loads((results / "provenance.json").read_text())
    assert any(k.endswith("panel.csv") for k in provenance["inputs"]) and provenance["packages"]["spreg"]


def test_every_table_and_figure_is_in_the_readme_map(demo_run):
    from interdep.outputs.report import figure_and_table_map

    patterns = []
    for out in figure_and_table_map()["output"]:
        stem, extensions = out.replace("results/<dataset>", "results/demo").rsplit(".", 1)
        patterns.append(re.compile(re.sub(r"<\w+>", r"\\w+", re.escape(stem)) + rf"\.({extensions})"))
    files = [p.relative_to(demo_run).as_posix() for p in (demo_run / "results" / "demo").glob("*/*.*")
             if p.parent.name in ("tables", "figures")]
    assert files
    unmapped = [f for f in files if not any(pattern.fullmatch(f) for pattern in patterns)]
    assert not unmapped, unmapped


def test_true_rho_of_each_channel_lies_in_its_interval(demo_run):
    results = demo_run / "results" / "demo"
    truth = json.loads((demo_run / "data" / "demo" / "truth.json").read_text())
    coefficients = pd.read_csv(results / "models" / "sar_two_channel_twoway" / "coefficients.csv").set_index("term")
    fit = json.loads((results / "models" / "sar_two_channel_twoway" / "fit.json").read_text())
    assert fit["converged"] is True
    for term in ("rho_contiguity", "rho_bloc"):
        row = coefficients.loc[term]
        assert row["conf_low"] <= truth[term] <= row["conf_high"], (term, row.to_dict(), truth[term])


def test_report_shows_map_moran_and_truth(demo_run):
    page = (demo_run / "results" / "demo" / "report.html").read_text()
    assert "simulated" in page
    assert page.count("data:image/png;base64,") >= 5
    assert 'id="fig-map_contributions"' in page and 'id="fig-moran_scatter_contiguity"' in page
    assert "Estimates against the truth" in page
    assert "http://" not in page and "https://" not in page  # self-contained: nothing to fetch


def test_report_renders_cleanly_in_a_browser(demo_run, chromium):
    """Every figure loads and shows something, and nothing makes the page wider than a laptop window."""
    from interdep.outputs.browser import inspect_page

    found = inspect_page(demo_run / "results" / "demo" / "report.html", chromium)
    assert found["images"] >= 10
    assert found["broken"] == [] and found["blank"] == [], found
    assert found["overflow"] <= 0 and found["clipped"] == [], found


def test_forced_rerun_is_byte_identical(demo_run):
    results = demo_run / "results" / "demo"
    before = snapshot(results)
    snakemake(demo_run, "--forceall")
    after = snapshot(results)
    assert before.keys() == after.keys()
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, changed


def test_config_typo_stops_before_any_output(repo, tmp_path):
    workdir = copy_project(repo, tmp_path)
    config = (workdir / "config" / "config.yaml").read_text().replace("regressors:", "regresors:", 1)
    (workdir / "config" / "bad.yaml").write_text(config)
    result = snakemake(workdir, "--configfile", "config/bad.yaml", check=False)
    assert result.returncode != 0
    assert "regresors" in result.stdout + result.stderr
    assert not (workdir / "results").exists()
