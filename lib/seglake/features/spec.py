"""The feature columns declared in conf (`features.families`), expanded and checked.

A template such as `sessions_{w}d` expands to one column per configured window; the
description is expanded the same way and becomes the data dictionary entry and the
Delta column comment.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass, fields

from pyspark.sql import types as T

from seglake.config.schema import FeatureFamilies, FeaturesConfig, FeatureTreatment
from seglake.errors import ConfigError
from seglake.features.common import slug

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class FeatureDoc:
    column: str
    family: str
    description: str


# Always present, whatever the families declare: they identify the row and say what
# the customer allowed.
KEY_COLUMNS = (
    FeatureDoc("customer_id", "keys", "Customer id (silver customer_id)."),
    FeatureDoc(
        "consent_profiling",
        "keys",
        "The customer allows profiling (profile in force at as_of); false without a profile.",
    ),
    FeatureDoc(
        "consent_marketing",
        "keys",
        "The customer allows marketing messages (profile in force at as_of); false without a profile.",
    ),
)
AS_OF_DOC = FeatureDoc("as_of", "keys", "Snapshot date: every feature uses only records before 00:00 UTC on this day.")


def placeholder_values(cfg: FeaturesConfig) -> dict[str, list[tuple[str, str]]]:
    """placeholder -> [(text in the column name, text in the description)]."""
    return {
        "w": [(str(w), str(w)) for w in sorted(set(cfg.windows_days))],
        "category": [(slug(c), c) for c in cfg.categories],
        "os": [(slug(o), o) for o in cfg.os_names],
        "device": [(slug(d), d) for d in cfg.device_types],
        "daypart": [(slug(d), f"{d} ({lo:02d}:00-{hi:02d}:59)") for d, (lo, hi) in cfg.dayparts.items()],
        "season": [(slug(s), f"{s} (months {', '.join(map(str, m))})") for s, m in cfg.seasons.items()],
        "event": [
            (slug(p.name), f"{p.name} ({p.description + ', ' if p.description else ''}{p.start} to {p.end} each year)")
            for p in cfg.calendar
        ],
    }


def declared_features(cfg: FeaturesConfig) -> list[FeatureDoc]:
    """Every declared column, in the order of conf, families in schema order."""
    values = placeholder_values(cfg)
    out: list[FeatureDoc] = []
    for family in (f.name for f in fields(FeatureFamilies)):
        for template, description in getattr(cfg.families, family).items():
            names = _PLACEHOLDER.findall(template)
            unknown = [n for n in names if n not in values]
            if unknown:
                raise ConfigError(
                    f"features.families.{family}.{template}: unknown placeholder {{{unknown[0]}}}; "
                    f"use one of: {', '.join('{' + v + '}' for v in values)}"
                )
            for combo in itertools.product(*[values[n] for n in names]):
                column, text = template, str(description)
                for name, (in_name, in_text) in zip(names, combo, strict=True):
                    column = column.replace("{" + name + "}", in_name)
                    text = text.replace("{" + name + "}", in_text)
                out.append(FeatureDoc(column, family, text))
    seen: set[str] = set()
    for doc in out:
        if doc.column in seen:
            raise ConfigError(f"features.families: column '{doc.column}' is declared twice")
        seen.add(doc.column)
    return out


def treatment_docs(treatments: dict[str, FeatureTreatment]) -> list[FeatureDoc]:
    out = []
    for name, t in treatments.items():
        steps = []
        if t.clip_lower_quantile is not None or t.clip_upper_quantile is not None:
            lo = f"p{t.clip_lower_quantile * 100:g}" if t.clip_lower_quantile is not None else "-inf"
            hi = f"p{t.clip_upper_quantile * 100:g}" if t.clip_upper_quantile is not None else "+inf"
            steps.append(f"capped to [{lo}, {hi}] of the snapshot")
        if t.impute == "constant":
            steps.append(f"missing values set to {t.value:g}")
        elif t.impute in ("median", "mean"):
            steps.append(f"missing values set to the snapshot {t.impute}")
        out.append(FeatureDoc(f"{name}_clean", "treatments", f"{name}, {' then '.join(steps) or 'unchanged'}."))
        if t.indicator and t.impute != "none":
            out.append(FeatureDoc(f"{name}_missing", "treatments", f"True where {name} was missing and imputed."))
    return out


NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)


def check_declared(cfg: FeaturesConfig, available: dict[str, T.DataType]) -> list[FeatureDoc]:
    """Every declared column is one the families compute."""
    docs = declared_features(cfg)
    for doc in docs:
        if doc.column not in available:
            raise ConfigError(
                f"features.families.{doc.family}: unknown feature '{doc.column}'{_hint(doc.column, available)}"
            )
    return docs


def check_engagement(cfg: FeaturesConfig, available: dict[str, T.DataType]) -> None:
    for c in cfg.engagement:
        _numeric("features.engagement", c.feature, available)
        if c.full_at == c.zero_at:
            raise ConfigError(f"features.engagement: {c.feature}: zero_at and full_at must differ")


def check_treatments(cfg: FeaturesConfig, available: dict[str, T.DataType]) -> None:
    for name, t in cfg.treatments.items():
        _numeric("features.treatments", name, available)
        if t.impute == "constant" and t.value is None:
            raise ConfigError(f"features.treatments.{name}: impute: constant needs a value")
        for q in (t.clip_lower_quantile, t.clip_upper_quantile):
            if q is not None and not 0 < q < 1:
                raise ConfigError(f"features.treatments.{name}: clip quantiles must be between 0 and 1, got {q}")


def _numeric(where: str, name: str, available: dict[str, T.DataType]) -> None:
    if name not in available:
        raise ConfigError(f"{where}: unknown feature '{name}'{_hint(name, available)}")
    if not isinstance(available[name], NUMERIC):
        raise ConfigError(f"{where}: '{name}' is not numeric ({available[name].simpleString()})")


def _hint(name: str, choices: dict[str, T.DataType]) -> str:
    close = difflib.get_close_matches(name, [c for c in choices if not c.startswith("_")], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
