"""The jobs: each stage's extract -> transform -> load, and the whole DAG in order.

Every job returns the lines of its summary; the CLI prints them. Each stage also records
its figures in gold.run_metrics so runs can be compared over time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from pyspark.sql import SparkSession

from seglake.catalog import ALL_TABLES, GOLD_RUN_METRICS, Catalog
from seglake.config.schema import SeglakeConfig
from seglake.errors import ConfigError
from seglake.features.build import build_features, resolve_as_of
from seglake.generate import generate_landing
from seglake.ingest.bronze import ingest_bronze
from seglake.ingest.silver import build_silver
from seglake.runs import RunContext

Lines = list[str]


@dataclass(frozen=True)
class JobContext:
    spark: SparkSession
    cfg: SeglakeConfig
    catalog: Catalog
    run: RunContext
    progress: Callable[[str], None] = print


def record_metrics(ctx: JobContext, stage: str, metrics: dict[tuple[str, str], float]) -> None:
    rows = [
        (ctx.run.run_id, ctx.run.started_at, stage, table, metric, float(value))
        for (table, metric), value in metrics.items()
    ]
    if not rows:
        return
    df = ctx.spark.createDataFrame(
        rows, "run_id string, run_started_at timestamp, stage string, table_name string, metric string, value double"
    )
    ctx.catalog.append(df, GOLD_RUN_METRICS)


def run_generate(
    ctx: JobContext, customers: int | None = None, events: int | None = None, seed: int | None = None
) -> Lines:
    gen = ctx.cfg.generator
    gen = replace(
        gen,
        customers=customers if customers is not None else gen.customers,
        events=events if events is not None else gen.events,
        seed=seed if seed is not None else gen.seed,
    )
    summary = generate_landing(ctx.spark, gen, ctx.cfg.paths.landing, progress=ctx.progress)
    return summary.lines()


def run_bronze(ctx: JobContext) -> Lines:
    results = ingest_bronze(ctx.spark, ctx.cfg, ctx.catalog, ctx.run)
    record_metrics(
        ctx,
        "bronze",
        {
            (f"bronze.{r.source}", m): v
            for r in results
            for m, v in (("files_new", r.files_new), ("rows_added", r.rows_added))
        },
    )
    return [f"bronze.{r.source:<13} +{r.rows_added:>10,} rows from {r.files_new} new file(s)" for r in results]


def run_silver(ctx: JobContext, full_refresh: bool = False) -> Lines:
    result = build_silver(ctx.spark, ctx.cfg, ctx.catalog, ctx.run, full_refresh=full_refresh)
    metrics: dict[tuple[str, str], float] = {}
    lines = ["this run (new bronze rows -> silver / quarantined / duplicates; stored rows changed):"]
    for s in result.sources:
        r = s.this_run
        lines.append(
            f"  {s.source:<13} {r.bronze_rows:>10,} -> {r.silver_rows:>10,} / {r.quarantined_rows:>7,} / "
            f"{r.duplicates_removed:>7,}"
            + (f"; changed {r.changed_rows:,}, late {r.late_rows:,}" if s.source == "events" else "")
        )
    lines.append("all data (bronze = silver + quarantined + duplicates):")
    for s in result.sources:
        lines.append(
            f"  {s.source:<13} bronze {s.bronze_rows:>10,} = silver {s.silver_rows:>10,} + quarantined "
            f"{s.quarantined_rows:>7,} + duplicates {s.duplicates_removed:>7,}  {'ok' if s.balanced else 'MISMATCH'}"
        )
        r = s.this_run
        metrics.update(
            {
                (s.source, "bronze_rows"): s.bronze_rows,
                (s.source, "silver_rows"): s.silver_rows,
                (s.source, "quarantined_rows"): s.quarantined_rows,
                (s.source, "duplicates_removed"): s.duplicates_removed,
                (s.source, "balanced"): float(s.balanced),
                (s.source, "run_bronze_rows"): r.bronze_rows,
                (s.source, "run_silver_rows"): r.silver_rows,
                (s.source, "run_quarantined_rows"): r.quarantined_rows,
                (s.source, "run_duplicates_removed"): r.duplicates_removed,
                (s.source, "run_changed_rows"): r.changed_rows,
                (s.source, "run_late_rows"): r.late_rows,
            }
        )
    for reason, n in result.quarantine_by_reason.items():
        metrics[("silver.quarantine", f"reason:{reason}")] = n
    for outcome in result.rule_outcomes:
        metrics[("silver.quality", f"rule:{outcome.rule.name}:{outcome.rule.action}")] = outcome.violations
    for field, n in result.unparsed_event_fields.items():
        metrics[("silver.events", f"unparsed_field:{field}")] = n
    metrics[("silver.events", "bot_events")] = result.bot_events
    metrics[("silver.sessions", "rows")] = result.sessions
    metrics[("silver.sessions", "run_rebuilt")] = result.sessions_rebuilt
    metrics[("silver.identity_map", "rows")] = result.identity_links
    metrics[("silver.changed_dates", "run_dates")] = len(result.changed_dates)
    record_metrics(ctx, "silver", metrics)
    reasons = ", ".join(f"{k}={v:,}" for k, v in result.quarantine_by_reason.items()) or "none"
    broken = ", ".join(
        f"{o.rule.name}={o.violations:,} ({o.rule.action})" for o in result.rule_outcomes if o.violations
    )
    dates = result.changed_dates
    lines += [
        f"quarantine reasons: {reasons}",
        f"quality rules broken this run: {broken or 'none'}",
        "new event fields this run (schema drift; kept raw in bronze): "
        + (", ".join(f"{k}={v:,}" for k, v in result.unparsed_event_fields.items()) or "none"),
        f"bot events flagged: {result.bot_events:,}; sessions: {result.sessions:,} ({result.sessions_rebuilt:,} "
        f"rebuilt this run); anonymous ids stitched: {result.identity_links:,}",
        (
            f"dates changed this run: {len(dates)} ({dates[0]} .. {dates[-1]}); "
            f"feature snapshots after {dates[0]} are stale (silver.changed_dates)"
            if dates
            else "dates changed this run: none"
        ),
    ]
    return lines


def run_features(ctx: JobContext, as_of: str | None = None) -> tuple[Lines, date]:
    snapshot = resolve_as_of(ctx.spark, ctx.cfg, ctx.catalog, as_of)
    result = build_features(ctx.spark, ctx.cfg, ctx.catalog, snapshot)
    metrics = {
        ("gold.customer_features", "rows"): result.customers,
        ("gold.customer_features", "columns"): result.columns,
    }
    metrics[("gold.customer_daily_events", "days_recomputed")] = result.event_days.days
    lines = [f"gold.customer_features as_of {result.as_of}: {result.customers:,} customers, {result.columns} columns"]
    drift = result.drift
    if drift is None:
        lines.append("feature drift: no earlier snapshot to compare with")
    else:
        threshold = ctx.cfg.features.drift.psi_threshold
        metrics[("gold.feature_drift", "large_drift_features")] = len(drift.large)
        metrics.update({("gold.feature_drift", f"psi:{name}"): psi for name, psi in drift.large})
        shown = ", ".join(f"{name} {psi:.2f}" for name, psi in drift.large[:8])
        more = f" (+{len(drift.large) - 8} more)" if len(drift.large) > 8 else ""
        lines.append(
            f"feature drift vs {drift.previous_as_of} (PSI over {drift.features} features): "
            + (
                f"LARGE (> {threshold:g}) for {len(drift.large)}: {shown}{more}"
                if drift.large
                else f"none > {threshold:g}"
            )
        )
    lines.append(result.event_days.describe())
    record_metrics(ctx, "features", metrics)
    return lines, snapshot


def run_segments(ctx: JobContext, as_of: str | None = None) -> Lines:
    # MLflow is slow to import; only the jobs that train pay for it.
    from seglake.segmentation.train import train_segments

    snapshot = resolve_as_of(ctx.spark, ctx.cfg, ctx.catalog, as_of)
    r = train_segments(ctx.spark, ctx.cfg, ctx.catalog, ctx.run, snapshot)
    record_metrics(
        ctx,
        "segments",
        {
            ("gold.segment_assignments", "rows"): r.customers,
            ("gold.segment_assignments", "k"): r.k,
            ("gold.segment_assignments", "silhouette"): r.silhouette,
            ("gold.segment_assignments", "stability_ari"): r.stability,
            ("gold.segment_profiles", "kept_from_previous"): r.kept_from_previous,
            ("gold.segment_transitions", "moved"): r.moved,
        },
    )
    lines = [f"segments as_of {r.as_of}: k={r.k} over {r.customers:,} consenting customers", f"  why: {r.reason}"]
    if r.skipped_features:
        lines.append(f"  optional features not in the snapshot (skipped): {', '.join(r.skipped_features)}")
    lines += [f"  segment {s}: {share:6.1%}  {name}" for s, name, share in r.personas]
    if r.previous_as_of is not None:
        lines.append(
            f"  vs {r.previous_as_of}: {r.kept_from_previous} of {r.k} segments kept their id and name; "
            f"{r.moved:,} customers changed segment or entered"
        )
    lines.append(f"MLflow run {r.mlflow_run_id}; model {r.model_name} v{r.model_version} (alias {r.alias})")
    return lines


def run_score_segments(ctx: JobContext, as_of: str | None = None) -> Lines:
    """Assign a snapshot's customers with the registered model (by alias); no training."""
    from seglake.segmentation.score import score_segments

    snapshot = resolve_as_of(ctx.spark, ctx.cfg, ctx.catalog, as_of)
    r = score_segments(ctx.spark, ctx.cfg, ctx.catalog, ctx.run, snapshot)
    record_metrics(
        ctx,
        "score-segments",
        {
            ("gold.segment_assignments", "rows"): r.customers,
            ("gold.segment_assignments", "model_version"): float(r.model_version),
            ("gold.segment_transitions", "moved"): r.moved,
        },
    )
    lines = [
        f"segments as_of {r.as_of}: {r.customers:,} customers scored with {r.model_name} v{r.model_version} "
        f"(alias {r.alias}, trained in MLflow run {r.mlflow_run_id})"
    ]
    lines += [f"  segment {s}: {share:6.1%}  {name}" for s, name, share in r.personas]
    if r.previous_as_of is not None:
        lines.append(f"  vs {r.previous_as_of}: {r.moved:,} customers changed segment or entered")
    return lines


