"""Config loading: overlays, ${ENV} references, and one-line errors that say what to fix."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from seglake.config import load_config
from seglake.config.schema import SparkConfig
from seglake.errors import ConfigError
from seglake.session import local_partitions

REPO_CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    target = tmp_path / "conf"
    shutil.copytree(REPO_CONF, target)
    return target


def write(conf_dir: Path, name: str, text: str) -> None:
    (conf_dir / name).write_text(text, encoding="utf-8")


def test_local_environment_overlays_base(conf_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGLAKE_LAKE", raising=False)
    write(conf_dir, "local.yml", "spark:\n  shuffle_partitions: 3\n")
    cfg = load_config("local", conf_dir)
    assert cfg.env == "local"
    assert cfg.spark.shuffle_partitions == 3  # from the overlay
    assert cfg.spark.driver_memory == "4g"  # from base
    assert cfg.paths.lake == "data/lake"  # ${SEGLAKE_LAKE:-data/lake} default
    assert cfg.sources.transactions.columns["customer_id"] == "client_id"


def test_environment_variables_are_read_and_retyped(conf_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGLAKE_LAKE", "/srv/lake")
    monkeypatch.setenv("PARTS", "16")
    write(conf_dir, "local.yml", "spark:\n  shuffle_partitions: ${PARTS:-8}\n")
    cfg = load_config("local", conf_dir)
    assert cfg.paths.lake == "/srv/lake"
    assert cfg.spark.shuffle_partitions == 16


def test_overrides_win_over_files(conf_dir: Path) -> None:
    cfg = load_config("local", conf_dir, {"paths.landing": "/in", "mlflow.tracking_uri": None})
    assert cfg.paths.landing == "/in"
    assert cfg.mlflow.tracking_uri.startswith("sqlite:///")  # None means "not given"


def test_unknown_key_names_file_path_and_suggestion(conf_dir: Path) -> None:
    write(conf_dir, "local.yml", "spark:\n  shuffle_partitons: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config("local", conf_dir)
    message = str(err.value)
    assert str(conf_dir / "local.yml") in message
    assert "spark.shuffle_partitons: unknown key" in message
    assert "did you mean 'shuffle_partitions'" in message
    assert "\n" not in message


def test_wrong_type_says_what_was_expected(conf_dir: Path) -> None:
    write(conf_dir, "local.yml", "generator:\n  dirty:\n    duplicate: lots\n")
    with pytest.raises(ConfigError, match=r"local\.yml: generator\.dirty\.duplicate: expected a number, got 'lots'"):
        load_config("local", conf_dir)


def test_bad_choice_suggests_the_closest(conf_dir: Path) -> None:
    write(conf_dir, "local.yml", "segmentation:\n  scaler: standart\n")
    with pytest.raises(
        ConfigError, match=r"expected one of 'standard', 'minmax', got 'standart' \(did you mean 'standard'\?\)"
    ):
        load_config("local", conf_dir)


def test_missing_required_value(conf_dir: Path) -> None:
    base = (conf_dir / "base.yml").read_text()
    write(conf_dir, "base.yml", base.replace("  lake: ${SEGLAKE_LAKE:-data/lake}\n", ""))
    with pytest.raises(ConfigError, match=r"missing required key 'paths\.lake'"):
        load_config("local", conf_dir)


def test_unset_environment_variable_without_default(conf_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGLAKE_LANDING", raising=False)
    monkeypatch.setenv("SEGLAKE_LAKE", "/lake")
    monkeypatch.setenv("SEGLAKE_MLFLOW_URI", "sqlite:///x.db")
    monkeypatch.setenv("SEGLAKE_PII_SECRET", "s")
    with pytest.raises(
        ConfigError, match=r"prod\.yml: paths\.landing: environment variable SEGLAKE_LANDING is not set"
    ):
        load_config("prod", conf_dir)


def test_unknown_environment_lists_the_valid_ones(conf_dir: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown environment 'prdo' \(did you mean 'prod'\?\); choose one of: dev, local, prod"
    ):
        load_config("prdo", conf_dir)


def test_invalid_yaml_points_at_the_line(conf_dir: Path) -> None:
    write(conf_dir, "local.yml", "spark:\n  shuffle_partitions: [4\n")
    with pytest.raises(ConfigError, match=r"local\.yml: line \d+, column \d+: invalid YAML"):
        load_config("local", conf_dir)


def test_missing_conf_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration not found"):
        load_config("local", tmp_path / "nowhere")


def test_every_shipped_environment_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SEGLAKE_LANDING", "SEGLAKE_LAKE", "SEGLAKE_MLFLOW_URI", "SEGLAKE_PII_SECRET"):
        monkeypatch.setenv(var, "x")
    for env in ("local", "dev", "prod"):
        assert load_config(env, REPO_CONF).env == env


@pytest.mark.parametrize(
    ("master", "configured", "expected"),
    [
        ("local[3]", None, 3),
        ("local[2, 4]", None, 2),  # local[threads, retries]
        ("local", None, 1),
        ("spark://127.0.0.1:7077", None, 8),  # a cluster's cores are not known here
        ("local[3]", 5, 5),  # configured wins
    ],
)
def test_shuffle_partitions_default_to_the_local_cores(master: str, configured: int | None, expected: int) -> None:
    assert local_partitions(SparkConfig(master=master, shuffle_partitions=configured)) == expected


def test_shipped_local_config_uses_one_partition_per_core(conf_dir: Path) -> None:
    cfg = load_config("local", conf_dir)
    assert cfg.spark.shuffle_partitions is None
    assert local_partitions(cfg.spark) == len(os.sched_getaffinity(0))
