"""The one parser for numbers a person, a job parameter or an environment variable gives condafarm.

Python's `float()` takes "nan", "inf" and "1e999"; a NaN compares false with everything, so a rule such as
`age < newer_than` silently keeps or drops everything. Every number from outside goes through `number()`
(text) or `check_number()` (a value a library caller passed), which refuse NaN, infinities and values
outside the documented range with one line that names the option and says what it takes.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from .errors import UsageError


def _plain(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


@dataclass(frozen=True)
class Range:
    """What a number may be: whole or not, and its bounds (`above`: strictly greater than `low`)."""

    low: float | None = None
    high: float | None = None
    whole: bool = False
    above: bool = False

    def describe(self) -> str:
        parts = ["a whole number" if self.whole else "a number"]
        if self.low is not None:
            parts.append(f"{'above' if self.above else 'of at least'} {_plain(self.low)}")
        if self.high is not None:
            parts.append(f"{'and ' if self.low is not None else ''}at most {_plain(self.high)}")
        return " ".join(parts)

    def holds(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.whole and value != int(value):
            return False
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high


#: Any finite number.
FINITE = Range()
#: Counts and sizes: 0 or more.
COUNT = Range(0, whole=True)
#: Counts of at least one.
AT_LEAST_ONE = Range(1, whole=True)
#: Build numbers and steps between them (conda clients read build numbers as 32-bit or larger integers).
BUILD_NUMBER = Range(0, 2**31 - 1, whole=True)
#: Durations in seconds, hours or days: 0 or more, and at most a century's seconds (a bound any unit keeps).
DURATION = Range(0, 100 * 365 * 86400.0)
#: A duration, or a negative number for "not set" (job templates cannot leave a number empty).
OPTIONAL_DURATION = Range(None, DURATION.high)
#: Durations that must be more than nothing.
POSITIVE_DURATION = Range(0, DURATION.high, above=True)


def check_number(value: float, what: str, allowed: Range) -> float:
    """`value` if `allowed` holds it; else `UsageError` naming `what` (an option, parameter or variable)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not allowed.holds(value):
        raise UsageError(f"{what} must be {allowed.describe()}, not {value!r}")
    return value


def number(text: str, what: str, allowed: Range) -> float:
    """The number `text` spells, within `allowed`; `UsageError` naming `what` otherwise (also for NaN and inf)."""
    raw = text.strip()
    try:
        value: float = int(raw) if allowed.whole else float(raw)
    except ValueError:
        raise UsageError(f"{what} must be {allowed.describe()}, not {text!r}") from None
    if not allowed.holds(value):
        raise UsageError(f"{what} must be {allowed.describe()}, not {text!r}")
    return value


def whole_number(text: str, what: str, allowed: Range = COUNT) -> int:
    """`number()` for counts: an `int`."""
    return int(number(text, what, Range(allowed.low, allowed.high, True, allowed.above)))


def argument(allowed: Range) -> Callable[[str], float]:
    """An argparse `type=` that parses with `number()`; argparse names the option in its one-line error."""

    def parse(text: str) -> float:
        try:
            return number(text, "the value", allowed)
        except UsageError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed.describe()}") from None

    parse.__name__ = "whole number" if allowed.whole else "number"
    return parse


def from_environment(name: str, default: float, allowed: Range) -> float:
    """The number in environment variable `name` (unset or empty: `default`), within `allowed`."""
    raw = os.environ.get(name, "").strip()
    return default if not raw else number(raw, name, allowed)


__all__ = [
    "AT_LEAST_ONE",
    "BUILD_NUMBER",
    "COUNT",
    "DURATION",
    "FINITE",
    "OPTIONAL_DURATION",
    "POSITIVE_DURATION",
    "Range",
    "argument",
    "check_number",
    "from_environment",
    "number",
    "whole_number",
]
