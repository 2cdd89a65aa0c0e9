"""Bronze ingest throughput against plain Spark reads of the same files, in one process.

Requirement: bronze ingest of the event files takes at most 1.3x as long as a plain
`spark.read.json(folder).write.format("delta")` of the same files, measured in the same
run. Absolute seconds on a shared 2-core machine swing by tens of percent between runs,
so every verdict here is a ratio to baselines timed in the same JVM, on the same files,
in the same round. Rounds alternate the order of the cases so that warm caches and a
neighbour's load do not always favour the same case, and the median round decides.

Cases, each writing a fresh Delta table:
  spark.read.json   the target's baseline: schema inference (a full extra pass) + write
  spark.read.text   like-for-like: bronze also keeps raw lines, so this is the floor
  seglake bronze    `ingest_source(..., "events")` into an empty lake
  seglake no-op     the same call again: the file ledger finds nothing new to ingest

Usage: .venv/bin/python benchmarks/bench_bronze.py --events 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pyspark
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from seglake.catalog import Catalog
from seglake.config import load_config
from seglake.config.schema import GeneratorConfig, SeglakeConfig
from seglake.generate import generate_landing
from seglake.ingest.bronze import ingest_source
from seglake.runs import RunContext
from seglake.session import get_spark

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_RATIO = 1.3
# Spark's file sources skip names starting with "_", so the marker never reads as data.
LANDING_MARKER = "_bench_landing.json"

JSON_BASELINE = "spark.read.json"
TEXT_BASELINE = "spark.read.text"
BRONZE = "seglake bronze"
NOOP = "seglake no-op"
CASES = (JSON_BASELINE, TEXT_BASELINE, BRONZE, NOOP)
BASELINES = (JSON_BASELINE, TEXT_BASELINE)


@dataclass(frozen=True)
class Landing:
    """A generated landing folder and what the generator says it wrote."""

    root: Path
    events_lines: int
    event_files: int
    event_bytes: int


@dataclass(frozen=True)
class Round:
    """Wall-clock and JVM CPU seconds per case of one round, in the order they ran."""

    order: list[str]
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]


@dataclass(frozen=True)
class Summary:
    """Medians over rounds. Ratios are bronze / baseline within each round, then the
    median over rounds: cases of one round share the machine's load at that time."""

    median_seconds: dict[str, float]
    median_cpu_seconds: dict[str, float]
    rows_per_second: dict[str, float]
    ratios: dict[str, list[float]]
    median_ratios: dict[str, float]
    median_cpu_ratios: dict[str, float]
    target_baseline: str
    target_max_ratio: float
    passed: bool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="event lines to generate (default 2,000,000)")
    parser.add_argument("--customers", type=int, help="customers to generate (default: events / 100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/seglake-bench"),
        help="cache of generated landing folders, and scratch for outputs (default /tmp/seglake-bench)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where bronze-<events>.json goes")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.customers = args.customers or max(1, args.events // 100)
    args.workdir = args.workdir.resolve()
    return args


def bench_config(landing: Path, lake: Path) -> SeglakeConfig:
    return load_config("local", REPO / "conf", {"paths.landing": str(landing), "paths.lake": str(lake)})


def prepare_landing(spark: SparkSession, workdir: Path, generator: GeneratorConfig) -> Landing:
    """Generate the landing folder once per parameter set; later runs reuse it.

    The marker is written only after the generator returns, so an interrupted generation
    is never mistaken for a finished one.
    """
    root = workdir / f"landing-e{generator.events}-c{generator.customers}-s{generator.seed}"
    marker = root / LANDING_MARKER
    params = {"events": generator.events, "customers": generator.customers, "seed": generator.seed}
    cached = json.loads(marker.read_text()) if marker.is_file() else {}
    if cached.get("params") == params:
        print(f"reusing landing folder {root}")
    else:
        print(f"generating {generator.events:,} events for {generator.customers:,} customers into {root}")
        summary = generate_landing(spark, generator, str(root))
        cached = {"params": params, "events_lines": summary.events_lines}
        marker.write_text(json.dumps(cached))
    files = [p for p in (root / "events").iterdir() if not p.name.startswith(("_", "."))]
    return Landing(root, cached["events_lines"], len(files), sum(p.stat().st_size for p in files))


def jvm_cpu_clock(spark: SparkSession) -> Callable[[], float]:
    """CPU seconds used so far by Spark's JVM, which in local mode runs every task.

    Other processes on a shared machine stretch wall-clock time but hardly CPU time, so
    CPU ratios are a steadier second opinion. Linux only (/proc); elsewhere it reads 0.
    """
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()  # noqa: SLF001
    stat = Path(f"/proc/{pid}/stat")

    def read() -> float:
        if not stat.is_file():
            return 0.0
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    return read


def delta_rows_written(spark: SparkSession, path: Path) -> int:
    """Rows of the latest commit, from Delta's metrics: a check that costs no data pass."""
    metrics = DeltaTable.forPath(spark, str(path)).history(1).select("operationMetrics").first()[0]
    return int(metrics["numOutputRows"])


class Bench:
    """Runs the cases of one round against one source folder, each into fresh output."""

    def __init__(
        self,
        spark: SparkSession,
        landing: Path,
        scratch: Path,
        source: str,
        expected_rows: int | None,
        cpu_clock: Callable[[], float],
    ) -> None:
        """`expected_rows` None skips the row checks (the warm-up does not know its rows)."""
        self.spark = spark
        self.scratch = scratch
        self.source = source
        self.expected_rows = expected_rows
        self.cpu_clock = cpu_clock
        self.folder = str(landing / source)
        self.cfg = bench_config(landing, scratch / "lake")
        self.catalog = Catalog(self.cfg.paths.lake)

    def run_round(self, order: list[str]) -> Round:
        """Run `order` (the no-op after bronze) into an emptied scratch folder."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)
        steps: dict[str, Callable[[], Callable[[], None]]] = {
            JSON_BASELINE: lambda: self._plain(lambda: self.spark.read.json(self.folder), "json"),
            TEXT_BASELINE: lambda: self._plain(lambda: self.spark.read.text(self.folder), "text"),
            BRONZE: lambda: self._ingest("bronze", self.expected_rows),
            NOOP: lambda: self._ingest("no-op re-run", 0),
        }
        seconds: dict[str, float] = {}
        cpu_seconds: dict[str, float] = {}
        for case in order:
            # Collect garbage first, so one case's garbage is not collected on the next one's clock.
            self.spark.sparkContext._jvm.java.lang.System.gc()  # noqa: SLF001
            cpu_started, started = self.cpu_clock(), time.perf_counter()
            check = steps[case]()
            seconds[case] = time.perf_counter() - started
            cpu_seconds[case] = self.cpu_clock() - cpu_started
            check()
        shutil.rmtree(self.scratch, ignore_errors=True)
        return Round(order=order, seconds=seconds, cpu_seconds=cpu_seconds)

    def _plain(self, read: Callable[[], DataFrame], name: str) -> Callable[[], None]:
        """Write a plain read to Delta; returns its row check, to run off the clock."""
        out = self.scratch / f"plain-{name}"
        read().write.format("delta").mode("overwrite").save(str(out))
        return lambda: self._expect(name, delta_rows_written(self.spark, out), self.expected_rows)

    def _ingest(self, what: str, expected: int | None) -> Callable[[], None]:
        """Run bronze ingest of the source; returns its row check, to run off the clock."""
        result = ingest_source(self.spark, self.cfg, self.catalog, RunContext.start(), self.source)
        return lambda: self._expect(what, result.rows_added, expected)

    def _expect(self, what: str, rows: int, expected: int | None) -> None:
        """Stop rather than compare cases that did unequal work."""
        if self.expected_rows is not None and rows != expected:
            raise SystemExit(f"{what} wrote {rows:,} rows, expected {expected:,}: the cases did unequal work")


def order_of_round(index: int) -> list[str]:
    """Forward on even rounds, reversed on odd ones; the no-op always follows bronze."""
    order = [JSON_BASELINE, TEXT_BASELINE, BRONZE]
    order = order if index % 2 == 0 else order[::-1]
    at = order.index(BRONZE) + 1
    return [*order[:at], NOOP, *order[at:]]


def summarise(rounds: list[Round], rows: int) -> Summary:
    median_seconds = {c: statistics.median(r.seconds[c] for r in rounds) for c in CASES}
    ratios = {b: [r.seconds[BRONZE] / r.seconds[b] for r in rounds] for b in BASELINES}
    median_ratios = {b: statistics.median(values) for b, values in ratios.items()}
    return Summary(
        median_seconds=median_seconds,
        median_cpu_seconds={c: statistics.median(r.cpu_seconds[c] for r in rounds) for c in CASES},
        rows_per_second={c: rows / median_seconds[c] for c in CASES if c != NOOP},
        ratios=ratios,
        median_ratios=median_ratios,
        median_cpu_ratios={
            b: statistics.median(r.cpu_seconds[BRONZE] / max(r.cpu_seconds[b], 1e-9) for r in rounds) for b in BASELINES
        },
        target_baseline=JSON_BASELINE,
        target_max_ratio=TARGET_RATIO,
        passed=median_ratios[JSON_BASELINE] <= TARGET_RATIO,
    )


def report(landing: Landing, rounds: list[Round], summary: Summary) -> str:
    heads = "".join(f"{f'round {i + 1}':>10}" for i in range(len(rounds)))
    lines = [
        f"bronze ingest: {landing.events_lines:,} event lines in {landing.event_files} gzip file(s), "
        f"{landing.event_bytes / 1e6:,.1f} MB compressed; {len(rounds)} round(s); wall-clock seconds",
        f"{'case':<18}{heads}{'median':>10}{'rows/s':>12}{'cpu s':>8}{'bronze/case':>13}",
    ]
    for case in CASES:
        per_round = "".join(f"{r.seconds[case]:>9.2f}s" for r in rounds)
        rate = f"{summary.rows_per_second[case]:>12,.0f}" if case in summary.rows_per_second else f"{'-':>12}"
        ratio = f"{summary.median_ratios[case]:>13.2f}" if case in summary.median_ratios else f"{'-':>13}"
        cpu = summary.median_cpu_seconds[case]
        lines.append(f"{case:<18}{per_round}{summary.median_seconds[case]:>9.2f}s{rate}{cpu:>8.1f}{ratio}")
    lines.append("order per round: " + " | ".join(" > ".join(r.order) for r in rounds))
    for base in BASELINES:
        per_round = ", ".join(f"{x:.2f}" for x in summary.ratios[base])
        lines.append(
            f"bronze / {base}: per round {per_round}; median {summary.median_ratios[base]:.2f} "
            f"(JVM CPU time: {summary.median_cpu_ratios[base]:.2f})"
        )
    verdict = "PASS" if summary.passed else "FAIL"
    lines.append(
        f"target: bronze <= {TARGET_RATIO}x {JSON_BASELINE}(...).write -> "
        f"{summary.median_ratios[JSON_BASELINE]:.2f}x {verdict} ({TEXT_BASELINE} is the like-for-like floor, "
        "informational)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    spark = get_spark(load_config("local", REPO / "conf").spark)
    cpu_clock = jvm_cpu_clock(spark)
    generator = GeneratorConfig(customers=args.customers, events=args.events, seed=args.seed)
    landing = prepare_landing(spark, args.workdir, generator)
    scratch = args.workdir / "scratch"

    # Warm-up on the small reviews folder: class loading and JIT compilation would
    # otherwise land on whichever case happens to run first.
    Bench(spark, landing.root, scratch, "reviews", None, cpu_clock).run_round(order_of_round(0))

    bench = Bench(spark, landing.root, scratch, "events", landing.events_lines, cpu_clock)
    rounds: list[Round] = []
    for i in range(args.rounds):
        rounds.append(bench.run_round(order_of_round(i)))
        print(f"round {i + 1}/{args.rounds}: " + ", ".join(f"{c} {s:.2f}s" for c, s in rounds[-1].seconds.items()))

    summary = summarise(rounds, landing.events_lines)
    print(report(landing, rounds, summary))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"bronze-{args.events}.json"
    result = {
        "benchmark": "bronze",
        "generator": {"events": args.events, "customers": args.customers, "seed": args.seed},
        "events_lines": landing.events_lines,
        "event_files": landing.event_files,
        "event_bytes": landing.event_bytes,
        "rounds": [asdict(r) for r in rounds],
        **asdict(summary),
        "environment": {
            "python": platform.python_version(),
            "pyspark": pyspark.__version__,
            "spark_master": spark.sparkContext.master,
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": os.getloadavg()[0],
        },
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {out}")
    spark.stop()
    # A benchmark, not a test: a FAIL is reported, never turned into a failed command.
    return 0


if __name__ == "__main__":
    sys.exit(main())
