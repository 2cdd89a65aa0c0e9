"""The clustering pipeline and the measures used to choose k (all computed in Spark).

A fitted segmentation model is a `PipelineModel` made only of built-in MLlib stages:
fill -> median imputation -> log1p -> quantile clipping -> vector -> scaling -> weighting
-> clustering -> labelling (cluster index -> stable segment id and persona name). It can
be saved, registered and used to score any later snapshot on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark import keyword_only
from pyspark.ml import Estimator, Pipeline, PipelineModel, Transformer
from pyspark.ml.clustering import (
    BisectingKMeans,
    BisectingKMeansModel,
    GaussianMixture,
    GaussianMixtureModel,
    KMeans,
    KMeansModel,
)
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import (
    ElementwiseProduct,
    Imputer,
    MinMaxScaler,
    SQLTransformer,
    StandardScaler,
    VectorAssembler,
)
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.linalg import Vectors
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCols
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from seglake.config.schema import SegmentationConfig

FEATURES_COL = "features"
CLUSTER_COL = "cluster"
PREDICTION_COL = "segment_id"
PERSONA_COL = "persona"
INPUT_SUFFIX = "__in"
ClusteringModel = KMeansModel | BisectingKMeansModel | GaussianMixtureModel


def model_input_column(feature: str) -> str:
    """The column a feature reaches the vector as (filled, imputed, logged, clipped)."""
    return f"{feature}{INPUT_SUFFIX}"


def selected_features(cfg: SegmentationConfig, available: list[str]) -> tuple[list[str], list[str]]:
    """The configured features plus the optional ones the snapshot has; and the optional
    ones it lacks (reported, not fatal)."""
    present = [f for f in cfg.optional_features if f in available and f not in cfg.features]
    missing = [f for f in cfg.optional_features if f not in available]
    return [*cfg.features, *present], missing


class QuantileClipper(Estimator, HasInputCols, DefaultParamsReadable, DefaultParamsWritable):
    """Winsorise columns at quantiles of the data it is fitted on (`approxQuantile`, one
    pass over all columns). The fitted stage is a plain SQLTransformer with the bounds
    written into its statement, so the fitted pipeline stays all-JVM and portable."""

    lowerQuantile = Param(Params._dummy(), "lowerQuantile", "lower quantile (0: no lower clip)", TypeConverters.toFloat)
    upperQuantile = Param(Params._dummy(), "upperQuantile", "upper quantile (1: no upper clip)", TypeConverters.toFloat)
    relativeError = Param(Params._dummy(), "relativeError", "approxQuantile relative error", TypeConverters.toFloat)
    outputSuffix = Param(Params._dummy(), "outputSuffix", "suffix of the clipped columns", TypeConverters.toString)

    @keyword_only
    def __init__(
        self,
        *,
        inputCols: list[str] | None = None,
        lowerQuantile: float = 0.01,
        upperQuantile: float = 0.99,
        relativeError: float = 0.001,
        outputSuffix: str = "__clip",
    ) -> None:
        super().__init__()
        self._setDefault(lowerQuantile=0.01, upperQuantile=0.99, relativeError=0.001, outputSuffix="__clip")
        self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> Transformer:
        cols = self.getInputCols()
        lo, hi = self.getOrDefault(self.lowerQuantile), self.getOrDefault(self.upperQuantile)
        suffix = self.getOrDefault(self.outputSuffix)
        probabilities = [q for q in (lo, hi) if 0.0 < q < 1.0]
        bounds = (
            dataset.approxQuantile(cols, probabilities, self.getOrDefault(self.relativeError)) if probabilities else []
        )
        exprs = []
        for i, c in enumerate(cols):
            q = dict(zip(probabilities, bounds[i], strict=True)) if bounds else {}
            expr = f"`{c}`"
            if lo in q:
                expr = f"greatest({expr}, {float(q[lo])!r}D)"
            if hi in q:
                expr = f"least({expr}, {float(q[hi])!r}D)"
            exprs.append(f"{expr} AS `{c}{suffix}`")
        return SQLTransformer(statement=f"SELECT *, {', '.join(exprs)} FROM __THIS__")


def preprocessing(cfg: SegmentationConfig, features: list[str] | None = None) -> Pipeline:
    """fill known-meaning gaps -> median-impute the rest -> log1p skewed -> clip at
    quantiles -> vector -> scale -> weight."""
    features = list(features if features is not None else cfg.features)
    fills = ", ".join(
        f"coalesce(CAST(`{f}` AS DOUBLE), {float(cfg.fill_values[f])!r}D) AS `{f}__filled`"
        if f in cfg.fill_values
        else f"CAST(`{f}` AS DOUBLE) AS `{f}__filled`"
        for f in features
    )
    imputer = Imputer(
        inputCols=[f"{f}__filled" for f in features],
        outputCols=[f"{f}__imputed" for f in features],
        strategy="median",
    )
    logs = ", ".join(
        f"log1p(greatest(`{f}__imputed`, 0D)) AS `{f}__shaped`"
        if f in cfg.log_features
        else f"`{f}__imputed` AS `{f}__shaped`"
        for f in features
    )
    clipper = QuantileClipper(
        inputCols=[f"{f}__shaped" for f in features],
        lowerQuantile=cfg.outliers.lower_quantile,
        upperQuantile=cfg.outliers.upper_quantile,
        relativeError=cfg.outliers.relative_error,
        outputSuffix="__clipped",
    )
    rename = ", ".join(f"`{f}__shaped__clipped` AS `{model_input_column(f)}`" for f in features)
    # Bisecting k-means splits a cluster by nudging its centre in proportion to the centre's
    # norm: on centred data the root centre is the origin and nothing ever splits. Distances
    # do not depend on the centring, so it is dropped for that algorithm only.
    centred = cfg.algorithm != "bisecting_kmeans"
    scaler = (
        StandardScaler(inputCol="raw_features", outputCol="scaled_features", withMean=centred, withStd=True)
        if cfg.scaler == "standard"
        else MinMaxScaler(inputCol="raw_features", outputCol="scaled_features")
    )
    weights = ElementwiseProduct(
        scalingVec=Vectors.dense([float(cfg.weights.get(f, 1.0)) for f in features]),
        inputCol="scaled_features",
        outputCol=FEATURES_COL,
    )
    return Pipeline(
        stages=[
            SQLTransformer(statement=f"SELECT *, {fills} FROM __THIS__"),
            imputer,
            SQLTransformer(statement=f"SELECT *, {logs} FROM __THIS__"),
            clipper,
            SQLTransformer(statement=f"SELECT *, {rename} FROM __THIS__"),
            VectorAssembler(inputCols=[model_input_column(f) for f in features], outputCol="raw_features"),
            scaler,
            weights,
        ]
    )


def model_features(model: PipelineModel) -> list[str]:
    """The feature names a fitted segmentation pipeline reads (from its assembler)."""
    for stage in model.stages:
        if isinstance(stage, VectorAssembler):
            return [c.removesuffix(INPUT_SUFFIX) for c in stage.getInputCols()]
    raise ValueError("not a segmentation pipeline: no VectorAssembler stage")


def clusterer(cfg: SegmentationConfig, k: int, seed: int) -> Estimator:
    common = {"k": k, "seed": seed, "maxIter": cfg.max_iter, "featuresCol": FEATURES_COL, "predictionCol": CLUSTER_COL}
    if cfg.algorithm == "kmeans":
        return KMeans(**common, initMode="k-means||", initSteps=cfg.init_steps, tol=cfg.tol)
    if cfg.algorithm == "bisecting_kmeans":
        return BisectingKMeans(**common)
    return GaussianMixture(**common, tol=cfg.tol, probabilityCol="cluster_probability")


def centers(model: ClusteringModel) -> list[list[float]]:
    if isinstance(model, GaussianMixtureModel):
        return [list(map(float, g.mean)) for g in model.gaussians]
    return [list(map(float, c)) for c in model.clusterCenters()]


def fit_cost(model: ClusteringModel) -> float:
    """What the best-of-n selection minimises: within-cluster sum of squares for the
    k-means family, negative log-likelihood for the mixture."""
    if isinstance(model, GaussianMixtureModel):
        return -float(model.summary.logLikelihood)
    return float(model.summary.trainingCost)


# Spark's GaussianMixture has no covariance regularisation: a component that collapses
# onto identical rows (ties are common here: zero counts, imputed or clipped values, a
# feature weighted 0) gets a singular covariance, an infinite density and NaN weights,
# on which the bundled Java LAPACK eigen-decomposition loops forever (seen once in the
# test suite). The mixture is fitted on rows nudged by a tiny deterministic noise,
# uniform within +-GMM_JITTER of the scaled features, which keeps every covariance
# invertible (what scikit-learn's reg_covar does); customers are assigned unnudged.
GMM_JITTER = 1e-3


def _nudged(prepared: DataFrame) -> DataFrame:
    def nudge(x: Column, i: Column) -> Column:
        offset = F.pmod(F.xxhash64(F.col("_row"), i), F.lit(2_000_001)) - 1_000_000
        return x + offset * (GMM_JITTER / 1e6)

    nudged = array_to_vector(F.transform(vector_to_array(F.col(FEATURES_COL)), nudge))
    return prepared.withColumn("_row", F.monotonically_increasing_id()).withColumn(FEATURES_COL, nudged).drop("_row")


def fit_best(prepared: DataFrame, cfg: SegmentationConfig, k: int, seed: int) -> ClusteringModel:
    """Best of `n_init` fits (lowest cost) from seeds derived from `seed`."""
    best: ClusteringModel | None = None
    rows = _nudged(prepared) if cfg.algorithm == "gaussian_mixture" else prepared
    for i in range(max(1, cfg.n_init)):
        model = clusterer(cfg, k, seed * 7919 + i).fit(rows)
        if best is None or fit_cost(model) < fit_cost(best):
            best = model
    assert best is not None
    return best


def squared_distance_to_center(cs: list[list[float]], cluster: Column, features: Column) -> Column:
    """Squared Euclidean distance from a features vector to its cluster's centre, in SQL."""
    table = F.array(*[F.array(*[F.lit(float(x)) for x in c]) for c in cs])
    centre = F.element_at(table, cluster + 1)
    vec = vector_to_array(features)
    return F.aggregate(F.zip_with(vec, centre, lambda a, b: (a - b) * (a - b)), F.lit(0.0), lambda acc, x: acc + x)


