"""Test-period metrics from a scored DataFrame (label, score), computed in Spark: only
binned aggregates (10 deciles, 10 calibration bins, 200 ROC bins) reach the driver."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglake.propensity.labels import LABEL_COL

EPS = 1e-15
ROC_BINS = 200
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Decile:
    decile: int  # 1 = the 10% highest scores
    customers: int
    positives: int
    rate: float
    lift: float
    cumulative_gain: float  # share of all positives found in deciles 1..this one


@dataclass(frozen=True)
class CalibrationBin:
    lower: float
    mean_score: float
    observed_rate: float
    customers: int


@dataclass(frozen=True)
class Evaluation:
    rows: int
    positives: int
    roc_auc: float
    pr_auc: float
    log_loss: float
    brier: float
    deciles: list[Decile] = field(default_factory=list)
    calibration: list[CalibrationBin] = field(default_factory=list)
    roc_curve: list[tuple[float, float]] = field(default_factory=list)  # (false positive rate, true positive rate)

    @property
    def base_rate(self) -> float:
        return self.positives / self.rows if self.rows else 0.0

    def metrics(self, prefix: str = "") -> dict[str, float]:
        out = {
            "roc_auc": self.roc_auc,
            "pr_auc": self.pr_auc,
            "log_loss": self.log_loss,
            "brier": self.brier,
            "base_rate": self.base_rate,
            "rows": float(self.rows),
        }
        if self.deciles:
            out["top_decile_lift"] = self.deciles[0].lift
        return {f"{prefix}{k}": v for k, v in out.items()}


RANK_KEY = "_rank_key"


def rank_key(score_col: str, tie_breaker: F.Column) -> F.Column:
    """The score plus a sub-1e-9 deterministic jitter: tree models give many customers the
    very same score, and without breaking those ties a decile can end up empty."""
    fraction = (F.abs(tie_breaker) % F.lit(1_000_003)).cast("double") / F.lit(1_000_003.0)
    return F.col(score_col).cast("double") + fraction * F.lit(1e-9)


def decile_bounds(scored: DataFrame, key_col: str = RANK_KEY) -> list[float]:
    """Cut points of the 9 decile boundaries (approximate quantiles, distributed)."""
    return scored.approxQuantile(key_col, [i / 10 for i in range(1, 10)], 0.0005)


def decile_column(bounds: list[float], key_col: str = RANK_KEY) -> F.Column:
    """1 for the top 10% of scores ... 10 for the bottom 10%."""
    above = sum((F.col(key_col) > F.lit(b)).cast("int") for b in bounds)
    return (F.lit(10) - above).cast("int")


def evaluate(scored: DataFrame, score_col: str = "score") -> Evaluation:
    df = scored.select(F.col(LABEL_COL).cast("double").alias("y"), F.col(score_col).cast("double").alias("p"))
    df = df.withColumn(RANK_KEY, rank_key("p", F.xxhash64(F.monotonically_increasing_id()))).cache()
    totals = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum("y").alias("pos"),
        F.avg(
            -(
                F.col("y") * F.log(F.greatest(F.col("p"), F.lit(EPS)))
                + (1 - F.col("y")) * F.log(F.greatest(1 - F.col("p"), F.lit(EPS)))
            )
        ).alias("log_loss"),
        F.avg((F.col("p") - F.col("y")) ** 2).alias("brier"),
    ).first()
    n, pos = int(totals["n"]), int(totals["pos"] or 0)
    evaluator = BinaryClassificationEvaluator(rawPredictionCol="p", labelCol="y")
    roc = evaluator.setMetricName("areaUnderROC").evaluate(df) if 0 < pos < n else float("nan")
    pr = evaluator.setMetricName("areaUnderPR").evaluate(df) if 0 < pos < n else float("nan")

    bounds = decile_bounds(df)
    per_decile = {
        r["d"]: (r["n"], int(r["pos"] or 0))
        for r in df.groupBy(decile_column(bounds).alias("d"))
        .agg(F.count(F.lit(1)).alias("n"), F.sum("y").alias("pos"))
        .collect()
    }
    deciles, found = [], 0
    base = pos / n if n else 0.0
    for d in range(1, 11):
        count, hits = per_decile.get(d, (0, 0))
        found += hits
        rate = hits / count if count else 0.0
        deciles.append(Decile(d, count, hits, rate, rate / base if base else 0.0, found / pos if pos else 0.0))

    calib_bin = F.least(F.floor(F.col("p") * CALIBRATION_BINS), F.lit(CALIBRATION_BINS - 1)).cast("int")
    calibration = [
        CalibrationBin(r["b"] / CALIBRATION_BINS, r["mean_score"], r["rate"], r["n"])
        for r in df.groupBy(calib_bin.alias("b"))
        .agg(F.avg("p").alias("mean_score"), F.avg("y").alias("rate"), F.count(F.lit(1)).alias("n"))
        .orderBy("b")
        .collect()
    ]

    roc_bin = F.least(F.floor(F.col("p") * ROC_BINS), F.lit(ROC_BINS - 1)).cast("int")
    hist = {
        r["b"]: (int(r["pos"] or 0), r["n"] - int(r["pos"] or 0))
        for r in df.groupBy(roc_bin.alias("b")).agg(F.count(F.lit(1)).alias("n"), F.sum("y").alias("pos")).collect()
    }
    curve, tp, fp = [(0.0, 0.0)], 0, 0
    for b in range(ROC_BINS - 1, -1, -1):  # threshold sweeping down from the top scores
        p_hits, n_hits = hist.get(b, (0, 0))
        tp, fp = tp + p_hits, fp + n_hits
        if p_hits or n_hits:
            curve.append((fp / (n - pos) if n > pos else 0.0, tp / pos if pos else 0.0))
    df.unpersist()
    return Evaluation(
        rows=n,
        positives=pos,
        roc_auc=roc,
        pr_auc=pr,
        log_loss=float(totals["log_loss"]),
        brier=float(totals["brier"]),
        deciles=deciles,
        calibration=calibration,
        roc_curve=curve,
    )
