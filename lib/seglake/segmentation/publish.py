"""What a segmentation run publishes: assignments, segment profiles and transitions.

Shared by training (which names the segments) and scoring with a registered model (which
carries the names in its labelling stage). Only per-segment aggregates (k rows) and one
population row ever reach the driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from seglake.catalog import GOLD_SEGMENT_ASSIGNMENTS, GOLD_SEGMENT_PROFILES, GOLD_SEGMENT_TRANSITIONS, Catalog
from seglake.config.schema import PersonaConfig, SegmentationConfig
from seglake.segmentation import personas
from seglake.segmentation.model import PERSONA_COL, PREDICTION_COL, model_input_column

PROFILE_SCHEMA = (
    "as_of date, segment_id int, persona string, description string, customers long, share double, "
    "centroid map<string,double>, centroid_z map<string,double>, top_features array<string>, "
    "model_name string, model_version string, mlflow_run_id string, run_id string"
)


def segment_population(features: DataFrame, cfg: SegmentationConfig) -> DataFrame:
    if cfg.require_profiling_consent:
        return features.where(F.coalesce(F.col("consent_profiling"), F.lit(False)))
    return features


@dataclass(frozen=True)
class SegmentStats:
    """Per group (cluster or segment): size, centroid z-scores of the model inputs against
    the whole population, and means in the features' original units."""

    keys: list[int]
    sizes: list[int]
    total: int
    z: list[list[float]]
    means: list[dict[str, float | None]]
    population_means: dict[str, float | None]

    def shares(self) -> list[float]:
        return [s / self.total for s in self.sizes]

    def z_maps(self, features: list[str]) -> list[dict[str, float]]:
        return [dict(zip(features, row, strict=True)) for row in self.z]


def segment_stats(assigned: DataFrame, key: str, features: list[str]) -> SegmentStats:
    inputs = [model_input_column(f) for f in features]
    rows = (
        assigned.groupBy(key)
        .agg(
            F.count(F.lit(1)).alias("_size"),
            *[F.avg(c).alias(f"in::{c}") for c in inputs],
            *[F.avg(F.col(f).cast("double")).alias(f"orig::{f}") for f in features],
        )
        .orderBy(key)
        .collect()
    )
    pop = assigned.agg(
        *[F.avg(c).alias(f"mean::{c}") for c in inputs],
        *[F.stddev_pop(c).alias(f"std::{c}") for c in inputs],
        *[F.avg(F.col(f).cast("double")).alias(f"orig::{f}") for f in features],
    ).first()

    def z(row, c: str) -> float:
        std = pop[f"std::{c}"]
        return (row[f"in::{c}"] - pop[f"mean::{c}"]) / std if std else 0.0

    return SegmentStats(
        keys=[int(r[key]) for r in rows],
        sizes=[int(r["_size"]) for r in rows],
        total=sum(int(r["_size"]) for r in rows),
        z=[[z(r, c) for c in inputs] for r in rows],
        means=[{f: r[f"orig::{f}"] for f in features} for r in rows],
        population_means={f: pop[f"orig::{f}"] for f in features},
    )


def profile_rows(
    spark: SparkSession,
    as_of: date,
    stats: SegmentStats,
    segment_ids: list[int],
    names: list[str],
    features: list[str],
    lineage: dict[str, str],
    persona_cfg: PersonaConfig,
) -> DataFrame:
    shares = stats.shares()
    rows = []
    for i, segment_id in enumerate(segment_ids):
        top = personas.distinguishing(features, stats.z[i], top=5, threshold=persona_cfg.threshold)
        rows.append(
            (
                as_of,
                segment_id,
                names[i],
                personas.describe(
                    features, stats.z[i], stats.means[i], stats.population_means, shares[i], 5, persona_cfg.threshold
                ),
                stats.sizes[i],
                shares[i],
                {f: float(v) for f, v in stats.means[i].items() if v is not None},
                {f: float(v) for f, v in zip(features, stats.z[i], strict=True)},
                [f"{f} {'+' if zv > 0 else ''}{zv:.1f} sd" for f, zv in top],
                lineage["model_name"],
                lineage["model_version"],
                lineage["mlflow_run_id"],
                lineage["run_id"],
            )
        )
    return spark.createDataFrame(rows, PROFILE_SCHEMA)


