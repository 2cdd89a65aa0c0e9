"""The clustering pipeline and the measures used to choose k (all computed in Spark)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import comb

from pyspark.ml import Pipeline, PipelineModel, Transformer
from pyspark.ml.clustering import KMeans, KMeansModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import Imputer, MinMaxScaler, SQLTransformer, StandardScaler, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglake.config.schema import SegmentationConfig

FEATURES_COL = "features"
PREDICTION_COL = "segment_id"


def model_input_column(feature: str, cfg: SegmentationConfig) -> str:
    return f"{feature}__log" if feature in cfg.log_features else f"{feature}__in"


def preprocessing(cfg: SegmentationConfig) -> Pipeline:
    """fill known-meaning gaps -> median-impute the rest -> log1p skewed -> vector -> scale."""
    fills = ", ".join(
        f"coalesce(CAST(`{f}` AS DOUBLE), {float(cfg.fill_values[f])}) AS `{f}__filled`"
        if f in cfg.fill_values
        else f"CAST(`{f}` AS DOUBLE) AS `{f}__filled`"
        for f in cfg.features
    )
    imputer = Imputer(
        inputCols=[f"{f}__filled" for f in cfg.features],
        outputCols=[f"{f}__in" for f in cfg.features],
        strategy="median",
    )
    logs = ", ".join(f"log1p(greatest(`{f}__in`, 0D)) AS `{f}__log`" for f in cfg.log_features) or "NULL AS _nolog"
    scaler = (
        StandardScaler(inputCol="raw_features", outputCol=FEATURES_COL, withMean=True, withStd=True)
        if cfg.scaler == "standard"
        else MinMaxScaler(inputCol="raw_features", outputCol=FEATURES_COL)
    )
    return Pipeline(
        stages=[
            SQLTransformer(statement=f"SELECT *, {fills} FROM __THIS__"),
            imputer,
            SQLTransformer(statement=f"SELECT *, {logs} FROM __THIS__"),
            VectorAssembler(inputCols=[model_input_column(f, cfg) for f in cfg.features], outputCol="raw_features"),
            scaler,
        ]
    )


def kmeans(k: int, seed: int, max_iter: int) -> KMeans:
    return KMeans(k=k, seed=seed, maxIter=max_iter, featuresCol=FEATURES_COL, predictionCol=PREDICTION_COL)


def silhouette(assigned: DataFrame) -> float:
    return ClusteringEvaluator(featuresCol=FEATURES_COL, predictionCol=PREDICTION_COL).evaluate(assigned)


def segment_shares(model: KMeansModel) -> list[float]:
    sizes = model.summary.clusterSizes
    total = sum(sizes)
    return [s / total for s in sizes]


def adjusted_rand_index(pairs: DataFrame, a: str, b: str) -> float:
    """ARI of two labelings of the same rows; only the k x k contingency table (counts)
    leaves the cluster."""
    table = pairs.groupBy(a, b).agg(F.count(F.lit(1)).alias("n")).collect()
    return ari_from_contingency({(r[a], r[b]): r["n"] for r in table})


def ari_from_contingency(counts: Mapping[tuple[object, object], int]) -> float:
    n = sum(counts.values())
    rows: dict[object, int] = {}
    cols: dict[object, int] = {}
    for (x, y), c in counts.items():
        rows[x] = rows.get(x, 0) + c
        cols[y] = cols.get(y, 0) + c
    index = sum(comb(c, 2) for c in counts.values())
    sum_rows = sum(comb(c, 2) for c in rows.values())
    sum_cols = sum(comb(c, 2) for c in cols.values())
    total = comb(n, 2)
    if total == 0:
        return 1.0
    expected = sum_rows * sum_cols / total
    maximum = (sum_rows + sum_cols) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


@dataclass(frozen=True)
class Candidate:
    k: int
    silhouette: float
    cost: float
    min_share: float
    stability: float  # mean ARI of the other seeds' fits against the first seed's

    def acceptable(self, min_share: float, min_stability: float) -> bool:
        return self.min_share >= min_share and self.stability >= min_stability


def evaluate_k(prepared: DataFrame, k: int, cfg: SegmentationConfig) -> tuple[Candidate, KMeansModel]:
    """Fit k with every configured seed; report the first seed's fit and how well the
    others agree with it (robustness to initialisation)."""
    first_seed, *other_seeds = cfg.seeds
    reference = kmeans(k, first_seed, cfg.max_iter).fit(prepared)
    assigned = reference.transform(prepared)
    agreements = []
    for seed in other_seeds:
        other = kmeans(k, seed, cfg.max_iter).fit(prepared)
        both = other.transform(assigned.withColumnRenamed(PREDICTION_COL, "_reference"))
        agreements.append(adjusted_rand_index(both, "_reference", PREDICTION_COL))
    candidate = Candidate(
        k=k,
        silhouette=silhouette(assigned),
        cost=reference.summary.trainingCost,
        min_share=min(segment_shares(reference)),
        stability=sum(agreements) / len(agreements) if agreements else 1.0,
    )
    return candidate, reference


def _why_rejected(c: Candidate, min_share: float, min_stability: float) -> str:
    reasons = []
    if c.min_share < min_share:
        reasons.append(f"smallest segment {c.min_share:.1%} < {min_share:.0%}")
    if c.stability < min_stability:
        reasons.append(f"stability {c.stability:.2f} < {min_stability}")
    return f"k={c.k}: " + " and ".join(reasons)


def choose_k(candidates: list[Candidate], min_share: float, min_stability: float) -> tuple[Candidate, str]:
    """Highest silhouette among k that are neither over-segmented nor unstable; the reason
    names what ruled every other k out."""
    ok = [c for c in candidates if c.acceptable(min_share, min_stability)]
    if ok:
        best = max(ok, key=lambda c: c.silhouette)
        why = f"k={best.k}: best silhouette {best.silhouette:.3f} among acceptable k"
        rejected = [_why_rejected(c, min_share, min_stability) for c in candidates if c not in ok]
        if rejected:
            why += "; rejected " + ", ".join(rejected)
        return best, why
    best = max(candidates, key=lambda c: c.silhouette)
    return best, (
        f"k={best.k}: no k met share >= {min_share:.0%} and stability >= {min_stability}; "
        "fell back to the best silhouette"
    )


def full_model(prep: PipelineModel, km: KMeansModel) -> PipelineModel:
    stages: list[Transformer] = [*prep.stages, km]
    return PipelineModel(stages=stages)