def within_cost(assigned: DataFrame, model: ClusteringModel) -> float:
    """Within-cluster sum of squares of an assignment, for any algorithm (the elbow)."""
    if not isinstance(model, GaussianMixtureModel):
        return float(model.summary.trainingCost)
    squared = squared_distance_to_center(centers(model), F.col(CLUSTER_COL), F.col(FEATURES_COL))
    return float(assigned.agg(F.sum(squared)).first()[0] or 0.0)


def silhouette(assigned: DataFrame, prediction_col: str = CLUSTER_COL) -> float:
    return ClusteringEvaluator(featuresCol=FEATURES_COL, predictionCol=prediction_col).evaluate(assigned)


def segment_shares(model: ClusteringModel) -> list[float]:
    sizes = model.summary.clusterSizes
    total = sum(sizes)
    return [s / total for s in sizes]


def adjusted_rand_index(pairs: DataFrame, a: str, b: str) -> float:
    """Adjusted Rand index of two labelings of the same rows, computed in Spark: the
    contingency table, its margins and the pair counts are aggregated on the cluster and
    only four numbers come back."""
    contingency = pairs.groupBy(a, b).agg(F.count(F.lit(1)).cast("double").alias("n"))
    by_a, by_b = Window.partitionBy(a), Window.partitionBy(b)

    def pair_count(c: Column) -> Column:
        return c * (c - 1) / 2

    sums = (
        contingency.select(
            "n",
            F.sum("n").over(by_a).alias("n_a"),
            F.sum("n").over(by_b).alias("n_b"),
            (F.row_number().over(by_a.orderBy(b)) == 1).alias("first_of_a"),
            (F.row_number().over(by_b.orderBy(a)) == 1).alias("first_of_b"),
        )
        .agg(
            F.sum(pair_count(F.col("n"))).alias("index"),
            F.sum(F.when(F.col("first_of_a"), pair_count(F.col("n_a")))).alias("sum_a"),
            F.sum(F.when(F.col("first_of_b"), pair_count(F.col("n_b")))).alias("sum_b"),
            F.sum("n").alias("n"),
        )
        .first()
    )
    return ari_from_pair_counts(sums["index"] or 0.0, sums["sum_a"] or 0.0, sums["sum_b"] or 0.0, sums["n"] or 0.0)