def assignment_rows(scored: DataFrame, as_of: date, lineage: dict[str, str]) -> DataFrame:
    """scored: customers with segment id, persona and distance_to_centroid."""
    return scored.select(
        "customer_id",
        F.lit(as_of).alias("as_of"),
        F.col(PREDICTION_COL).cast("int").alias("segment_id"),
        F.col(PERSONA_COL).alias("persona"),
        F.col("distance_to_centroid").cast("double").alias("distance_to_centroid"),
        *[F.lit(v).cast("string").alias(k) for k, v in lineage.items()],
    )


def segment_transitions(
    previous: DataFrame | None, current: DataFrame, as_of: date, previous_as_of: date | None
) -> DataFrame:
    """Who moved where between two assignments (customer_id, segment_id, persona each):
    one row per (from, to) pair with its customer count and the share of the `from`
    segment it represents. A null `from` is a customer not segmented before (entered), a
    null `to` one not segmented now (left)."""
    cur = current.select(
        "customer_id", F.col("segment_id").alias("to_segment_id"), F.col("persona").alias("to_persona")
    )
    if previous is None:
        previous = current.where(F.lit(False))
    prev = previous.select(
        "customer_id", F.col("segment_id").alias("from_segment_id"), F.col("persona").alias("from_persona")
    )
    counts = (
        prev.join(cur, on="customer_id", how="full")
        .groupBy("from_segment_id", "from_persona", "to_segment_id", "to_persona")
        .agg(F.count(F.lit(1)).alias("customers"))
    )
    from_total = F.sum("customers").over(Window.partitionBy("from_segment_id"))
    return counts.select(
        F.lit(as_of).cast("date").alias("as_of"),
        F.lit(previous_as_of).cast("date").alias("previous_as_of"),
        F.col("from_segment_id").cast("int").alias("from_segment_id"),
        "from_persona",
        F.col("to_segment_id").cast("int").alias("to_segment_id"),
        "to_persona",
        F.col("customers").cast("long").alias("customers"),
        (F.col("customers") / from_total).alias("share_of_from"),
    )


def previous_as_of(spark: SparkSession, catalog: Catalog, as_of: date) -> date | None:
    """The latest snapshot segmented before `as_of` (one aggregate)."""
    if not catalog.exists(spark, GOLD_SEGMENT_ASSIGNMENTS):
        return None
    return (
        catalog.read(spark, GOLD_SEGMENT_ASSIGNMENTS)
        .where(F.col("as_of") < F.lit(as_of))
        .agg(F.max("as_of"))
        .first()[0]
    )


def previous_segments(spark: SparkSession, catalog: Catalog, before: date | None) -> list[personas.PreviousSegment]:
    """The profiles (id, persona, centroid z-scores) of the snapshot `before`: k rows."""
    if before is None or not catalog.exists(spark, GOLD_SEGMENT_PROFILES):
        return []
    profiles = catalog.read(spark, GOLD_SEGMENT_PROFILES)
    if "centroid_z" not in profiles.columns:
        return []
    rows = profiles.where(F.col("as_of") == F.lit(before)).select("segment_id", "persona", "centroid_z").collect()
    return [personas.PreviousSegment(r["segment_id"], r["persona"], dict(r["centroid_z"] or {})) for r in rows]


def write_outputs(
    spark: SparkSession,
    catalog: Catalog,
    as_of: date,
    assignments: DataFrame,
    profiles: DataFrame,
) -> int:
    """Replace this as_of's assignments, profiles and transitions (from the latest earlier
    snapshot); returns the customers who changed segment (or entered) since then."""
    before = previous_as_of(spark, catalog, as_of)
    previous = (
        catalog.read(spark, GOLD_SEGMENT_ASSIGNMENTS).where(F.col("as_of") == F.lit(before))
        if before is not None
        else None
    )
    where = f"as_of = '{as_of.isoformat()}'"
    catalog.replace_where(assignments, GOLD_SEGMENT_ASSIGNMENTS, where)
    catalog.replace_where(profiles, GOLD_SEGMENT_PROFILES, where)
    current = catalog.read(spark, GOLD_SEGMENT_ASSIGNMENTS).where(F.col("as_of") == F.lit(as_of))
    transitions = segment_transitions(previous, current, as_of, before)
    catalog.replace_where(transitions, GOLD_SEGMENT_TRANSITIONS, where)
    moved = (
        catalog.read(spark, GOLD_SEGMENT_TRANSITIONS)
        .where((F.col("as_of") == F.lit(as_of)) & F.col("to_segment_id").isNotNull())
        .where(~F.col("from_segment_id").eqNullSafe(F.col("to_segment_id")))
        .agg(F.sum("customers"))
        .first()[0]
    )
    return int(moved or 0)
