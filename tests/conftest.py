"""One Spark session (Delta on) for the whole suite; every test writes under tmp_path."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from seglake.config import load_config
from seglake.config.schema import SeglakeConfig, SparkConfig
from seglake.runs import RunContext
from seglake.session import get_spark


@pytest.fixture(scope="session")
def spark():
    cfg = SparkConfig(
        app_name="seglake-tests",
        master="local[2]",
        driver_memory="3g",
        shuffle_partitions=2,
        ui_enabled=False,
        log_level="ERROR",
        offline=os.environ.get("SEGLAKE_SPARK_OFFLINE") == "1",
        conf={
            "spark.sql.ansi.enabled": "true",
            "spark.databricks.delta.snapshotPartitions": "2",
            "spark.sql.adaptive.coalescePartitions.enabled": "true",
            # as conf/base.yml: tests rerun the same jobs many times in one JVM
            "spark.sql.codegen.cache.maxEntries": "1000",
        },
    )
    session = get_spark(cfg)
    yield session
    session.stop()


REPO_CONF = Path(__file__).resolve().parents[1] / "conf"


def make_config(root: Path, **overrides: object) -> SeglakeConfig:
    """The shipped local config, pointed at a test's own folders."""
    base = {
        "paths.landing": str(root / "landing"),
        "paths.lake": str(root / "lake"),
        "mlflow.tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
    }
    return load_config("local", REPO_CONF, {**base, **overrides})


@pytest.fixture
def run_context() -> RunContext:
    return RunContext(run_id="test-run", started_at=datetime(2025, 6, 1, 0, 0, 0))
