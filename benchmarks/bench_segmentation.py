"""Segmentation fit time against customer count, and against scikit-learn on one core.

Question: does fitting the segmentation model scale linearly with customers (roughly
constant time per customer from 100k to 5M), and how does Spark's k-means compare with
scikit-learn's on one core at 100k customers?

Feature rows are synthesised in Spark (no landing files, no feature job): the default
configuration's features drawn from five planted personas, with log-normal counts and
amounts, noisy shares, 1% extreme spenders and 3% missing baskets. They are materialised
(cached and counted) before the clock starts.

Timed per size, in one process:
  prep fit    fill, median imputation, log1p, quantile clipping, scaler (preprocessing(cfg).fit)
  transform   applying it to every customer, cached and counted
  kmeans fit  one k-means fit at k=5 (k-means|| init), exactly --iterations Lloyd iterations (tol 0)
  total       the three together: what `fit_best(...)` costs per seed and initialisation

At 100k customers, scikit-learn's KMeans (lloyd, k-means++ init, n_init=1, the same
iterations, tol 0, one thread) fits the same prepared vectors, brought to the driver off
the clock; Spark's k-means fit on the same vectors is the same-run baseline of the ratio.

Usage: flock /tmp/seglake-heavy.lock .venv/bin/python benchmarks/bench_segmentation.py --sizes 100000 1000000 5000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

# One thread for every BLAS/OpenMP pool scikit-learn may use: "one core" means one core.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pyspark  # noqa: E402
from pyspark.sql import Column, DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from seglake.config import load_config  # noqa: E402
from seglake.segmentation.model import (  # noqa: E402
    CLUSTER_COL,
    FEATURES_COL,
    adjusted_rand_index,
    clusterer,
    preprocessing,
)
from seglake.session import get_spark  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
K = 5
# Per planted persona: mean of each default feature (counts/amounts log-normal around it,
# shares normal around it). Loosely the generator's personas.
PERSONAS: dict[str, tuple[float, dict[str, float]]] = {
    "loyal_high_value": (0.18, {"orders": 7, "aov": 155, "visit": 19, "sessions": 12, "eps": 8, "minutes": 4.4,
                                "mobile": 0.08, "evening": 0.13, "weekend": 0.13, "scroll": 60, "video": 3.4,
                                "abandon": 0.15, "campaign": 0.05}),
    "bargain_mobile": (0.27, {"orders": 1, "aov": 31, "visit": 29, "sessions": 8.6, "eps": 6.9, "minutes": 2.0,
                              "mobile": 0.9, "evening": 0.66, "weekend": 0.31, "scroll": 42, "video": 0.7,
                              "abandon": 0.8, "campaign": 0.65}),
    "researcher": (0.20, {"orders": 0.6, "aov": 119, "visit": 26, "sessions": 9.7, "eps": 22, "minutes": 26,
                          "mobile": 0.37, "evening": 0.35, "weekend": 0.28, "scroll": 94, "video": 23.7,
                          "abandon": 0.8, "campaign": 0.07}),
    "weekend_family": (0.20, {"orders": 3.4, "aov": 67, "visit": 40, "sessions": 6.6, "eps": 9, "minutes": 5.7,
                              "mobile": 0.19, "evening": 0.2, "weekend": 0.57, "scroll": 63, "video": 3.1,
                              "abandon": 0.42, "campaign": 0.16}),
    "churned": (0.15, {"orders": 1.3, "aov": 50, "visit": 275, "sessions": 4.9, "eps": 7, "minutes": 3.1,
                       "mobile": 0.47, "evening": 0.34, "weekend": 0.28, "scroll": 58, "video": 1.0,
                       "abandon": 0.69, "campaign": 0.12}),
}  # fmt: skip
LOGNORMAL = {
    "orders_365d": "orders",
    "avg_order_value_365d": "aov",
    "days_since_last_visit": "visit",
    "sessions_365d": "sessions",
    "events_per_session_365d": "eps",
    "avg_session_minutes_365d": "minutes",
    "video_plays_365d": "video",
    "max_scroll_depth_avg_365d": "scroll",
}
SHARES = {
    "mobile_share_365d": "mobile",
    "evening_share_365d": "evening",
    "weekend_share_365d": "weekend",
    "cart_abandonment_rate_365d": "abandon",
    "campaign_session_share_365d": "campaign",
}


def synthetic_features(spark: SparkSession, n: int, partitions: int, seed: int = 7) -> DataFrame:
    """n customers' feature rows from the planted personas (random draws made columns first,
    so every draw is made for every row)."""
    names = [*LOGNORMAL, *SHARES, "spender", "basket_missing"]
    draws = spark.range(n, numPartitions=partitions).select(
        "id", F.rand(seed).alias("u"), *[F.randn(seed * 100 + i).alias(f"z_{c}") for i, c in enumerate(names)]
    )
    persona = F.lit(None).cast("string")
    bound = 0.0
    for name, (share, _) in PERSONAS.items():
        bound += share
        persona = F.when(persona.isNull() & (F.col("u") < bound), F.lit(name)).otherwise(persona)
    rows = draws.withColumn("planted", persona)

    def mean(key: str) -> Column:
        out = F.lit(None).cast("double")
        for name, (_, means) in PERSONAS.items():
            out = F.when(F.col("planted") == name, F.lit(float(means[key]))).otherwise(out)
        return out

    cols = {c: mean(k) * F.exp(F.col(f"z_{c}") * 0.45) for c, k in LOGNORMAL.items()}
    cols.update(
        {c: F.least(F.lit(1.0), F.greatest(F.lit(0.0), mean(k) + F.col(f"z_{c}") * 0.12)) for c, k in SHARES.items()}
    )
    spender = F.when(F.abs(F.col("z_spender")) > 2.576, F.lit(50.0)).otherwise(F.lit(1.0))
    cols["monetary_365d"] = cols["orders_365d"] * cols["avg_order_value_365d"] * spender
    cols["avg_order_value_365d"] = F.when(F.col("z_basket_missing") < 1.88, cols["avg_order_value_365d"])
    cols["max_scroll_depth_avg_365d"] = F.least(F.lit(100.0), cols["max_scroll_depth_avg_365d"])
    return rows.select(F.col("id").alias("customer_id"), "planted", *[v.alias(c) for c, v in cols.items()])


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def bench_size(spark: SparkSession, cfg, n: int, partitions: int) -> dict:
    data = synthetic_features(spark, n, partitions).cache()
    data.count()
    prep, t_prep = timed(lambda: preprocessing(cfg).fit(data))
    prepared = prep.transform(data).select("customer_id", "planted", FEATURES_COL).cache()
    _, t_transform = timed(prepared.count)
    model, t_fit = timed(lambda: clusterer(cfg, K, seed=1).fit(prepared))
    iters = model.summary.numIter
    ari = adjusted_rand_index(model.transform(prepared), "planted", CLUSTER_COL)
    total = t_prep + t_transform + t_fit
    result = {
        "customers": n,
        "features": len(cfg.features),
        "k": K,
        "iterations": iters,
        "prep_fit_s": round(t_prep, 2),
        "transform_s": round(t_transform, 2),
        "kmeans_fit_s": round(t_fit, 2),
        "total_s": round(total, 2),
        "total_us_per_customer": round(total / n * 1e6, 3),
        "kmeans_us_per_customer_iteration": round(t_fit / n / max(iters, 1) * 1e6, 4),
        "ari_vs_planted": round(ari, 4),
    }
    print(json.dumps(result), flush=True)
    return {"result": result, "prepared": prepared, "data": data}


def sklearn_reference(prepared: DataFrame, iterations: int, spark_fit_s: float) -> dict:
    """scikit-learn KMeans on one thread over the same prepared vectors (collected off the clock)."""
    import numpy as np
    from pyspark.ml.functions import vector_to_array
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    matrix = np.array(
        [r[0] for r in prepared.select(vector_to_array(FEATURES_COL)).collect()],  # benchmark only: 100k rows
        dtype=np.float64,
    )
    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=K, init="k-means++", n_init=1, max_iter=iterations, tol=0.0, algorithm="lloyd",
                    random_state=1)  # fmt: skip
        _, seconds = timed(lambda: km.fit(matrix))
    import sklearn

    return {
        "library": f"scikit-learn {sklearn.__version__}",
        "threads": 1,
        "customers": int(matrix.shape[0]),
        "iterations": int(km.n_iter_),
        "fit_s": round(seconds, 3),
        "spark_kmeans_fit_s": round(spark_fit_s, 3),
        "spark_over_sklearn": round(spark_fit_s / seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--iterations", type=int, default=20, help="Lloyd iterations per fit (tol 0: all of them)")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)

    base = load_config("local", overrides={"spark.driver_memory": args.driver_memory, "spark.log_level": "ERROR"})
    cfg = replace(base.segmentation, max_iter=args.iterations, tol=0.0, optional_features=[])
    spark = get_spark(base.spark)
    cores = spark.sparkContext.defaultParallelism
    # warm-up: class loading and JIT are not billed to the first size
    bench_size(spark, replace(cfg, max_iter=3), 20_000, cores)["data"].unpersist()

    sizes, reference = [], None
    for n in args.sizes:
        partitions = max(cores, n // 250_000)
        out = bench_size(spark, cfg, n, partitions)
        sizes.append(out["result"])
        if reference is None and n == min(args.sizes):
            reference = sklearn_reference(out["prepared"], args.iterations, out["result"]["kmeans_fit_s"])
            print(json.dumps({"sklearn": reference}), flush=True)
        out["prepared"].unpersist()
        out["data"].unpersist()

    smallest = sizes[0]["total_us_per_customer"]
    report = {
        "benchmark": "segmentation fit",
        "machine": {"cores": cores, "platform": platform.platform(), "python": sys.version.split()[0]},
        "spark": pyspark.__version__,
        "iterations": args.iterations,
        "sizes": sizes,
        "per_customer_vs_smallest": {s["customers"]: round(s["total_us_per_customer"] / smallest, 2) for s in sizes},
        "sklearn_one_core": reference,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"segmentation-{max(args.sizes)}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print("\nsize        total s   us/customer   vs smallest   kmeans us/customer/iter   ARI vs planted")
    for s in sizes:
        print(
            f"{s['customers']:>10,}  {s['total_s']:>8.1f}  {s['total_us_per_customer']:>11.2f}  "
            f"{report['per_customer_vs_smallest'][s['customers']]:>11.2f}x  "
            f"{s['kmeans_us_per_customer_iteration']:>23.3f}  {s['ari_vs_planted']:>14.3f}"
        )
    if reference:
        print(
            f"scikit-learn KMeans, 1 thread, {reference['customers']:,} customers: {reference['fit_s']:.2f}s; "
            f"Spark k-means on the same vectors {reference['spark_kmeans_fit_s']:.2f}s "
            f"({reference['spark_over_sklearn']:.1f}x)"
        )
    print(f"written {path}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
