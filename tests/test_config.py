"""The config: the JSON schema rejects unknown keys and wrong types; cross-references are checked."""

from __future__ import annotations

import copy

import jsonschema
import pytest
import yaml

from interdep.config import check_config, check_schema, load_config_file, resolve_source
from interdep.errors import InputError


@pytest.fixture(scope="module")
def schema(repo):
    return yaml.safe_load((repo / "config" / "schema.yaml").read_text())


@pytest.fixture(scope="module", params=["config.yaml", "ipi.yaml", "un.yaml", "ipi_un.yaml"])
def config(repo, request):
    return yaml.safe_load((repo / "config" / request.param).read_text())


def test_shipped_configs_are_valid(config, schema):
    jsonschema.validate(config, schema)
    check_config(config)


@pytest.mark.parametrize("name", ["config.yaml", "ipi.yaml", "un.yaml", "ipi_un.yaml", "montecarlo.yaml",
                                  "montecarlo_panel_se.yaml", "montecarlo_robust_se.yaml",
                                  "montecarlo_random.yaml"])
def test_shipped_config_files_pass_the_file_and_schema_checks(repo, name):
    """What the Snakefile and ``interdep`` run first: plain YAML data, then one-line schema errors."""
    config = load_config_file(repo / "config" / name)
    assert config == yaml.safe_load((repo / "config" / name).read_text())
    check_schema(config, repo / "config" / "schema.yaml")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda c: c.update(modles=[]), "modles"),
        (lambda c: c["models"][0].update(regresors=["x"]), "regresors"),
        (lambda c: c["models"][0].update(estimator="sar_mle"), "sar_mle"),
        (lambda c: c["models"][0].update(years="1995"), "1995"),
        (lambda c: next(iter(c["channels"].values())).update(transform="rows"), "rows"),
    ],
)
def test_schema_names_the_bad_key_or_value(config, schema, edit, expected):
    bad = copy.deepcopy(config)
    edit(bad)
    with pytest.raises(jsonschema.ValidationError, match=expected):
        jsonschema.validate(bad, schema)


def test_unknown_channel_in_a_model_is_named(config):
    bad = copy.deepcopy(config)
    bad["models"][0]["weights"] = ["trade"]
    with pytest.raises(InputError, match=r"models\[0\]\.weights.*'trade'"):
        check_config(bad)


def test_duplicate_model_id(config):
    bad = copy.deepcopy(config)
    bad["models"].append(copy.deepcopy(bad["models"][0]))
    with pytest.raises(InputError, match="model id used twice"):
        check_config(bad)


def test_table_naming_unknown_model(config):
    bad = copy.deepcopy(config)
    bad.setdefault("outputs", {})["tables"] = {"main": ["nope"]}
    with pytest.raises(InputError, match="nope"):
        check_config(bad)


def test_relative_paths_cannot_leave_raw_dir(tmp_path):
    assert resolve_source(tmp_path, "a/b.csv") == tmp_path / "a" / "b.csv"
    assert str(resolve_source(tmp_path, "/etc/hosts")) == "/etc/hosts"
    with pytest.raises(InputError, match="leaves raw_dir"):
        resolve_source(tmp_path, "../../etc/passwd")


def test_model_schema_matches_the_estimation_engine(schema):
    from interdep.models.fit import ESTIMATORS, SPEC_KEYS

    model = schema["$defs"]["model"]
    assert set(model["properties"]) == set(SPEC_KEYS)
    assert set(model["properties"]["estimator"]["enum"]) == set(ESTIMATORS)


def test_channel_schema_matches_the_channel_builder(schema):
    from interdep.weights.channels import COMMON, DEFAULTS

    keys = set(schema["$defs"]["channel"]["properties"])
    assert keys == {"type", "file", "description", *COMMON, *(k for d in DEFAULTS.values() for k in d)}
    assert set(schema["$defs"]["channel"]["properties"]["type"]["enum"]) == set(DEFAULTS)
