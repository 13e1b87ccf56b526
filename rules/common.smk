# Helpers shared by the rules: names derived from the (validated) config. No computation here.

from interdep.config import check_config, raw_dir_path, resolve_source
from interdep.panel.build import dropped_summary
from interdep.workflow import parse_time_checks
from interdep.panel.coverage import column_sources, declared_gaps
from interdep.panel.sources import verify_sources
from interdep.workflow_inputs import channel_source_file, panel_source_files

with parse_time_checks():
    check_config(config, source="config")

RESULTS = f"results/{config['dataset']}"
RAW_DIR = str(raw_dir_path(config["raw_dir"]))
SEED = config.get("seed", 20260101)
OUTPUTS = config.get("outputs") or {}
CHANNELS = list(config["channels"])
MODELS = {m["id"]: m for m in config["models"]}
# contributions the panel cannot place are listed here when the config drops them (panel.nonmember: drop)
DROPPED_FILE = f"{RESULTS}/dropped.csv" if config["panel"].get("nonmember") == "drop" else None
MODEL_LABELS = {m: spec.get("label", m) for m, spec in MODELS.items()}  # names of the models in tables and figures


wildcard_constraints:
    channel="|".join(CHANNELS),
    model_id="|".join(MODELS),


def model_weight_files(wildcards):
    return [f"{RESULTS}/weights/{c}.csv" for c in MODELS[wildcards.model_id].get("weights", [])]


def model_files(name):
    return [f"{RESULTS}/models/{m}/{name}" for m in MODELS]


TABLES = OUTPUTS.get("tables") or {"main": list(MODELS)}
# panel.combine: the two contribution sources compared over the years both cover (written by the panel rule)
COMPARISON_FILES = (
    {f"comparison_{ext}": f"{RESULTS}/tables/sources_comparison.{ext}" for ext in ("csv", "md")}
    if config["panel"].get("combine") else {}
)
# paths from the config stay under raw_dir unless given as absolute paths (interdep.config.resolve_source)
TRUTH_FILE = str(resolve_source(RAW_DIR, OUTPUTS["truth"], key="outputs.truth")) if OUTPUTS.get("truth") else None
TABLE_FILES = (
    [f"{RESULTS}/tables/regression_{name}.{ext}" for name in TABLES for ext in ("md", "tex", "html", "csv")]
    + [f"{RESULTS}/tables/{name}.{ext}" for name in ("impacts", "diagnostics", "descriptives", "weights") for ext in ("md", "tex", "csv")]
    + ([f"{RESULTS}/tables/truth.{ext}" for ext in ("md", "tex", "csv")] if TRUTH_FILE else [])
)
CAPITALS_FILE = str(
    resolve_source(RAW_DIR, OUTPUTS.get("capitals", "capitals/cow_capitals_peacesciencer.csv"), key="outputs.capitals")
)
FIGURES = (
    ["map_contributions", "map_change", "moran_by_year"]
    + [f"{kind}_{channel}" for kind in ("moran_scatter", "links") for channel in CHANNELS]
    + ["coefficients", "impacts", "profile_loglik"]
    + (["truth"] if TRUTH_FILE else [])
)
FIGURE_FILES = [f"{RESULTS}/figures/{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")]
# Which channel? (outputs.channel_choice): its own table and figure, written by rule channel_choice
CHANNEL_CHOICE = OUTPUTS.get("channel_choice") or {}
CHANNEL_CHOICE_FILES = (
    [f"{RESULTS}/tables/{name}.{ext}" for name in ("channel_choice", "channel_bma") for ext in ("md", "tex", "csv")]
    + [f"{RESULTS}/figures/channel_choice.{ext}" for ext in ("png", "pdf")]
    if CHANNEL_CHOICE
    else []
)
CONV_MODELS = [m for m, spec in MODELS.items() if spec["estimator"] in ("sar_conv", "sdm_conv")]


SOURCES_TABLE = "data/sources.csv"
PANEL_SOURCES = panel_source_files(config["panel"], RAW_DIR)
CHANNEL_SOURCES = {name: channel_source_file(name, spec, RAW_DIR) for name, spec in config["channels"].items()}
SOURCE_FILES = sorted(
    {*PANEL_SOURCES.values(), *CHANNEL_SOURCES.values(), CAPITALS_FILE, *([TRUTH_FILE] if TRUTH_FILE else [])}
)
# Before the job graph is built: a missing source gets one message saying what to get and where.
verify_sources(RAW_DIR, SOURCES_TABLE, files=SOURCE_FILES, presence_only=True)
# Checksums are checked per consumer (the panel, each channel, the rest), so that a changed source reruns exactly
# the jobs that read it, not every job downstream of one check of all sources.
VERIFY_GROUPS = {
    "panel": sorted(set(PANEL_SOURCES.values())),
    **{f"channel_{name}": [path] for name, path in CHANNEL_SOURCES.items()},
    "outputs": sorted({CAPITALS_FILE, *([TRUTH_FILE] if TRUTH_FILE else [])}),
}


wildcard_constraints:
    group="|".join(VERIFY_GROUPS),
