"""The pipeline on a real one-node SLURM cluster on localhost, through profiles/slurm, equals the local run.

Starts the cluster with tests/slurm/start_local_slurm.sh (Debian packages munge, slurmctld, slurmd, slurm-client;
needs root; without slurmdbd accounting, the harder case for status polling), runs the demo pipeline and a small
Monte Carlo study with ``--workflow-profile profiles/slurm`` and again locally, and compares every table, figure
and model file byte for byte (fit.json without its timing). A cluster that was already running is used as it is
and left running; one this test started is stopped at the end.

Skips (with the reason) where a cluster cannot be started: not Linux, not root, no apt-get and no SLURM installed,
or INTERDEP_SKIP_SLURM=1. Under CI=true it never skips: the conditions not being met is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_montecarlo import copy_project, small_study_config

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SCRIPTS = Path(__file__).parent / "slurm"
# Fast polling for a test; MinJobAge of the test cluster (900 s) is far above 3 x 2 s.
FAST = ["--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2", "--jobs", "4",
        "--latency-wait", "10", "--slurm-keep-successful-logs"]
COMPARED = {".csv", ".md", ".tex", ".png", ".pdf"}


def unavailable_reason() -> str | None:
    if os.environ.get("INTERDEP_SKIP_SLURM") == "1":
        return "INTERDEP_SKIP_SLURM=1"
    if sys.platform != "linux":
        return f"a local SLURM cluster needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "starting a local SLURM cluster needs root (daemons, /etc/slurm)"
    if not shutil.which("slurmctld") and not (shutil.which("apt-get") and shutil.which("dpkg-query")):
        return "SLURM is not installed and this is no Debian-like machine (apt-get) to install it"
    return None


def cluster_running() -> bool:
    try:
        return subprocess.run(["scontrol", "ping"], capture_output=True, timeout=20).returncode == 0 and \
            subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def cluster():
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the SLURM test cannot run: {reason}")
        pytest.skip(f"SLURM test skipped: {reason}")
    was_running = cluster_running()
    t0 = time.perf_counter()
    if not was_running:
        env = {**os.environ, "SLURM_ACCOUNTING": os.environ.get("INTERDEP_SLURM_ACCOUNTING", "none")}
        start = subprocess.run(["bash", str(SCRIPTS / "start_local_slurm.sh")], capture_output=True, text=True,
                               timeout=900, env=env)
        assert start.returncode == 0, f"start_local_slurm.sh failed:\n{start.stdout[-3000:]}\n{start.stderr[-3000:]}"
    yield {"started": not was_running, "start_seconds": time.perf_counter() - t0}
    if not was_running:
        subprocess.run(["bash", str(SCRIPTS / "stop_local_slurm.sh")], capture_output=True, timeout=300)


def cancel_jobs_in(workdir: Path) -> None:
    """Cancel SLURM jobs left by a run in ``workdir`` (and only those)."""
    out = subprocess.run(["squeue", "-h", "-o", "%i %Z"], capture_output=True, text=True, timeout=30).stdout
    ids = [line.split()[0] for line in out.splitlines() if len(line.split()) == 2 and
           Path(line.split()[1]).resolve() == workdir.resolve()]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def run(workdir: Path, *args: str, timeout: int = 1200) -> float:
    """Run snakemake in its own session; on timeout kill the whole session (a plain SIGTERM can hang it)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([SNAKEMAKE, *args], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        cancel_jobs_in(workdir)
        raise AssertionError(f"snakemake {' '.join(args)} timed out after {timeout} s:\n{out[-5000:]}") from None
    if proc.returncode != 0:
        cancel_jobs_in(workdir)
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{out[-6000:]}")
    return time.perf_counter() - t0


def snapshot(results: Path) -> dict[str, bytes]:
    """Every table, figure and model file (fit.json without the measured seconds, the sampler's too), by path."""
    files = {}
    for p in sorted(results.rglob("*")):
        if not p.is_file() or "benchmarks" in p.parts or "logs" in p.parts:
            continue
        rel = str(p.relative_to(results))
        if p.suffix in COMPARED:
            files[rel] = p.read_bytes()
        elif p.name == "fit.json":
            fit = json.loads(p.read_text())
            fit.pop("seconds", None)
            (fit.get("mcmc") or {}).pop("seconds", None)  # the sampler's measured time
            files[rel] = json.dumps(fit, sort_keys=True).encode()
    return files


def assert_same(local: Path, slurm: Path) -> int:
    a, b = snapshot(local), snapshot(slurm)
    assert a, f"nothing written under {local}"
    assert sorted(a) == sorted(b), set(a) ^ set(b)
    differ = [f for f in a if a[f] != b[f]]
    assert not differ, f"SLURM results differ from the local run: {differ}"
    return len(a)


@pytest.fixture(scope="module")
def runs(repo, tmp_path_factory, cluster):
    """The demo and a small study, each run locally and on the cluster (in separate copies)."""
    local = copy_project(repo, tmp_path_factory.mktemp("local"))
    slurm = copy_project(repo, tmp_path_factory.mktemp("slurm"))
    study = {w: small_study_config(w, replications=4, chunk_size=2) for w in (local, slurm)}
    seconds = {
        "local_demo": run(local, "--cores", "2"),
        "local_study": run(local, "--cores", "2", "--configfile", str(study[local])),
        "slurm_demo": run(slurm, "--workflow-profile", "profiles/slurm", *FAST),
        "slurm_study": run(slurm, "--workflow-profile", "profiles/slurm", "--configfile", str(study[slurm]), *FAST),
    }
    report = {"cluster_start": round(cluster["start_seconds"], 1), **{k: round(v, 1) for k, v in seconds.items()}}
    print(f"\nSLURM test timings (s): {report}")
    return local, slurm


def test_demo_on_slurm_equals_local_run(runs):
    local, slurm = runs
    n = assert_same(local / "results" / "demo", slurm / "results" / "demo")
    assert n > 40
    assert (slurm / "results" / "demo" / "report.html").is_file()


def test_study_on_slurm_equals_local_run(runs):
    local, slurm = runs
    n = assert_same(local / "results" / "montecarlo", slurm / "results" / "montecarlo")
    assert n >= 4 + 3 * 2  # summary csv/md, figure png/pdf and at least the chunks of three designs
    assert (slurm / "results" / "montecarlo" / "montecarlo_replications.csv").read_bytes() == \
        (local / "results" / "montecarlo" / "montecarlo_replications.csv").read_bytes()


def test_small_jobs_ran_grouped(runs):
    """Small jobs ran as group jobs: the chunks in one SLURM job, the demo's 16 jobs in a handful."""
    _, slurm = runs
    logs = slurm / ".snakemake" / "slurm_logs"  # one folder per group or rule, one log per SLURM job
    jobs = {folder.name: len(list(folder.glob("*.log"))) for folder in logs.iterdir()}
    chunk_jobs = sum(n for name, n in jobs.items() if "montecarlo_chunk" in name)
    assert chunk_jobs == 1 and not any(name.startswith("rule_montecarlo_chunk") for name in jobs), jobs
    assert sum(jobs.values()) <= 6, jobs
