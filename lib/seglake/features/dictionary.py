"""The data dictionary of gold.customer_features, generated from conf.

The same descriptions become the Delta column comments when the features job writes the
table; this module renders them as markdown (column, family, type, description), with the
windows, treatments, engagement weights and drift settings they depend on.

    python -m seglake.features.dictionary --env local --out docs/data_dictionary.md
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from seglake.config import load_config
from seglake.config.schema import FeaturesConfig
from seglake.errors import SeglakeError
from seglake.features.context import channel_labels, region_reference
from seglake.features.rfm import NO_ORDER_GROUP, RFM_GROUPS
from seglake.features.snapshot import INPUT_SCHEMAS, FeatureInputs, customer_features
from seglake.features.spec import declared_features

FAMILY_TITLES = {
    "keys": "Keys and consent",
    "rfm": "RFM (orders)",
    "behaviour": "Behaviour (sessions and events)",
    "context": "Context (devices, time, calendar, acquisition, geography)",
    "demographics": "Demographics (only with profiling consent)",
    "engagement": "Engagement",
    "treatments": "Treated copies (imputation and outliers)",
}


def empty_inputs(spark: SparkSession) -> FeatureInputs:
    frames = {name: spark.createDataFrame([], ddl) for name, ddl in INPUT_SCHEMAS.items()}
    return FeatureInputs(**frames, regions=region_reference(spark))


def snapshot_schema(spark: SparkSession, cfg: FeaturesConfig) -> DataFrame:
    """The snapshot as the job would write it, computed over empty inputs (types exact)."""
    return customer_features(empty_inputs(spark), date(2000, 1, 1), cfg)


def render(snapshot: DataFrame, cfg: FeaturesConfig) -> str:
    family = {d.column: d.family for d in declared_features(cfg)}
    lines = [
        "# gold.customer_features — data dictionary",
        "",
        "Generated from `conf/` by `make data-dictionary`; do not edit by hand. The same",
        "descriptions are the column comments of the Delta table (`DESCRIBE TABLE`).",
        "",
        "One row per customer per snapshot date `as_of`, computed only from records before",
        "00:00 UTC on `as_of` (orders placed, sessions ended, events sent, the profile version",
        "in force). Bots are excluded. Counts are 0 when there is nothing to count; every other",
        "value that cannot be known is null, never 0 (see the treated copies for imputed values).",
        "",
        f"- windows (`{{w}}`): {', '.join(f'{w} days' for w in sorted(set(cfg.windows_days)))}",
        f"- profile window (RFM scores, context, affinity, calendar): {cfg.profile_window_days} days",
        f"- trends: daily rate over the last {cfg.trend_recent_days} days / the {cfg.trend_previous_days} before",
        f"- acquisition channels: {', '.join(channel_labels(cfg))}",
        "- RFM groups (recency score, frequency score): "
        + "; ".join(f"{name} ({'/'.join(map(str, r))}, {'/'.join(map(str, f))})" for name, r, f in RFM_GROUPS)
        + f"; {NO_ORDER_GROUP} (never ordered)",
        "- engagement score = 100 x weighted mean of: "
        + "; ".join(
            f"{c.feature} (weight {c.weight:g}, 0 at {c.zero_at:g}, 1 at {c.full_at:g})" for c in cfg.engagement
        ),
        f"- drift: PSI per feature against the previous snapshot in gold.feature_drift "
        f"({cfg.drift.bins} quantile bins; reported above {cfg.drift.psi_threshold:g}), from the snapshots' "
        f"histograms in gold.feature_histograms"
        + (f" (a fixed hash sample of {n:,} customers when larger)" if (n := cfg.drift.sample_customers) else ""),
        "",
    ]
    current = None
    for f in snapshot.schema.fields:
        fam = family.get(f.name, "treatments" if f.name.endswith(("_clean", "_missing")) else "keys")
        if fam != current:
            lines += ["", f"## {FAMILY_TITLES[fam]}", "", "| column | type | description |", "|---|---|---|"]
            current = fam
        text = f.metadata.get("comment", "").replace("|", "\\|")
        lines.append(f"| `{f.name}` | {f.dataType.simpleString()} | {text} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seglake.features.dictionary", description=__doc__)
    parser.add_argument("--env", default="local")
    parser.add_argument("--conf-dir", default=None)
    parser.add_argument("--out", default="docs/data_dictionary.md")
    args = parser.parse_args(argv)
    from seglake.session import get_spark

    try:
        cfg = load_config(args.env, args.conf_dir)
        spark = get_spark(cfg.spark)
        text = render(snapshot_schema(spark, cfg.features), cfg.features)
    except SeglakeError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
