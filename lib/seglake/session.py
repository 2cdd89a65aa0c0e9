"""The one SparkSession factory.

Local runs get a fully configured local[*] session with Delta resolved through Ivy.
Under spark-submit or on Databricks the launcher owns the master and the classpath, so
only the SQL settings seglake relies on are applied.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from pyspark.sql import SparkSession

from seglake.config.schema import SparkConfig
from seglake.errors import EnvironmentSetupError

# Settings seglake's correctness depends on, whatever the launcher.
_REQUIRED_SQL_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # Event times are stored in UTC; session-local zones would shift day boundaries.
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}


def launched_externally() -> bool:
    """True under spark-submit (it opens the gateway for us) or a Databricks runtime."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ


def ivy_jars(cfg: SparkConfig) -> list[str]:
    """Jars of the configured packages already in the Ivy cache (for offline runs)."""
    jar_dir = Path(os.path.expanduser(cfg.ivy_dir)) / "jars"
    jars = sorted(glob.glob(str(jar_dir / "*.jar")))
    if not jars:
        raise EnvironmentSetupError(
            f"spark.offline is on but {jar_dir} holds no jars; run once online to fill the cache"
        )
    return jars


def get_spark(cfg: SparkConfig, extra_packages: list[str] | None = None) -> SparkSession:
    builder = SparkSession.builder.appName(cfg.app_name)
    for key, value in _REQUIRED_SQL_CONF.items():
        builder = builder.config(key, value)

    if not launched_externally():
        packages = list(cfg.packages) + list(extra_packages or [])
        builder = (
            builder.master(cfg.master)
            .config("spark.driver.memory", cfg.driver_memory)
            .config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
            .config("spark.default.parallelism", str(cfg.shuffle_partitions))
            .config("spark.ui.enabled", str(cfg.ui_enabled).lower())
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.jars.ivy", os.path.expanduser(cfg.ivy_dir))
        )
        if cfg.offline:
            builder = builder.config("spark.jars", ",".join(ivy_jars(cfg)))
        elif packages:
            builder = builder.config("spark.jars.packages", ",".join(packages))

    for key, value in cfg.conf.items():
        builder = builder.config(key, value)

    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM failed to start: Java missing or jars unresolvable
        raise EnvironmentSetupError(
            "Spark could not start (is Java 17 installed, and can Maven Central be reached "
            f"for {', '.join(cfg.packages)}? set spark.offline: true to use cached jars): "
            f"{str(exc).splitlines()[0]}"
        ) from None
    spark.sparkContext.setLogLevel(cfg.log_level)
    _check_delta(spark)
    return spark


def _check_delta(spark: SparkSession) -> None:
    # Spark's own class loader sees --packages jars; java.lang.Class.forName would not.
    utils = spark.sparkContext._jvm.org.apache.spark.util.Utils  # noqa: SLF001
    if not utils.classIsLoadable("io.delta.sql.DeltaSparkSessionExtension"):
        raise EnvironmentSetupError(
            "Delta Lake is not on Spark's classpath; with spark-submit pass "
            "--packages io.delta:delta-spark_4.1_2.13:4.4.0"
        )
