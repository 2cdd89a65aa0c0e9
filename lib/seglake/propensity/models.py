"""Model pipelines (GBT, XGBoost, logistic baseline), class weights, hyper-parameter search."""

from __future__ import annotations

import itertools
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyspark.ml import Estimator, Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression, LogisticRegressionModel
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import Imputer, SQLTransformer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglake.config.schema import PropensityConfig, PropensitySearch
from seglake.errors import EnvironmentSetupError
from seglake.propensity.labels import LABEL_COL

FEATURES_COL = "features"
WEIGHT_COL = "class_weight"
SCORE_COL = "score"
BACKENDS = ("gbt", "xgboost")


@dataclass(frozen=True)
class TreeParams:
    max_depth: int
    n_trees: int
    learning_rate: float
    subsample: float

    def as_dict(self) -> dict[str, float]:
        return {
            "max_depth": self.max_depth,
            "n_trees": self.n_trees,
            "learning_rate": self.learning_rate,
            "subsample": self.subsample,
        }


@dataclass(frozen=True)
class ClassWeights:
    positive: float
    negative: float

    @property
    def odds_factor(self) -> float:
        """How much weighting multiplied the model's odds; scores divide it back out."""
        return self.positive / self.negative


def class_weights(train: DataFrame, mode: str) -> tuple[ClassWeights, int, int]:
    """Balanced weights (each class carries half the total weight), from two counts."""
    row = train.agg(F.count(F.lit(1)).alias("n"), F.sum(F.col(LABEL_COL)).alias("pos")).first()
    n, pos = int(row["n"]), int(row["pos"] or 0)
    neg = n - pos
    if mode == "none" or pos == 0 or neg == 0:
        return ClassWeights(1.0, 1.0), pos, neg
    return ClassWeights(n / (2.0 * pos), n / (2.0 * neg)), pos, neg


def with_weights(df: DataFrame, weights: ClassWeights) -> DataFrame:
    w = F.when(F.col(LABEL_COL) == 1, F.lit(weights.positive)).otherwise(F.lit(weights.negative))
    return df.withColumn(WEIGHT_COL, w.cast("double")).withColumn(LABEL_COL, F.col(LABEL_COL).cast("double"))


def score_column(odds_factor: float, probability_col: str = "probability") -> Column:
    """P(label = 1) with the class-weight odds shift undone, so scores are calibrated
    probabilities rather than balanced-sample ones."""
    p = vector_to_array(F.col(probability_col))[1]
    if odds_factor == 1.0:
        return p
    return p / (p + (F.lit(1.0) - p) * F.lit(odds_factor))


def _preprocessing(cfg: PropensityConfig, linear: bool) -> list:
    fills = ", ".join(
        f"coalesce(CAST(`{f}` AS DOUBLE), {float(cfg.fill_values[f])}) AS `{f}__filled`"
        if f in cfg.fill_values
        else f"CAST(`{f}` AS DOUBLE) AS `{f}__filled`"
        for f in cfg.features
    )
    stages: list = [
        SQLTransformer(statement=f"SELECT *, {fills} FROM __THIS__"),
        Imputer(
            inputCols=[f"{f}__filled" for f in cfg.features],
            outputCols=[f"{f}__in" for f in cfg.features],
            strategy="median",
        ),
    ]
    if linear:
        logs = [f for f in cfg.features if f in cfg.log_features]
        if logs:
            exprs = ", ".join(f"log1p(greatest(`{f}__in`, 0D)) AS `{f}__log`" for f in logs)
            stages.append(SQLTransformer(statement=f"SELECT *, {exprs} FROM __THIS__"))
        inputs = [f"{f}__log" if f in cfg.log_features else f"{f}__in" for f in cfg.features]
        stages += [
            VectorAssembler(inputCols=inputs, outputCol="raw_features", handleInvalid="keep"),
            StandardScaler(inputCol="raw_features", outputCol=FEATURES_COL, withMean=True, withStd=True),
        ]
    else:
        stages.append(
            VectorAssembler(inputCols=[f"{f}__in" for f in cfg.features], outputCol=FEATURES_COL, handleInvalid="keep")
        )
    return stages


def xgboost_classifier(workers: int):
    try:
        from xgboost.spark import SparkXGBClassifier
    except ImportError as exc:
        raise EnvironmentSetupError(
            f"propensity.backend is xgboost but xgboost.spark cannot be imported ({exc}); "
            "install the xgboost-cpu version pinned in setup.py or set propensity.backend: gbt"
        ) from None
    # The Python workers it starts log every boosting round at INFO otherwise.
    logging.getLogger("XGBoost-PySpark").setLevel(logging.WARNING)
    return SparkXGBClassifier(
        features_col=FEATURES_COL,
        label_col=LABEL_COL,
        weight_col=WEIGHT_COL,
        num_workers=workers,
        verbosity=0,
        verbose=False,
        tree_method="hist",
        missing=float("nan"),
    )


