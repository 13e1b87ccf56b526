"""README.md is a replication package: its generated tables are current and name real rules and scripts."""

from __future__ import annotations

import re

from interdep.outputs.readme import render_sections, update_readme
from interdep.outputs.report import figure_and_table_map


def test_generated_sections_are_current(repo):
    text = (repo / "README.md").read_text()
    assert update_readme(text, render_sections(repo / "data" / "sources.csv")) == text, (
        "README.md is stale: run `make readme`"
    )


def test_artefact_map_names_existing_rules_and_scripts(repo):
    rules = set(re.findall(r"^rule (\w+):", "\n".join(p.read_text() for p in (repo / "rules").glob("*.smk")), re.M))
    for row in figure_and_table_map().itertuples(index=False):
        for rule in row.rule.split(", "):
            assert rule in rules, f"{row.name}: rule {rule} not in rules/*.smk"
        for script in row.script.split(", "):
            assert (repo / script).is_file(), f"{row.name}: {script} missing"


def test_readme_first_screen_has_the_two_commands(repo):
    first_screen = (repo / "README.md").read_text().splitlines()[:25]
    assert any(line.startswith("make run") for line in first_screen)
    assert any(line.startswith("make test") for line in first_screen)
