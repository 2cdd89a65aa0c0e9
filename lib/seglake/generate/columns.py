"""Column builders for hash-derived randomness and literal lookups.

Output must be byte-identical for the same seed whatever the partitioning or the number of
executors, so no randomness comes from `F.rand` (it depends on the partition) or the
clock: every draw is a hash of the seed, a salt naming what is drawn, and the ids of the
row it is drawn for. Hash keys must keep the same Spark types everywhere they are used
(the int 3 and the bigint 3 hash differently), hence the explicit casts at the call sites.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# A parameterised DataFrame -> DataFrame step, used as df.transform(step(ctx)).
Transform = Callable[[DataFrame], DataFrame]

DAY_MS = 86_400_000

_MANTISSA_BITS = 53
_MANTISSA = float(1 << _MANTISSA_BITS)


@dataclass(frozen=True)
class Rng:
    """Hash-based random draws for one seed; `keys` identify the row a draw belongs to."""

    seed: int

    def hash(self, salt: str, *keys: Column) -> Column:
        return F.xxhash64(F.lit(self.seed), F.lit(salt), *keys)

    def uniform(self, salt: str, *keys: Column) -> Column:
        """Uniform double in [0, 1): the top 53 bits of the hash as a fraction."""
        bits = F.shiftrightunsigned(self.hash(salt, *keys), 64 - _MANTISSA_BITS)
        return bits.cast("double") / F.lit(_MANTISSA)

    def below(self, n: int | Column, salt: str, *keys: Column) -> Column:
        """Integer in [0, n): an int, or a bigint when n does not fit in an int."""
        bound = n if isinstance(n, Column) else F.lit(n)
        wide = isinstance(n, int) and n > 2**31 - 1
        return F.pmod(self.hash(salt, *keys), bound).cast("long" if wide else "int")

    def between(self, low: float, high: float, salt: str, *keys: Column) -> Column:
        return F.lit(low) + self.uniform(salt, *keys) * F.lit(high - low)

    def normal(self, salt: str, *keys: Column) -> Column:
        """Standard normal by Box-Muller; 1 - u keeps the logarithm's argument in (0, 1]."""
        radius = F.sqrt(F.lit(-2.0) * F.log(F.lit(1.0) - self.uniform(salt + "/r", *keys)))
        return radius * F.cos(F.lit(2 * math.pi) * self.uniform(salt + "/a", *keys))

    def lognormal(self, mean: float | Column, sigma: float, salt: str, *keys: Column) -> Column:
        """Log-normal with the given mean (not median): right-skewed amounts and counts."""
        mean_col = mean if isinstance(mean, Column) else F.lit(mean)
        return mean_col * F.exp(F.lit(sigma) * self.normal(salt, *keys) - F.lit(sigma * sigma / 2))

    def count(self, expected: Column, salt: str, *keys: Column) -> Column:
        """Non-negative int whose expectation is `expected` (stochastic rounding)."""
        return F.floor(expected + self.uniform(salt, *keys)).cast("int")


def pick(values: Sequence[str | int | float | None], index: Column) -> Column:
    """values[index] for a 0-based int column; small vocabularies only."""
    return F.element_at(F.array(*[F.lit(v) for v in values]), (index + 1).cast("int"))


def per_group(values: Sequence[float], group: Column) -> Column:
    """A per-persona (or per-country) parameter: values[group] as a double."""
    return pick([float(v) for v in values], group).cast("double")


@dataclass(frozen=True)
class ChoiceTable:
    """Weighted choice among `n` options with different weights per group.

    Stored as quantile tables: for group g, entry q holds the option whose cumulative
    weight covers (q + 0.5) / resolution. A choice is then one array lookup however many
    options there are, which keeps large tables (days of the year) cheap per row.
    """

    entries: tuple[int, ...]
    resolution: int

    @classmethod
    def of(cls, weights_by_group: Sequence[Sequence[float]], resolution: int = 1000) -> ChoiceTable:
        entries: list[int] = []
        for weights in weights_by_group:
            total = float(sum(weights))
            if total <= 0:
                raise ValueError("a choice table group needs a positive weight")
            cumulative = list(itertools.accumulate(w / total for w in weights))
            option = 0
            for q in range(resolution):
                target = (q + 0.5) / resolution
                while option < len(cumulative) - 1 and cumulative[option] < target:
                    option += 1
                entries.append(option)
        return cls(tuple(entries), resolution)

    def choose(self, group: Column, u: Column) -> Column:
        """Option index (int) for a group code and a uniform draw in [0, 1)."""
        # One string literal split into an int array: constant-folded once, unlike an
        # array() of thousands of literal expressions.
        table = F.split(F.lit(",".join(map(str, self.entries))), ",").cast("array<int>")
        position = group * self.resolution + F.floor(u * self.resolution)
        return F.element_at(table, (position + 1).cast("int"))


def hex_id(prefix: str, hashed: Column, width: int = 16) -> Column:
    """prefix + zero-padded lowercase hex of a 64-bit hash: opaque, stable ids."""
    return F.concat(F.lit(prefix), F.lpad(F.lower(F.hex(hashed)), width, "0"))


def uuid_like(*parts: Column) -> Column:
    """A UUID-shaped id from the md5 of its parts (128 bits: collisions are not a concern)."""
    digest = F.md5(F.concat_ws("|", *[p.cast("string") for p in parts]))
    pieces = [(1, 8), (9, 4), (13, 4), (17, 4), (21, 12)]
    return F.concat_ws("-", *[F.substring(digest, start, length) for start, length in pieces])


def utc_iso(ms: Column, millis: bool = True) -> Column:
    """ISO-8601 UTC text ("...Z") of epoch milliseconds; assumes the UTC session zone."""
    pattern = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'" if millis else "yyyy-MM-dd'T'HH:mm:ss'Z'"
    return F.date_format(F.timestamp_millis(ms), pattern)


def local_iso(ms: Column, timezone: Column) -> Column:
    """ISO-8601 text with the zone's UTC offset at that instant, e.g. ...T19:22:11.123+02:00.

    from_utc_timestamp shifts the instant to the zone's wall clock; the shift itself is the
    offset, so DST is handled by the JVM's zone rules rather than by us.
    """
    local = F.from_utc_timestamp(F.timestamp_millis(ms), timezone)
    offset_min = ((F.unix_millis(local) - ms) / 60_000).cast("int")
    return F.format_string(
        "%s%s%02d:%02d",
        F.date_format(local, "yyyy-MM-dd'T'HH:mm:ss.SSS"),
        F.when(offset_min < 0, F.lit("-")).otherwise(F.lit("+")),
        (F.abs(offset_min) / 60).cast("int"),
        F.abs(offset_min) % 60,
    )
