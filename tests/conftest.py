"""One Spark session (Delta on) for the whole suite; every test writes under tmp_path."""

from __future__ import annotations

import os

import pytest

from seglake.config.schema import SparkConfig
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
        },
    )
    session = get_spark(cfg)
    yield session
    session.stop()