def ari_from_pair_counts(index: float, sum_a: float, sum_b: float, n: float) -> float:
    total = n * (n - 1) / 2
    if total == 0:
        return 1.0
    expected = sum_a * sum_b / total
    maximum = (sum_a + sum_b) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


@dataclass(frozen=True)
class Candidate:
    k: int
    silhouette: float
    cost: float
    min_share: float
    seed_stability: float  # mean ARI of the other seeds' fits against the reference fit
    subsample_stability: float = 1.0  # mean ARI of sub-sample refits (assigning everyone) against it

    @property
    def stability(self) -> float:
        return min(self.seed_stability, self.subsample_stability)

    def acceptable(self, min_share: float, min_stability: float) -> bool:
        return self.min_share >= min_share and self.stability >= min_stability


def evaluate_k(prepared: DataFrame, k: int, cfg: SegmentationConfig) -> tuple[Candidate, ClusteringModel]:
    """Fit k with every configured seed and on sub-samples; report the first seed's fit
    and how well the others agree with it on every customer."""
    first_seed, *other_seeds = cfg.seeds
    reference = fit_best(prepared, cfg, k, first_seed)
    # only the reference label is kept: a mixture's probability column would clash with the refits'
    assigned = reference.transform(prepared).select(*prepared.columns, F.col(CLUSTER_COL).alias("_reference")).cache()

    def agreement(model: ClusteringModel) -> float:
        return adjusted_rand_index(model.transform(assigned), "_reference", CLUSTER_COL)

    by_seed = [agreement(fit_best(prepared, cfg, k, seed)) for seed in other_seeds]
    by_subsample = []
    for i in range(cfg.stability.subsamples):
        subsample = prepared.sample(withReplacement=False, fraction=cfg.stability.subsample_fraction, seed=1000 + i)
        by_subsample.append(agreement(fit_best(subsample, cfg, k, cfg.seeds[i % len(cfg.seeds)] + 1000 + i)))
    candidate = Candidate(
        k=k,
        silhouette=silhouette(assigned.withColumnRenamed("_reference", CLUSTER_COL)),
        cost=within_cost(assigned.withColumnRenamed("_reference", CLUSTER_COL), reference),
        min_share=min(segment_shares(reference)),
        seed_stability=sum(by_seed) / len(by_seed) if by_seed else 1.0,
        subsample_stability=sum(by_subsample) / len(by_subsample) if by_subsample else 1.0,
    )
    assigned.unpersist()
    return candidate, reference


