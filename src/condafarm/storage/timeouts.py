"""How long condafarm waits for a store or a channel server, from the environment (CONDAFARM_*_TIMEOUT, _DEADLINE).

Three limits, each a number of seconds:
- `CONDAFARM_CONNECT_TIMEOUT` (10): to open a connection.
- `CONDAFARM_READ_TIMEOUT` (60): the longest silence on an open connection, and for `env create` the longest
  stall of a package download. Transfers are never cut short while bytes still flow.
- `CONDAFARM_DEADLINE` (180): the longest a metadata request (a GET, HEAD, listing or small PUT, with all its
  retries) or an environment's repodata fetch may take before the command fails with exit 3.
A wait is named in a warning after a few seconds (`Timeouts.warn_after`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..numbers import POSITIVE_DURATION, from_environment

#: Seconds before a command says what it is waiting for (a healthy store answers in milliseconds).
WARN_AFTER = 5.0

_DEFAULTS = {"CONDAFARM_CONNECT_TIMEOUT": 10.0, "CONDAFARM_READ_TIMEOUT": 60.0, "CONDAFARM_DEADLINE": 180.0}


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait: for a connection, for the next bytes on one, and for a whole metadata request."""

    connect: float
    read: float
    deadline: float

    @staticmethod
    def warn_after(limit: float) -> float:
        """Seconds before saying what a command waits for: a few, and well before `limit` ends the wait."""
        return min(WARN_AFTER, limit / 2)


def _seconds(name: str) -> float:
    return from_environment(name, _DEFAULTS[name], POSITIVE_DURATION)


def timeouts() -> Timeouts:
    """The limits the environment sets, else the defaults."""
    return Timeouts(
        connect=_seconds("CONDAFARM_CONNECT_TIMEOUT"),
        read=_seconds("CONDAFARM_READ_TIMEOUT"),
        deadline=_seconds("CONDAFARM_DEADLINE"),
    )