def _propensity_labels(ctx: JobContext, labels: list[str] | None) -> list[str]:
    chosen = list(labels or ctx.cfg.propensity.train_labels)
    if not chosen:
        raise ConfigError("no propensity label to run: pass --label NAME or list propensity.train_labels")
    return chosen


def run_propensity_train(ctx: JobContext, labels: list[str] | None = None) -> Lines:
    """One model per label; the new version is `challenger`, promoted to `champion` if it wins."""
    # MLflow is slow to import; only the jobs that train pay for it.
    from seglake.propensity.train import train_propensity

    lines: Lines = []
    metrics: dict[tuple[str, str], float] = {}
    for label in _propensity_labels(ctx, labels):
        r = train_propensity(ctx.spark, ctx.cfg, ctx.catalog, ctx.run, label, ctx.progress)
        n_test, pos_test = r.rows.get("test", (0, 0))
        lines += [
            f"propensity {label}: {r.backend} {r.best_params} chosen by {r.search_method}",
            f"  snapshots train {', '.join(map(str, r.plan.train))}; validation "
            f"{', '.join(map(str, r.plan.validation)) or '-'}; test {', '.join(map(str, r.plan.test))}",
            f"  test: {n_test:,} customers, {pos_test:,} positive ({r.model.base_rate:.1%})",
            f"  test ROC AUC {r.model.roc_auc:.3f} (logistic baseline {r.baseline.roc_auc:.3f}, "
            f"{r.model.roc_auc - r.baseline.roc_auc:+.3f}); PR AUC {r.model.pr_auc:.3f} "
            f"({r.baseline.pr_auc:.3f}); log loss {r.model.log_loss:.3f}; Brier {r.model.brier:.3f}; "
            f"top-decile lift {r.model.deciles[0].lift:.2f}",
            f"  model {r.model_name} v{r.model_version} (alias challenger): {r.decision.reason}",
            f"  MLflow run {r.mlflow_run_id}",
        ]
        metrics.update(
            {
                (f"propensity:{label}", "test_roc_auc"): r.model.roc_auc,
                (f"propensity:{label}", "baseline_test_roc_auc"): r.baseline.roc_auc,
                (f"propensity:{label}", "test_pr_auc"): r.model.pr_auc,
                (f"propensity:{label}", "promoted"): 1.0 if r.decision.promote else 0.0,
            }
        )
    record_metrics(ctx, "propensity-train", metrics)
    return lines


