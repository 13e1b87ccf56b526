"""The environment files stay in step: envs/interdep.yaml pins exactly the versions of requirements.lock."""

from __future__ import annotations

import re

import yaml


def test_conda_env_pins_match_the_lock(repo):
    lock = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (repo / "requirements.lock").read_text(), re.M))
    lock = {k.lower(): v for k, v in lock.items()}
    env = yaml.safe_load((repo / "envs" / "interdep.yaml").read_text())
    pinned = [d for d in env["dependencies"] if isinstance(d, str) and "=" in d and not d.startswith("python=")]
    assert pinned, "no pinned packages in envs/interdep.yaml"
    for dep in pinned:
        name, version = dep.split("=", 1)
        assert lock.get(name.lower()) == version, f"{name}: env {version}, lock {lock.get(name.lower())}"
    assert "python=3.11" in env["dependencies"]


def test_every_direct_dependency_is_locked(repo):
    lock = (repo / "requirements.lock").read_text().lower()
    for line in (repo / "requirements.in").read_text().splitlines():
        name = line.split("#")[0].strip().lower()
        if name:
            assert re.search(rf"^{re.escape(name)}==", lock, re.M), f"{name} not pinned in requirements.lock"
