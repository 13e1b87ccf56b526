"""Faults: a run killed mid-way and rerun ends with the outputs of an uninterrupted run; a changed source file or
model parameter reruns exactly the jobs that read it (Snakemake's plan, read from a dry run).

Runs a small demo (three cross-section or pooled models) in temporary copies of the project. The completed run is
made once per test process (:func:`completed_small_demo`) and cloned, metadata included, by the tests that change
something; tests/test_bad_inputs.py reuses it.
"""

from __future__ import annotations

import atexit
import collections
import functools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from test_workflow import SNAKEMAKE, copy_project, snapshot

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
SMALL_MODELS = ("ols_pooled", "sar_contiguity_2014", "sar_bloc_2014")
SMALL_CONFIG = "config/small.yaml"


def small_project(dest: Path, source: Path = REPO) -> Path:
    """A copy of the project (of ``source``) with ``config/small.yaml``: the demo, three models, no truth outputs."""
    workdir = copy_project(source, dest)
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    config["models"] = [m for m in config["models"] if m["id"] in SMALL_MODELS]
    config["outputs"] = {"tables": {"main": list(SMALL_MODELS)}, "map_year": 2014, "capitals": "capitals.csv"}
    (workdir / SMALL_CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def run(workdir: Path, *args: str, check: bool = True, config: str = SMALL_CONFIG) -> subprocess.CompletedProcess:
    """``snakemake [targets/options] --cores 2 --configfile config/small.yaml`` in ``workdir``."""
    cmd = [SNAKEMAKE, *args, "--cores", "2", "--configfile", config]
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


@functools.cache
def completed_small_demo() -> Path:
    """The small demo run to completion, once per test process (removed at exit); clone it, never modify it."""
    root = Path(tempfile.mkdtemp(prefix="interdep-small-demo-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    workdir = small_project(root / "project")
    run(workdir)
    return workdir


def clone(src: Path, dest: Path) -> Path:
    """Copy a project with its results and Snakemake metadata, modification times kept."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


def planned(workdir: Path, *args: str) -> tuple[collections.Counter, set[str]]:
    """The jobs a dry run would execute: count per rule, and the jobs' messages (which name channel and model)."""
    result = run(workdir, "--dry-run", *args)
    text = result.stdout + result.stderr
    table = re.search(r"Job stats:\njob\s+count\n[- ]+\n(.*?)\ntotal", text, re.S)
    counts = collections.Counter()
    if table:
        for line in table.group(1).splitlines():
            rule, count = line.split()
            counts[rule] = int(count)
    messages = set(re.findall(r"^Job \d+: (.+)$", text, re.M))
    return counts, messages


def test_complete_run_has_nothing_left_to_do():
    counts, _ = planned(completed_small_demo())
    assert not counts, counts


def test_killed_run_reruns_to_the_outputs_of_an_uninterrupted_run(tmp_path):
    reference = completed_small_demo()
    workdir = small_project(tmp_path / "killed", source=reference)  # the same code, even if the tree moved on
    results = workdir / "results" / "demo"
    proc = subprocess.Popen([SNAKEMAKE, "--cores", "1", "--configfile", SMALL_CONFIG], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not list((results / "logs").glob("model_*.log")):  # a model job has started
            assert proc.poll() is None, "snakemake ended before a model job started"
            assert time.monotonic() < deadline, "no model job started in 10 minutes"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: Snakemake and its job, like a power cut
        proc.wait()
    assert not (results / "report.html").exists()
    run(workdir, "--unlock")  # a killed Snakemake leaves its lock (Snakemake says so and names --unlock)
    run(workdir)  # the default profile sets rerun-incomplete
    assert snapshot(results) == snapshot(reference / "results" / "demo")
    counts, _ = planned(workdir)
    assert not counts, counts


def test_changed_source_reruns_exactly_the_jobs_that_read_it(tmp_path):
    workdir = clone(completed_small_demo(), tmp_path / "changed_source")
    bloc = workdir / "data" / "demo" / "bloc.csv"
    lines = bloc.read_text().splitlines(keepends=True)
    assert lines[1].endswith(",1\n")
    lines[1] = lines[1][:-2] + "2\n"  # one bloc link weighs 2 instead of 1
    bloc.write_text("".join(lines))
    counts, messages = planned(workdir)
    assert counts == {"verify_sources": 1, "weights": 1, "moran": 1, "coverage": 1, "fit_model": 1, "tables": 1,
                      "figures": 1, "provenance": 1, "report": 1, "all": 1}, counts
    assert "Building the bloc weight graphs, one per year" in messages
    assert "Fitting model sar_bloc_2014" in messages
    assert not any("contiguity" in m for m in messages), messages
    assert not any("panel" in m for m in messages), messages


def test_changed_model_parameter_reruns_exactly_that_model_and_what_reads_it(tmp_path):
    workdir = clone(completed_small_demo(), tmp_path / "changed_param")
    config_file = workdir / SMALL_CONFIG
    config = yaml.safe_load(config_file.read_text())
    model = next(m for m in config["models"] if m["id"] == "sar_contiguity_2014")
    model["regressors"] = ["log_gdppc", "log_pop"]
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    counts, messages = planned(workdir)
    # provenance records the whole config, so it reruns on any config change
    assert counts == {"coverage": 1, "fit_model": 1, "tables": 1, "figures": 1, "provenance": 1, "report": 1,
                      "all": 1}, counts
    assert "Fitting model sar_contiguity_2014" in messages