def run_propensity_score(ctx: JobContext, as_of: str | None = None, labels: list[str] | None = None) -> Lines:
    from seglake.propensity.score import score_snapshot

    snapshot = resolve_as_of(ctx.spark, ctx.cfg, ctx.catalog, as_of)
    lines: Lines = []
    metrics: dict[tuple[str, str], float] = {}
    for label in _propensity_labels(ctx, labels):
        r = score_snapshot(ctx.spark, ctx.cfg, ctx.catalog, ctx.run, label, snapshot, ctx.progress)
        lines.append(
            f"gold.propensity_scores as_of {r.as_of} {label}: {r.customers:,} customers scored by "
            f"{r.model_name} v{r.model_version} (champion), mean score {r.mean_score:.3f}"
        )
        metrics[("gold.propensity_scores", f"rows:{label}")] = r.customers
    record_metrics(ctx, "propensity-score", metrics)
    return lines


def run_pipeline(
    ctx: JobContext,
    generate: bool = False,
    as_of: str | None = None,
    full_refresh: bool = False,
    **generate_args: int | None,
) -> Lines:
    """generate (optional) -> bronze -> silver -> features -> segments, then table sizes."""
    lines: Lines = []
    stages: list[tuple[str, Callable[[], Lines]]] = []
    if generate:
        stages.append(("generate", lambda: run_generate(ctx, **generate_args)))
    stages += [("bronze", lambda: run_bronze(ctx)), ("silver", lambda: run_silver(ctx, full_refresh))]
    snapshot: dict[str, date] = {}

    def features() -> Lines:
        out, snapshot["as_of"] = run_features(ctx, as_of)
        return out

    stages += [("features", features), ("segments", lambda: run_segments(ctx, (snapshot["as_of"]).isoformat()))]
    for name, stage in stages:
        started = time.monotonic()
        ctx.progress(f"[{name}] running ...")
        lines += stage()
        ctx.progress(f"[{name}] done in {time.monotonic() - started:,.0f}s")
    return lines + ["", "tables:"] + table_sizes(ctx)


def table_sizes(ctx: JobContext) -> Lines:
    """Row count of every existing table (Delta answers counts from its metadata)."""
    out = []
    for t in ALL_TABLES:
        if ctx.catalog.exists(ctx.spark, t):
            out.append(
                f"  {t.qualified_name:<28} {ctx.catalog.read(ctx.spark, t).count():>12,} rows  {ctx.catalog.path(t)}"
            )
    return out
