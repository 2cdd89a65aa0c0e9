"""Declarative data-quality rules (conf `quality:`) compiled to Spark conditions.

Structural problems (a line that is not JSON, a timestamp that does not parse) are
decided in code while parsing; these rules are the business checks a data owner edits:
not null, ranges, accepted values, patterns, lengths and references to other tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglake.config.schema import QualityRule
from seglake.errors import ConfigError, SeglakeError

VIOLATIONS = "_rule_violations"


class DataQualityError(SeglakeError):
    """A rule whose action is `fail` was broken: nothing was written."""


@dataclass(frozen=True)
class RuleOutcome:
    rule: QualityRule
    violations: int


def _where(source: str, rule: QualityRule) -> str:
    return f"quality.{source} rule '{rule.name}'"


def check_rules(source: str, rules: list[QualityRule], columns: list[str]) -> None:
    """Reject rules that cannot be evaluated, before any data is read."""
    names = [r.name for r in rules]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"quality.{source}: rule names must be unique, repeated: {', '.join(duplicated)}")
    needs: dict[str, Callable[[QualityRule], bool]] = {
        "range": lambda r: r.min is not None or r.max is not None,
        "accepted_values": lambda r: bool(r.values),
        "regex": lambda r: r.pattern is not None,
        "max_length": lambda r: r.length is not None,
        "exists_in": lambda r: r.reference is not None and r.reference.count(".") == 2,
    }
    what = {
        "range": "min and/or max",
        "accepted_values": "a non-empty values list",
        "regex": "pattern",
        "max_length": "length",
        "exists_in": "reference: <layer>.<table>.<column>",
    }
    for rule in rules:
        if rule.column not in columns:
            raise ConfigError(
                f"{_where(source, rule)}: column '{rule.column}' does not exist; "
                f"silver {source} columns: {', '.join(c for c in columns if not c.startswith('_'))}"
            )
        if rule.check in needs and not needs[rule.check](rule):
            raise ConfigError(f"{_where(source, rule)}: check '{rule.check}' needs {what[rule.check]}")
        if rule.pattern is not None:
            try:
                re.compile(rule.pattern)
            except re.error as exc:
                raise ConfigError(f"{_where(source, rule)}: invalid regex {rule.pattern!r}: {exc}") from None


def broken(rule: QualityRule) -> Column:
    """The condition under which a row breaks `rule` (null values only break not_null)."""
    c = F.col(rule.column)
    if rule.check == "not_null":
        return c.isNull() | (F.trim(c.cast("string")) == "")
    if rule.check == "range":
        low = c < F.lit(rule.min) if rule.min is not None else F.lit(False)
        high = c > F.lit(rule.max) if rule.max is not None else F.lit(False)
        return c.isNotNull() & (low | high)
    if rule.check == "accepted_values":
        return c.isNotNull() & ~c.cast("string").isin(*rule.values)
    if rule.check == "regex":
        return c.isNotNull() & ~c.cast("string").rlike(rule.pattern)
    if rule.check == "max_length":
        return c.isNotNull() & (F.length(c.cast("string")) > rule.length)
    # exists_in: the reference keys were joined on by `with_rule_violations`.
    return c.isNotNull() & F.col(_hit_column(rule)).isNull()


def _hit_column(rule: QualityRule) -> str:
    return f"_ref_hit_{rule.name}"


def with_rule_violations(df: DataFrame, rules: list[QualityRule], references: Mapping[str, DataFrame]) -> DataFrame:
    """Add `_rule_violations`: names of the rules each row breaks. Reference checks are
    left joins on the distinct keys of the referenced table (no driver-side sets)."""
    for rule in rules:
        if rule.check != "exists_in":
            continue
        assert rule.reference is not None
        table, column = rule.reference.rsplit(".", 1)
        keys = references[table].select(F.col(column).alias(_hit_column(rule))).where(F.col(column).isNotNull())
        df = df.join(keys.distinct(), df[rule.column] == keys[_hit_column(rule)], "left")
    flags = [F.when(broken(rule), F.lit(rule.name)) for rule in rules]
    out = df.withColumn(VIOLATIONS, F.filter(F.array(*flags), lambda r: r.isNotNull()) if flags else F.array())
    return out.drop(*[_hit_column(r) for r in rules if r.check == "exists_in"])


@dataclass(frozen=True)
class Tally:
    outcomes: list[RuleOutcome]
    rows: int
    # rows breaking at least one rule whose action is quarantine
    quarantined: int


def tally(df: DataFrame, rules: list[QualityRule]) -> Tally:
    """Rows, rows breaking each rule and rows to quarantine, in one aggregation over a
    frame from `with_rule_violations`."""
    names = quarantine_rules(rules)
    to_quarantine = F.array(*map(F.lit, names)) if names else F.array().cast("array<string>")
    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_if(F.size(F.array_intersect(VIOLATIONS, to_quarantine)) > 0).alias("quarantined"),
        *[F.count_if(F.array_contains(VIOLATIONS, r.name)).alias(f"n{i}") for i, r in enumerate(rules)],
    ).first()
    outcomes = [RuleOutcome(r, int(row[f"n{i}"] or 0)) for i, r in enumerate(rules)]
    return Tally(outcomes, int(row["rows"]), int(row["quarantined"] or 0))


def count_violations(df: DataFrame, rules: list[QualityRule]) -> list[RuleOutcome]:
    """Rows breaking each rule, in one aggregation over a frame from `with_rule_violations`."""
    return tally(df, rules).outcomes if rules else []


def raise_on_failures(source: str, outcomes: list[RuleOutcome]) -> None:
    failed = [o for o in outcomes if o.rule.action == "fail" and o.violations]
    if failed:
        detail = ", ".join(f"'{o.rule.name}' broken by {o.violations:,} rows" for o in failed)
        raise DataQualityError(
            f"silver {source}: rule(s) with action fail: {detail}; none of these {source} were written "
            "(fix the data or the rule, then rerun)"
        )


def quarantine_rules(rules: list[QualityRule]) -> list[str]:
    return [r.name for r in rules if r.action == "quarantine"]
