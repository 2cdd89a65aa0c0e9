"""`spark-submit jobs/<job>.py` works as the README says: the launcher owns the master and
the classpath, seglake only adds its SQL settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from seglake.config.schema import DELTA_PACKAGE

from landing import small_landing

ROOT = Path(__file__).resolve().parents[1]


def test_bronze_job_under_spark_submit(spark, tmp_path: Path) -> None:
    landing = small_landing(tmp_path)
    spark_submit = Path(sys.executable).parent / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    cmd = [
        str(spark_submit), "--master", "local[1]", "--packages", DELTA_PACKAGE,
        "--conf", "spark.jars.ivy=" + os.path.expanduser("~/.ivy2.5.2"),
        str(ROOT / "jobs" / "bronze.py"), "--landing", str(landing), "--lake", str(tmp_path / "lake"),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "on local[1]" in done.stdout  # the launcher's master, not seglake's local[*]
    assert "bronze.events        +        11 rows from 1 new file(s)" in done.stdout
    written = spark.read.format("delta").load(str(tmp_path / "lake" / "bronze" / "events"))
    assert written.count() == 11