def tree_estimator(backend: str, cfg: PropensityConfig) -> Estimator:
    if backend == "gbt":
        return GBTClassifier(featuresCol=FEATURES_COL, labelCol=LABEL_COL, weightCol=WEIGHT_COL, seed=cfg.search.seed)
    if backend == "xgboost":
        return xgboost_classifier(cfg.xgboost_workers)
    raise EnvironmentSetupError(f"unknown propensity backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def tree_param_map(backend: str, est: Estimator, p: TreeParams) -> dict:
    if backend == "gbt":
        return {
            est.maxDepth: p.max_depth,
            est.maxIter: p.n_trees,
            est.stepSize: p.learning_rate,
            est.subsamplingRate: p.subsample,
        }
    return {
        est.getParam("max_depth"): p.max_depth,
        est.getParam("n_estimators"): p.n_trees,
        est.getParam("learning_rate"): p.learning_rate,
        est.getParam("subsample"): p.subsample,
    }


def tree_pipeline(backend: str, cfg: PropensityConfig) -> tuple[Pipeline, Estimator]:
    est = tree_estimator(backend, cfg)
    return Pipeline(stages=[*_preprocessing(cfg, linear=False), est]), est


def fit_pipeline(pipeline: Pipeline, data: DataFrame, params: dict) -> PipelineModel:
    """`pipeline.fit` without the training summary MLlib keeps on a logistic regression.

    The model's predictions run in a UDF that captures the model, and the summary holds
    the SparkSession; once the session has created its (unserialisable) observation
    manager, which other work in the same session can trigger, the model can no longer
    be applied. The summary is never used here."""
    model = pipeline.fit(data, params=params)
    for stage in model.stages:
        if isinstance(stage, LogisticRegressionModel) and stage.hasSummary:
            jvm = data.sparkSession.sparkContext._jvm  # noqa: SLF001
            stage._java_obj.setSummary(jvm.scala.Option.empty())  # noqa: SLF001
    return model


def baseline_pipeline(cfg: PropensityConfig) -> tuple[Pipeline, LogisticRegression]:
    est = LogisticRegression(featuresCol=FEATURES_COL, labelCol=LABEL_COL, weightCol=WEIGHT_COL, maxIter=100)
    return Pipeline(stages=[*_preprocessing(cfg, linear=True), est]), est


def candidates(search: PropensitySearch) -> list[TreeParams]:
    """The grid, or `search.candidates` combinations drawn from it without replacement."""
    grid = [
        TreeParams(int(d), int(n), float(lr), float(s))
        for d, n, lr, s in itertools.product(search.max_depth, search.n_trees, search.learning_rate, search.subsample)
    ]
    if not grid:
        raise EnvironmentSetupError("propensity.search: every grid list needs at least one value")
    if search.strategy == "random" and search.candidates < len(grid):
        return random.Random(search.seed).sample(grid, search.candidates)
    return grid


def roc_auc(scored: DataFrame, score_col: str = "probability") -> float:
    return BinaryClassificationEvaluator(rawPredictionCol=score_col, labelCol=LABEL_COL).evaluate(scored)


@dataclass(frozen=True)
class SearchResult:
    best_index: int
    scores: list[float]  # validation (or mean CV) ROC AUC per candidate
    method: str


def search(
    pipeline: Pipeline,
    param_maps: list[dict],
    train: DataFrame,
    validation: DataFrame | None,
    search_cfg: PropensitySearch,
    parallelism: int,
) -> SearchResult:
    """Pick the candidate with the best ROC AUC: on the validation snapshots (a time split),
    or by k-fold cross-validation over the training period when cv_folds > 1. A single
    candidate needs no search."""
    if len(param_maps) == 1:
        return SearchResult(0, [], "a single candidate")
    if search_cfg.cv_folds > 1 or validation is None:
        folds = search_cfg.cv_folds if search_cfg.cv_folds > 1 else 3
        cv = CrossValidator(
            estimator=pipeline,
            estimatorParamMaps=param_maps,
            evaluator=BinaryClassificationEvaluator(rawPredictionCol="probability", labelCol=LABEL_COL),
            numFolds=folds,
            parallelism=parallelism,
            seed=search_cfg.seed,
        )
        model = cv.fit(train)
        scores = list(model.avgMetrics)
        return SearchResult(max(range(len(scores)), key=scores.__getitem__), scores, f"{folds}-fold CV")

    def evaluate(pm: dict) -> float:
        model = fit_pipeline(pipeline, train, pm)
        return roc_auc(model.transform(validation))

    if parallelism > 1 and len(param_maps) > 1:
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            scores = list(pool.map(evaluate, param_maps))
    else:
        scores = [evaluate(pm) for pm in param_maps]
    return SearchResult(max(range(len(scores)), key=scores.__getitem__), scores, "validation snapshots")


def baseline_param_maps(est: LogisticRegression, search_cfg: PropensitySearch) -> list[dict]:
    grid = ParamGridBuilder().addGrid(est.regParam, [float(r) for r in search_cfg.baseline_reg_param]).build()
    return grid or [{}]


def feature_importances(model: PipelineModel, backend: str, features: list[str]) -> dict[str, float]:
    """Normalised importances (sum 1): split gain for trees, |standardised coefficient| for
    the logistic baseline."""
    last = model.stages[-1]
    if backend == "gbt":
        raw = list(last.featureImportances.toArray())
    elif backend == "xgboost":
        gain = last.get_booster().get_score(importance_type="total_gain")
        raw = [float(gain.get(f"f{i}", 0.0)) for i in range(len(features))]
    else:
        raw = [abs(c) for c in last.coefficients.toArray()]
    total = sum(raw) or 1.0
    return {f: v / total for f, v in zip(features, raw, strict=True)}
