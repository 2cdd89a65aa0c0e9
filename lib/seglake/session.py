"""The one SparkSession factory.

Local runs get a fully configured local[*] session with Delta resolved through Ivy.
Under spark-submit or on Databricks the launcher owns the master and the classpath, so
only the SQL settings seglake relies on are applied.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from seglake.config.schema import SparkConfig
from seglake.errors import EnvironmentSetupError

LOG4J_CONFIG = Path(__file__).parent / "resources" / "log4j2.properties"

# Settings seglake's correctness depends on, whatever the launcher.
_REQUIRED_SQL_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # Event times are stored in UTC; session-local zones would shift day boundaries.
    "spark.sql.session.timeZone": "UTC",
    # Wide event schemas; the default makes Spark warn about truncated plan strings.
    "spark.sql.debug.maxToStringFields": "1000",
    # PySpark otherwise records the Python call site of every Column function (a stack
    # walk and three JVM calls each): the feature snapshot builds thousands of column
    # expressions, and this alone was most of its planning time. Errors still carry
    # Spark's message, without the Python line in the DataFrame context.
    "spark.python.sql.dataFrameDebugging.enabled": "false",
}


def launched_externally() -> bool:
    """True under spark-submit (it opens the gateway for us) or a Databricks runtime."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ


def _manifest(cfg: SparkConfig, packages: list[str]) -> Path:
    digest = hashlib.sha256(",".join(sorted(packages)).encode()).hexdigest()[:16]
    return Path(os.path.expanduser(cfg.ivy_dir)) / f"seglake-jars-{digest}.txt"


def cached_jars(cfg: SparkConfig, packages: list[str]) -> list[str] | None:
    """The jars an earlier run resolved for exactly these packages, if all still exist.

    Starting from them skips Ivy: no network (so offline works once cached) and no
    resolution report on the console.
    """
    manifest = _manifest(cfg, packages)
    if not manifest.is_file():
        return None
    jars = [line for line in manifest.read_text().splitlines() if line.strip()]
    return jars if jars and all(Path(j).is_file() for j in jars) else None


def _remember_jars(spark: SparkSession, cfg: SparkConfig, packages: list[str]) -> None:
    resolved = spark.sparkContext.getConf().get("spark.jars", "")
    jars = [j.removeprefix("file://").removeprefix("file:") for j in resolved.split(",") if j.endswith(".jar")]
    if jars:
        manifest = _manifest(cfg, packages)
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text("\n".join(jars) + "\n")


# Partitions per shuffle when the master is not local and none are configured.
_CLUSTER_PARTITIONS = 8


def local_partitions(cfg: SparkConfig) -> int:
    """Partitions per shuffle: as configured, else one per core a local master runs.

    Every task of a wide stage deserialises the stage's plan and generates its row
    projections again (a feature snapshot has hundreds of expressions), so on one machine
    more partitions than cores cost more than the balance they buy: a 10M-event feature
    run took 14.9 s with 8 partitions on 2 cores and 13.1 s with 2."""
    if cfg.shuffle_partitions is not None:
        return cfg.shuffle_partitions
    local = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", cfg.master.strip())
    if local is None:
        return _CLUSTER_PARTITIONS
    threads = local.group(1)
    if threads is None:
        return 1
    if threads == "*":
        # the cores this process may run on (a container's share), as local[*] counts them
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return int(threads)


def get_spark(cfg: SparkConfig) -> SparkSession:
    builder = SparkSession.builder.appName(cfg.app_name)
    for key, value in _REQUIRED_SQL_CONF.items():
        builder = builder.config(key, value)

    packages = list(cfg.packages)
    jars: list[str] | None = None
    if not launched_externally():
        # Python workers (xgboost.spark, pandas functions) must run the driver's interpreter,
        # not whatever `python3` is first on PATH, or they miss the installed packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        partitions = str(local_partitions(cfg))
        builder = (
            builder.master(cfg.master)
            .config("spark.driver.memory", cfg.driver_memory)
            .config("spark.sql.shuffle.partitions", partitions)
            .config("spark.default.parallelism", partitions)
            .config("spark.ui.enabled", str(cfg.ui_enabled).lower())
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.jars.ivy", os.path.expanduser(cfg.ivy_dir))
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}")
        )
        jars = cached_jars(cfg, packages) if packages else None
        if jars:
            builder = builder.config("spark.jars", ",".join(jars))
        elif cfg.offline and packages:
            raise EnvironmentSetupError(
                f"spark.offline is on but the jars of {', '.join(packages)} are not cached in "
                f"{cfg.ivy_dir}; run any seglake job once with network access to fill the cache"
            )
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
    if not launched_externally() and packages and not jars:
        _remember_jars(spark, cfg, packages)
    return spark


def _check_delta(spark: SparkSession) -> None:
    # Spark's own class loader sees --packages jars; java.lang.Class.forName would not.
    utils = spark.sparkContext._jvm.org.apache.spark.util.Utils  # noqa: SLF001
    if not utils.classIsLoadable("io.delta.sql.DeltaSparkSessionExtension"):
        raise EnvironmentSetupError(
            "Delta Lake is not on Spark's classpath; with spark-submit pass "
            "--packages io.delta:delta-spark_4.1_2.13:4.4.0"
        )
