"""The generated parts of README.md: the map of every table and figure to its rule, script, output and config
keys, and the data availability table from data/sources.csv. ``python -m interdep.outputs.readme`` rewrites
them between their markers; a test fails when README.md is stale."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from interdep.io import read_table
from interdep.outputs.report import figure_and_table_map

SECTIONS = ("artefact-map", "data-sources")


def artefact_map_markdown() -> str:
    rows = figure_and_table_map()
    lines = ["| kind | name | rule(s) | script(s) | output | config keys |", "|---|---|---|---|---|---|"]
    for r in rows.itertuples(index=False):
        lines.append(f"| {r.kind} | `{r.name}` | {r.rule} | {r.script} | `{r.output}` | {r[5]} |")
    return "\n".join(lines)


def data_sources_markdown(sources_csv: str | Path) -> str:
    table = read_table(sources_csv, dtype=str)
    lines = ["| key | expected file under `raw_dir` | citation | licence | where to get it | sha256 |",
             "|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        lines.append(f"| `{r.key}` | `{r.path}` | {r.citation} | {r.licence} | {r.url} | `{r.sha256[:16]}…` |")
    return "\n".join(lines)


def render_sections(sources_csv: str | Path) -> dict[str, str]:
    return {"artefact-map": artefact_map_markdown(), "data-sources": data_sources_markdown(sources_csv)}


def update_readme(text: str, sections: dict[str, str]) -> str:
    """Replace each ``<!-- begin:NAME -->`` ... ``<!-- end:NAME -->`` block with its generated content."""
    for name, body in sections.items():
        pattern = re.compile(rf"(<!-- begin:{name} -->\n).*?(<!-- end:{name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"README.md has no markers for {name}")
        text = pattern.sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(2), text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--sources", default="data/sources.csv")
    args = parser.parse_args()
    path = Path(args.readme)
    path.write_text(update_readme(path.read_text(), render_sections(args.sources)))


if __name__ == "__main__":
    main()