def _why_rejected(c: Candidate, min_share: float, min_stability: float) -> str:
    reasons = []
    if c.min_share < min_share:
        reasons.append(f"smallest segment {c.min_share:.1%} < {min_share:.0%}")
    if c.seed_stability < min_stability:
        reasons.append(f"stability across seeds {c.seed_stability:.2f} < {min_stability}")
    if c.subsample_stability < min_stability:
        reasons.append(f"stability across sub-samples {c.subsample_stability:.2f} < {min_stability}")
    return f"k={c.k}: " + " and ".join(reasons)


def choose_k(
    candidates: list[Candidate], min_share: float, min_stability: float, silhouette_tolerance: float = 0.0
) -> tuple[Candidate, str]:
    """Among k that are neither over-segmented nor unstable, the largest whose silhouette
    is within `silhouette_tolerance` of the best; the reason names what ruled every other
    k out."""
    ok = [c for c in candidates if c.acceptable(min_share, min_stability)]
    if not ok:
        best = max(candidates, key=lambda c: c.silhouette)
        return best, (
            f"k={best.k}: no k met share >= {min_share:.0%} and stability >= {min_stability} "
            f"({'; '.join(_why_rejected(c, min_share, min_stability) for c in candidates)}); "
            "fell back to the best silhouette"
        )
    top = max(ok, key=lambda c: c.silhouette)
    close = [c for c in ok if c.silhouette >= top.silhouette - silhouette_tolerance]
    best = max(close, key=lambda c: c.k)
    if best is top:
        why = f"k={best.k}: best silhouette {best.silhouette:.3f} among acceptable k"
    else:
        why = (
            f"k={best.k}: largest acceptable k with silhouette {best.silhouette:.3f} within "
            f"{silhouette_tolerance} of the best (k={top.k}: {top.silhouette:.3f})"
        )
    rejected = [_why_rejected(c, min_share, min_stability) for c in candidates if c not in ok]
    if rejected:
        why += "; rejected " + ", ".join(rejected)
    return best, why


def labelling(segment_of: dict[int, int], persona_of: dict[int, str]) -> SQLTransformer:
    """Cluster index -> stable segment id and persona name, as a pipeline stage, so a
    registered model scores with the same ids and names it was published with."""

    def quoted(s: str) -> str:
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"

    ids = " ".join(f"WHEN {c} THEN {s}" for c, s in sorted(segment_of.items()))
    names = " ".join(f"WHEN {c} THEN {quoted(n)}" for c, n in sorted(persona_of.items()))
    return SQLTransformer(
        statement=(
            f"SELECT *, CAST(CASE `{CLUSTER_COL}` {ids} END AS INT) AS `{PREDICTION_COL}`, "
            f"CASE `{CLUSTER_COL}` {names} END AS `{PERSONA_COL}` FROM __THIS__"
        )
    )


def full_model(prep: PipelineModel, clustering: ClusteringModel, label: Transformer | None = None) -> PipelineModel:
    stages: list[Transformer] = [*prep.stages, clustering]
    if label is not None:
        stages.append(label)
    return PipelineModel(stages=stages)


def clustering_stage(model: PipelineModel) -> ClusteringModel:
    for stage in model.stages:
        if isinstance(stage, KMeansModel | BisectingKMeansModel | GaussianMixtureModel):
            return stage
    raise ValueError("not a segmentation pipeline: no clustering stage")


def with_centroid_distance(assigned: DataFrame, model: ClusteringModel) -> DataFrame:
    """Euclidean distance (in model space) from each customer to its cluster's centre."""
    squared = squared_distance_to_center(centers(model), F.col(CLUSTER_COL), F.col(FEATURES_COL))
    return assigned.withColumn("distance_to_centroid", F.sqrt(squared))
