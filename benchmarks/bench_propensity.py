"""Spark MLlib GBT against xgboost.spark on the same 1M-row training set, in one process.

Question: which propensity backend should be the default? Both train the same seglake
pipeline (imputation + assembler + classifier, class weights) with the same depth, number
of trees, learning rate and subsample, on the same cached training rows, and are scored on
the same held-out rows. The default is the faster one when their test ROC AUCs are within
0.005 of each other, else the more accurate one.

Training set: synthesised in Spark (no driver-side data) from distributions shaped like
gold.customer_features on generated data — heavy-tailed order and session counts, recency
in days with "never ordered" as null, shares in [0, 1] — with a planted purchase signal
that mixes monotone effects (recent and frequent buyers buy again) with interactions
(evening mobile sessions with abandoned carts, weekend tablets) that a linear model
misses. Each row is one customer-snapshot, as in a training set over several snapshots;
replicating the demo's 2,000 customers x 6 snapshots 80 times would give identical
duplicated rows, which flatters both learners, so rows are drawn independently instead.
The test rows are a later "snapshot" drawn from the same process (another seed).

Rounds alternate the order of the two backends; the median round decides.

Usage: flock /tmp/seglake-heavy.lock .venv/bin/python benchmarks/bench_propensity.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import pyspark
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.config import load_config
from seglake.config.schema import PropensityConfig
from seglake.propensity.labels import LABEL_COL
from seglake.propensity.models import (
    TreeParams,
    class_weights,
    roc_auc,
    tree_param_map,
    tree_pipeline,
    with_weights,
)
from seglake.session import get_spark

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
AUC_TOLERANCE = 0.005
BACKENDS = ("gbt", "xgboost")
FEATURES = [
    "orders_90d",
    "orders_365d",
    "monetary_365d",
    "recency_days",
    "tenure_days",
    "sessions_30d",
    "sessions_365d",
    "events_per_session_365d",
    "avg_session_minutes_365d",
    "cart_adds_90d",
    "cart_abandonment_rate_365d",
    "days_since_last_visit",
    "mobile_share_365d",
    "evening_share_365d",
    "weekend_share_365d",
    "campaign_session_share_365d",
    "max_scroll_depth_avg_365d",
    "video_plays_365d",
    "tablet_share_365d",
    "product_views_90d",
]


def _u(seed: int) -> Column:
    return F.rand(seed)


def _n(seed: int) -> Column:
    return F.randn(seed)


def synthetic_rows(spark: SparkSession, rows: int, seed: int, partitions: int) -> DataFrame:
    """One row per customer-snapshot with a planted, partly non-linear purchase signal."""
    s = seed * 100
    base = spark.range(0, rows, numPartitions=partitions).select(
        F.col("id").alias("customer_id"),
        # latent buying intensity (the persona): most customers rare buyers, a loyal tail
        F.exp(_n(s + 1) * 0.9 - 0.3).alias("_intensity"),
        _u(s + 2).alias("_u_mobile"),
        _u(s + 3).alias("_u_evening"),
        _u(s + 4).alias("_u_weekend"),
        _u(s + 5).alias("_u_abandon"),
        _u(s + 6).alias("_u_label"),
        _n(s + 7).alias("_n1"),
        _n(s + 8).alias("_n2"),
        _n(s + 9).alias("_n3"),
        _u(s + 10).alias("_u_recency"),
        _u(s + 11).alias("_u_campaign"),
        _u(s + 12).alias("_u_scroll"),
        _u(s + 13).alias("_u_video"),
    )
    i = F.col("_intensity")
    orders_365 = F.floor(i * 3 + F.abs(F.col("_n1")))
    df = base.select(
        "*",
        F.floor(i * 0.8 + F.col("_u_recency") * 1.5).cast("long").alias("orders_90d"),
        orders_365.cast("long").alias("orders_365d"),
        (orders_365 * F.exp(F.col("_n2") * 0.5 + 4.0)).alias("monetary_365d"),
        F.when(orders_365 > 0, F.floor(F.col("_u_recency") * 365 / (1 + i))).cast("int").alias("recency_days"),
        F.floor(F.col("_u_recency") * 700 + 30).cast("int").alias("tenure_days"),
        F.floor(i * 1.5 * F.col("_u_recency") + F.abs(F.col("_n3"))).cast("long").alias("sessions_30d"),
        F.floor(i * 12 + F.abs(F.col("_n3")) * 3).cast("long").alias("sessions_365d"),
        (F.lit(5.0) + F.abs(F.col("_n2")) * 6).alias("events_per_session_365d"),
        (F.lit(3.0) + F.abs(F.col("_n1")) * 4).alias("avg_session_minutes_365d"),
        F.floor(i * 2 * F.col("_u_abandon") + F.col("_u_recency")).cast("long").alias("cart_adds_90d"),
        F.col("_u_abandon").alias("cart_abandonment_rate_365d"),
        F.floor(F.col("_u_recency") * 200 / (1 + i)).cast("int").alias("days_since_last_visit"),
        F.col("_u_mobile").alias("mobile_share_365d"),
        F.col("_u_evening").alias("evening_share_365d"),
        F.col("_u_weekend").alias("weekend_share_365d"),
        (F.col("_u_campaign") * F.col("_u_mobile")).alias("campaign_session_share_365d"),
        (F.col("_u_scroll") * 100).alias("max_scroll_depth_avg_365d"),
        F.floor(F.col("_u_video") * 10 * F.col("_u_scroll")).cast("long").alias("video_plays_365d"),
        ((1 - F.col("_u_mobile")) * F.col("_u_weekend")).alias("tablet_share_365d"),
        F.floor(i * 20 * F.col("_u_scroll") + F.col("_u_video") * 5).cast("long").alias("product_views_90d"),
    )
    recency = F.coalesce(F.col("recency_days"), F.lit(730))
    logit = (
        F.lit(-2.6)
        + F.log1p(F.col("orders_90d")) * 0.9
        - F.least(recency, F.lit(365)) / 180.0
        # evening mobile shoppers who abandon carts come back to buy
        + F.when((F.col("mobile_share_365d") > 0.6) & (F.col("evening_share_365d") > 0.5), 1.2).otherwise(0.0)
        * F.col("cart_abandonment_rate_365d")
        * 2
        # weekend tablet families buy in bursts
        + F.when((F.col("tablet_share_365d") > 0.4) & (F.col("sessions_30d") > 1), 1.0).otherwise(0.0)
        # heavy researchers rarely convert
        - F.when(F.col("max_scroll_depth_avg_365d") > 80, 0.8).otherwise(0.0)
        * (F.col("video_plays_365d") > 4).cast("int")
    )
    label = (F.col("_u_label") < 1 / (1 + F.exp(-logit))).cast("int")
    return df.select("customer_id", *FEATURES, label.alias(LABEL_COL))


def bench_config(workers: int) -> PropensityConfig:
    cfg = load_config("local", REPO / "conf").propensity
    return replace(
        cfg, features=FEATURES, log_features=[], fill_values={"recency_days": 730.0}, xgboost_workers=workers
    )


def fit_and_score(
    backend: str, cfg: PropensityConfig, params: TreeParams, train: DataFrame, test: DataFrame
) -> tuple[float, float]:
    pipeline, est = tree_pipeline(backend, cfg)
    started = time.perf_counter()
    model = pipeline.fit(train, params=tree_param_map(backend, est, params))
    seconds = time.perf_counter() - started
    return seconds, roc_auc(model.transform(test))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="training rows")
    p.add_argument("--test-rows", type=int, default=250_000, help="held-out rows")
    p.add_argument("--depth", type=int, default=5)
    p.add_argument("--trees", type=int, default=50)
    p.add_argument("--learning-rate", type=float, default=0.1)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--partitions", type=int, default=os.cpu_count() or 2)
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)

    spark_cfg = replace(
        load_config("local", REPO / "conf").spark,
        master=f"local[{args.partitions}]",
        driver_memory="6g",
        shuffle_partitions=args.partitions,
    )
    spark = get_spark(spark_cfg)
    cfg = bench_config(args.partitions)
    params = TreeParams(args.depth, args.trees, args.learning_rate, 1.0)
    raw_train = synthetic_rows(spark, args.rows, seed=1, partitions=args.partitions)
    weights, pos, neg = class_weights(raw_train, "balanced")
    train = with_weights(raw_train, weights).cache()
    test = with_weights(synthetic_rows(spark, args.test_rows, seed=2, partitions=args.partitions), weights).cache()
    print(f"training rows {train.count():,} ({pos:,} positive, {pos / (pos + neg):.1%}); test rows {test.count():,}")

    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.rounds):
        order = BACKENDS if r % 2 == 0 else BACKENDS[::-1]
        result = {}
        for backend in order:
            seconds, auc = fit_and_score(backend, cfg, params, train, test)
            result[backend] = {"fit_seconds": round(seconds, 2), "test_roc_auc": round(auc, 5)}
            print(f"round {r + 1} {backend:<8} fit {seconds:8.1f}s  test ROC AUC {auc:.4f}", flush=True)
        rounds.append(result)

    median = {
        b: {
            "fit_seconds": statistics.median(x[b]["fit_seconds"] for x in rounds),
            "test_roc_auc": statistics.median(x[b]["test_roc_auc"] for x in rounds),
        }
        for b in BACKENDS
    }
    gbt, xgb = median["gbt"], median["xgboost"]
    auc_gap = xgb["test_roc_auc"] - gbt["test_roc_auc"]
    if abs(auc_gap) <= AUC_TOLERANCE:
        default = min(BACKENDS, key=lambda b: median[b]["fit_seconds"])
        why = f"test ROC AUC within {AUC_TOLERANCE} ({auc_gap:+.4f}); {default} trains faster"
    else:
        default = "xgboost" if auc_gap > 0 else "gbt"
        why = f"test ROC AUC differs by {auc_gap:+.4f} (> {AUC_TOLERANCE}); {default} is more accurate"
    ratio = xgb["fit_seconds"] / gbt["fit_seconds"]
    print(f"xgboost.spark / MLlib GBT fit time: {ratio:.2f}x; default backend: {default} ({why})")

    result = {
        "benchmark": "propensity backends",
        "rows": args.rows,
        "test_rows": args.test_rows,
        "positives": pos,
        "features": len(FEATURES),
        "params": {**params.as_dict(), "class_weight": "balanced"},
        "rounds": rounds,
        "median": median,
        "xgboost_over_gbt_fit_time": round(ratio, 3),
        "test_roc_auc_gap_xgboost_minus_gbt": round(auc_gap, 5),
        "default_backend": default,
        "why": why,
        "environment": {
            "python": platform.python_version(),
            "pyspark": pyspark.__version__,
            "xgboost": version("xgboost-cpu"),
            "master": spark.sparkContext.master,
            "cores": os.cpu_count(),
            "machine": platform.machine(),
        },
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"propensity-{args.rows}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {out}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
