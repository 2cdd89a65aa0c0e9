"""Fault injection: a job killed half-way and started again loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pyspark.sql import functions as F

from seglake.catalog import BRONZE_EVENTS, BRONZE_TRANSACTIONS, Catalog

from landing import event, small_landing, write_events

ROOT = Path(__file__).resolve().parents[1]


def _bronze(landing: Path, lake: Path) -> subprocess.Popen:
    env = {**os.environ, "SEGLAKE_SPARK_OFFLINE": os.environ.get("SEGLAKE_SPARK_OFFLINE", "false")}
    cmd = [sys.executable, str(ROOT / "jobs" / "bronze.py"), "--landing", str(landing), "--lake", str(lake),
           "--set", "spark.master=local[1]", "--set", "spark.driver_memory=1g"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def test_bronze_killed_after_its_first_commit_resumes_exactly(spark, tmp_path: Path) -> None:
    landing = small_landing(tmp_path)
    for i in range(1, 4):  # a few more event files so the run has more than one commit to make
        write_events(landing, f"extra-{i}.json", [event(f"x{i}-{j}", "2025-04-01T10:00:00Z") for j in range(50)])
    lake = tmp_path / "lake"
    first_commit = lake / "bronze" / "events" / "_delta_log" / "00000000000000000000.json"

    proc = _bronze(landing, lake)
    deadline = time.monotonic() + 300
    while not first_commit.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: python and its JVM
    proc.wait()
    catalog = Catalog(str(lake))
    assert catalog.exists(spark, BRONZE_EVENTS)
    assert not catalog.exists(spark, BRONZE_TRANSACTIONS), "the kill came too late to interrupt the run"

    resumed = _bronze(landing, lake)
    output = resumed.communicate(timeout=600)[0].decode()
    assert resumed.returncode == 0, output[-2000:]
    assert "bronze.events        +         0 rows from 0 new file(s)" in output
    events = catalog.read(spark, BRONZE_EVENTS)
    # Every line exactly once, all from the killed run's single committed batch.
    assert events.count() == 11 + 3 * 50
    assert events.select(F.countDistinct("_run_id")).first()[0] == 1
    assert catalog.read(spark, BRONZE_TRANSACTIONS).count() == 5
