"""Incremental silver against a full rebuild of the same data, in one process.

Requirement: a silver run over a new batch of 1% of the events costs at most 10% of a
full rebuild of silver. Setup: generate a landing folder (a year of data), ingest it to
bronze and build silver; then generate the next day's traffic for the same customers
(1% of the events, with the same dirty-data rates: duplicates, late events, bots), land
its event, order and review files and ingest them to bronze. Each round then
  1. restores silver (tables and checkpoints) to its state before the batch,
  2. times `build_silver` merging the batch (incremental),
  3. times `build_silver(full_refresh=True)` over all of bronze (the rebuild),
and checks that both end with the same row counts. After the incremental run it also
times a run with nothing new (the fixed cost of a run). Rounds alternate which case runs
first; the median round's ratio decides (timing on shared machines is noisy).

Usage: .venv/bin/python benchmarks/bench_silver.py --events 2000000
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pyspark
from pyspark.sql import SparkSession

from seglake.catalog import SILVER_EVENTS, Catalog
from seglake.config.schema import GeneratorConfig, SeglakeConfig
from seglake.generate import generate_landing
from seglake.ingest.bronze import ingest_bronze
from seglake.ingest.silver import SILVER_TABLES, build_silver
from seglake.runs import RunContext
from seglake.session import get_spark

from bench_bronze import bench_config, jvm_cpu_clock, prepare_landing

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_RATIO = 0.10
BATCH_SOURCES = ("events", "transactions", "reviews")  # the CRM export is not daily


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events in the history (default 2,000,000)")
    parser.add_argument("--batch-share", type=float, default=0.01, help="new batch size / history (default 0.01)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/seglake-bench"))
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--reuse-history",
        action="store_true",
        help="reuse the silver history and the landed batch of an earlier run with the same --events "
        "(setup, not measurement: it is restored before every case anyway)",
    )
    args = parser.parse_args(argv)
    args.workdir = args.workdir.resolve()
    return args


def land_next_day(spark: SparkSession, base: GeneratorConfig, landing: Path, workdir: Path, events: int) -> None:
    """Generate (once) the day after the history for the same customers, and copy its
    event, order and review files into `landing`/<source>/next-day/."""
    start = date.fromisoformat(base.start_date) + timedelta(days=base.days)
    day = replace(base, events=events, seed=base.seed + 1000, start_date=start.isoformat(), days=1)
    generated = workdir / f"next-day-e{events}-c{day.customers}-s{day.seed}"
    marker = generated / "_done"
    if not marker.is_file():
        generate_landing(spark, day, str(generated))
        marker.write_text("done\n")
    for source in BATCH_SOURCES:
        shutil.copytree(generated / source, landing / source / "next-day")


def silver_rows(spark: SparkSession, catalog: Catalog) -> dict[str, int]:
    return {t.name: catalog.read(spark, t).count() for t in SILVER_TABLES if catalog.exists(spark, t)}


def build_history(
    spark: SparkSession, args: argparse.Namespace, history: Path, scratch: Path, generator: GeneratorConfig, batch: int
) -> dict[str, int]:
    """Build bronze and silver over a copy of the history, keep silver as it stands before
    the batch (scratch/silver-before-batch), then land and ingest the next day's batch to
    bronze. Returns the bronze rows the batch added per source."""
    shutil.rmtree(scratch, ignore_errors=True)
    # A copy of the history, so the next-day files never leak into the shared cache.
    own_landing = scratch / "landing"
    shutil.copytree(history, own_landing)
    lake = scratch / "lake"
    cfg = bench_config(own_landing, lake)
    catalog = Catalog(str(lake))
    t = time.monotonic()
    ingest_bronze(spark, cfg, catalog, RunContext.start())
    build_silver(spark, cfg, catalog, RunContext.start())
    print(f"history: bronze + silver built in {time.monotonic() - t:.0f}s; {silver_rows(spark, catalog)}")
    before = scratch / "silver-before-batch"
    shutil.copytree(lake, before)

    land_next_day(spark, generator, own_landing, args.workdir, batch)
    bronze_added = {r.source: r.rows_added for r in ingest_bronze(spark, cfg, catalog, RunContext.start())}
    print(f"next day in bronze: {bronze_added}")
    shutil.rmtree(before / "bronze")
    shutil.copytree(lake / "bronze", before / "bronze")
    return bronze_added


def restore(spark: SparkSession, before: Path, lake: Path) -> None:
    """Put silver (tables and checkpoints) back to its state before the batch."""
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(before, lake)
    spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # noqa: SLF001


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir
    scratch = workdir / f"silver-e{args.events}"
    cfg0 = bench_config(workdir, scratch / "lake")
    spark = get_spark(cfg0.spark)
    cpu = jvm_cpu_clock(spark)
    generator = replace(cfg0.generator, events=args.events, customers=max(1, args.events // 100), seed=args.seed)
    landing = prepare_landing(spark, workdir, generator)
    batch_events = int(args.events * args.batch_share)

    before = scratch / "silver-before-batch"
    setup_record = scratch / "batch.json"
    lake = scratch / "lake"
    own_landing = scratch / "landing"
    cfg: SeglakeConfig = bench_config(own_landing, lake)
    catalog = Catalog(str(lake))
    if args.reuse_history and setup_record.is_file():
        bronze_added = json.loads(setup_record.read_text())
        print(f"reusing the history and batch in {scratch}: {bronze_added}")
        # Building the history warms the JVM up (class loading, JIT, Delta's caches);
        # without it the first timed run would pay for that alone. One untimed run instead.
        restore(spark, before, lake)
        build_silver(spark, cfg, catalog, RunContext.start())
    else:
        bronze_added = build_history(spark, args, landing.root, scratch, generator, batch_events)
        setup_record.write_text(json.dumps(bronze_added) + "\n")
    rounds = []
    for i in range(args.rounds):
        order = ["incremental", "full"] if i % 2 == 0 else ["full", "incremental"]
        seconds: dict[str, float] = {}
        cpu_seconds: dict[str, float] = {}
        rows: dict[str, dict[str, int]] = {}
        for case in order:
            restore(spark, before, lake)
            t, c = time.monotonic(), cpu()
            result = build_silver(spark, cfg, catalog, RunContext.start(), full_refresh=case == "full")
            seconds[case], cpu_seconds[case] = time.monotonic() - t, cpu() - c
            rows[case] = silver_rows(spark, catalog)
            if case == "incremental":
                t = time.monotonic()
                build_silver(spark, cfg, catalog, RunContext.start())
                seconds["no-op"] = time.monotonic() - t
                print(f"round {i + 1} no-op       {seconds['no-op']:7.1f}s wall (a run with nothing new)")
            events = next(s for s in result.sources if s.source == "events")
            print(
                f"round {i + 1} {case:<11} {seconds[case]:7.1f}s wall {cpu_seconds[case]:7.1f}s cpu; "
                f"events this run {events.this_run.bronze_rows:,} bronze -> {events.this_run.silver_rows:,} new, "
                f"{events.this_run.changed_rows:,} changed; sessions rebuilt {result.sessions_rebuilt:,}"
            )
        same = {k: v for k, v in rows["full"].items() if k not in ("changed_dates",)} == {
            k: v for k, v in rows["incremental"].items() if k not in ("changed_dates",)
        }
        if not same:
            print(f"row counts differ: full {rows['full']} incremental {rows['incremental']}", file=sys.stderr)
            return 1
        rounds.append(
            {
                "order": order,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "ratio": seconds["incremental"] / seconds["full"],
                "cpu_ratio": cpu_seconds["incremental"] / cpu_seconds["full"],
                "rows": rows["full"],
            }
        )
    ratio = statistics.median(r["ratio"] for r in rounds)
    result = {
        "benchmark": "silver incremental vs full rebuild",
        "history_events": landing.events_lines,
        "batch_event_lines": bronze_added.get("events", 0),
        "batch_bronze_rows": bronze_added,
        "rounds": rounds,
        "median_ratio": ratio,
        "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in rounds),
        "median_no_op_seconds": statistics.median(r["seconds"]["no-op"] for r in rounds),
        "target_max_ratio": TARGET_RATIO,
        "passed": ratio <= TARGET_RATIO,
        "silver_events_rows": catalog.read(spark, SILVER_EVENTS).count(),
        "machine": {
            "python": platform.python_version(),
            "pyspark": pyspark.__version__,
            "cores": spark.sparkContext.defaultParallelism,
        },
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"silver-{args.events}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"incremental / full rebuild: median {ratio:.3f} (target <= {TARGET_RATIO}); written {out}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
