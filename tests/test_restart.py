"""Fault injection: a job killed half-way and started again loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pyspark.sql import functions as F

from seglake.catalog import (
    BRONZE_EVENTS,
    BRONZE_TRANSACTIONS,
    SILVER_DUPLICATES,
    SILVER_EVENTS,
    SILVER_ORDERS,
    SILVER_QUARANTINE,
    SILVER_SESSIONS,
    Catalog,
)

from landing import event, small_landing, write_events

ROOT = Path(__file__).resolve().parents[1]


def test_bronze_killed_after_its_first_commit_resumes_exactly(spark, tmp_path: Path) -> None:
    landing = small_landing(tmp_path)
    for i in range(1, 4):  # a few more event files so the run has more than one commit to make
        write_events(landing, f"extra-{i}.json", [event(f"x{i}-{j}", "2025-04-01T10:00:00Z") for j in range(50)])
    lake = tmp_path / "lake"
    first_commit = lake / "bronze" / "events" / "_delta_log" / "00000000000000000000.json"

    proc = _start("bronze", landing, lake)
    deadline = time.monotonic() + 300
    while not first_commit.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: python and its JVM
    proc.wait()
    catalog = Catalog(str(lake))
    assert catalog.exists(spark, BRONZE_EVENTS)
    assert not catalog.exists(spark, BRONZE_TRANSACTIONS), "the kill came too late to interrupt the run"

    resumed = _run("bronze", landing, lake)
    output = resumed.stdout.decode()
    assert resumed.returncode == 0, output[-2000:]
    assert "bronze.events        +         0 rows from 0 new file(s)" in output
    events = catalog.read(spark, BRONZE_EVENTS)
    # Every line exactly once, all from the killed run's single committed batch.
    assert events.count() == 11 + 3 * 50
    assert events.select(F.countDistinct("_run_id")).first()[0] == 1
    assert catalog.read(spark, BRONZE_TRANSACTIONS).count() == 5


def test_silver_killed_mid_run_resumes_to_the_same_tables(spark, tmp_path: Path) -> None:
    """Kill silver right after it merged the events, before the sessions and before its
    checkpoint recorded the batch; the rerun replays the batch and ends with the rows a
    full rebuild over the same bronze gives."""
    landing = small_landing(tmp_path)
    lake = tmp_path / "lake"
    assert _run("bronze", landing, lake).returncode == 0
    events_merged = lake / "silver" / "events" / "_delta_log" / "00000000000000000001.json"
    proc = _start("silver", landing, lake)
    deadline = time.monotonic() + 300
    while not events_merged.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    catalog = Catalog(str(lake))
    assert not catalog.exists(spark, SILVER_SESSIONS), "the kill came too late to interrupt the run"

    assert _run("silver", landing, lake).returncode == 0
    tables = (SILVER_EVENTS, SILVER_SESSIONS, SILVER_QUARANTINE, SILVER_DUPLICATES, SILVER_ORDERS)
    resumed = {t.name: _rows(catalog, spark, t) for t in tables}
    assert _run("silver", landing, lake, "--full-refresh").returncode == 0  # uninterrupted, from scratch
    rebuilt = {t.name: _rows(catalog, spark, t) for t in tables}
    assert resumed == rebuilt
    assert len(resumed["events"]) == 5 and len(resumed["quarantine"]) == 10 and len(resumed["sessions"]) == 2


def _rows(catalog: Catalog, spark, t) -> list[tuple]:
    lineage = [c for c in ("quarantined_at", "removed_at", "run_id") if c in catalog.read(spark, t).columns]
    return sorted(map(tuple, catalog.read(spark, t).drop(*lineage).collect()), key=repr)


def _start(job: str, landing: Path, lake: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "jobs" / f"{job}.py"), "--landing", str(landing), "--lake", str(lake),
           "--set", "spark.master=local[1]", "--set", "spark.driver_memory=1g", *args]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _run(job: str, landing: Path, lake: Path, *args: str) -> subprocess.CompletedProcess:
    proc = _start(job, landing, lake, *args)
    out = proc.communicate(timeout=600)[0]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)
