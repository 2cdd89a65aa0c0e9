"""`seglake <job> ...`: the command line shared by the console script, `jobs/*.py` under
spark-submit, and Databricks python tasks.

A user mistake (bad config, unknown environment, missing folder) ends with one line on
stderr and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import yaml

from seglake.catalog import Catalog
from seglake.config import load_config
from seglake.errors import ConfigError, SeglakeError
from seglake.pipeline import (
    JobContext,
    run_bronze,
    run_features,
    run_generate,
    run_pipeline,
    run_propensity_score,
    run_propensity_train,
    run_score_segments,
    run_segments,
    run_silver,
)
from seglake.runs import RunContext
from seglake.session import get_spark

JOBS = (
    "generate",
    "bronze",
    "silver",
    "features",
    "segments",
    "score-segments",
    "propensity-train",
    "propensity-score",
    "pipeline",
)
DESCRIPTIONS = {
    "generate": "write synthetic sample data (events, transactions, profiles, reviews) to the landing folder",
    "bronze": "ingest new landing files into the bronze Delta tables (each file exactly once)",
    "silver": "build typed, deduplicated, stitched, sessionised silver tables and the quarantine",
    "features": "compute the point-in-time gold customer feature snapshot",
    "segments": "train k-means segments with model selection, log to MLflow, write gold segment tables",
    "score-segments": "assign a feature snapshot to segments with the registered model (by alias), no retraining",
    "propensity-train": "train propensity models on past snapshots, log to MLflow, promote the champion if it wins",
    "propensity-score": "score a feature snapshot with each label's champion model into gold.propensity_scores",
    "pipeline": "run bronze -> silver -> features -> segments (optionally generating sample data first)",
}


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--env",
        default=os.environ.get("SEGLAKE_ENV", "local"),
        help="configuration environment: conf/<env>.yml over conf/base.yml (default: local)",
    )
    p.add_argument("--conf-dir", help="folder holding base.yml and the environment files")
    p.add_argument("--landing", help="landing folder (overrides paths.landing / $SEGLAKE_LANDING)")
    p.add_argument("--lake", help="lake root for the Delta tables (overrides paths.lake / $SEGLAKE_LAKE)")
    p.add_argument("--mlflow-uri", help="MLflow tracking URI (overrides mlflow.tracking_uri / $SEGLAKE_MLFLOW_URI)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set spark.shuffle_partitions=16 (repeatable)",
    )


def _add_job_args(job: str, p: argparse.ArgumentParser) -> None:
    if job in ("generate", "pipeline"):
        p.add_argument("--customers", type=int, help="customers to generate")
        p.add_argument("--events", type=int, help="approximate event lines to generate")
        p.add_argument("--seed", type=int, help="random seed (same seed, same bytes)")
    if job == "pipeline":
        p.add_argument("--generate", action="store_true", help="generate sample data into the landing folder first")
    if job in ("silver", "pipeline"):
        p.add_argument(
            "--full-refresh",
            action="store_true",
            help="rebuild silver from all of bronze instead of merging only the new bronze rows",
        )
    if job in ("features", "segments", "score-segments", "pipeline"):
        p.add_argument("--as-of", help="snapshot date YYYY-MM-DD (default: day after the newest event)")


def _add_propensity_args(job: str, p: argparse.ArgumentParser) -> None:
    if job in ("propensity-train", "propensity-score"):
        p.add_argument(
            "--label",
            action="append",
            dest="labels",
            metavar="NAME",
            help="label to train or score (repeatable; default: propensity.train_labels)",
        )
    if job == "propensity-score":
        p.add_argument("--as-of", help="snapshot date YYYY-MM-DD (default: day after the newest event)")


def build_parser(job: str | None = None) -> argparse.ArgumentParser:
    if job is not None:
        p = argparse.ArgumentParser(prog=f"{job}.py", description=DESCRIPTIONS[job])
        _add_common(p)
        _add_job_args(job, p)
        _add_propensity_args(job, p)
        return p
    p = argparse.ArgumentParser(prog="seglake", description="Audience segmentation on Spark and Delta Lake.")
    sub = p.add_subparsers(dest="job", required=True, metavar="job")
    for name in JOBS:
        sp = sub.add_parser(name, help=DESCRIPTIONS[name], description=DESCRIPTIONS[name])
        _add_common(sp)
        _add_job_args(name, sp)
        _add_propensity_args(name, sp)
    return p


def _local_path(value: str) -> str:
    """Relative local paths become absolute so every message shows where data lives."""
    if "://" in value or value.startswith(("dbfs:", "file:")):
        return value
    return str(Path(value).expanduser().resolve())


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {
        "paths.landing": args.landing,
        "paths.lake": args.lake,
        "mlflow.tracking_uri": args.mlflow_uri,
    }
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set spark.shuffle_partitions=16")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def _execute(job: str, args: argparse.Namespace, out: Callable[[str], None]) -> None:
    cfg = load_config(args.env, args.conf_dir, _overrides(args))
    paths = replace(cfg.paths, landing=_local_path(cfg.paths.landing), lake=_local_path(cfg.paths.lake))
    mlflow_cfg = cfg.mlflow
    if mlflow_cfg.tracking_uri.startswith("sqlite:///") and not mlflow_cfg.tracking_uri.startswith("sqlite:////"):
        mlflow_cfg = replace(
            mlflow_cfg, tracking_uri="sqlite:///" + _local_path(mlflow_cfg.tracking_uri[len("sqlite:///") :])
        )
    cfg = replace(cfg, paths=paths, mlflow=mlflow_cfg)

    started = time.monotonic()
    spark = get_spark(cfg.spark)
    ctx = JobContext(spark, cfg, Catalog(cfg.paths.lake, cfg.catalog.database), RunContext.start(), out)
    out(f"seglake {job} (env {cfg.env}, run {ctx.run.run_id})")
    out(f"  spark   {spark.version} on {spark.sparkContext.master}")
    out(f"  landing {cfg.paths.landing}\n  lake    {cfg.paths.lake}\n  mlflow  {cfg.mlflow.tracking_uri}")
    gen_args = {k: getattr(args, k, None) for k in ("customers", "events", "seed")}
    runners: dict[str, Callable[[], list[str]]] = {
        "generate": lambda: run_generate(ctx, **gen_args),
        "bronze": lambda: run_bronze(ctx),
        "silver": lambda: run_silver(ctx, full_refresh=args.full_refresh),
        "features": lambda: run_features(ctx, args.as_of)[0],
        "segments": lambda: run_segments(ctx, args.as_of),
        "score-segments": lambda: run_score_segments(ctx, args.as_of),
        "propensity-train": lambda: run_propensity_train(ctx, args.labels),
        "propensity-score": lambda: run_propensity_score(ctx, args.as_of, args.labels),
        "pipeline": lambda: run_pipeline(
            ctx, generate=args.generate, as_of=args.as_of, full_refresh=args.full_refresh, **gen_args
        ),
    }
    lines = runners[job]()
    out("")
    for line in lines:
        out(line)
    out(f"\n{job} finished in {time.monotonic() - started:,.0f}s")


def run_job(job: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of `jobs/<job>.py`: the job's own arguments only."""
    args = build_parser(job).parse_args(argv)
    return _guarded(job, args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `seglake` console script."""
    args = build_parser().parse_args(argv)
    return _guarded(args.job, args)


def _guarded(job: str, args: argparse.Namespace) -> int:
    try:
        _execute(job, args, lambda line: print(line, flush=True))
    except SeglakeError as exc:
        print(f"seglake {job}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
