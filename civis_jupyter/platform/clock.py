"""The platform's timestamps, written as Civis writes them."""

from __future__ import annotations

import datetime as dt

__all__ = ["iso_now", "iso_time"]


def iso_time(when: dt.datetime | float) -> str:
    """A time as ``2026-01-02T03:04:05.000Z`` (UTC, milliseconds).

    Parameters
    ----------
    when : datetime.datetime or float
        An aware time (naive times are taken as UTC), or a Unix time.

    Returns
    -------
    str
    """
    if not isinstance(when, dt.datetime):
        when = dt.datetime.fromtimestamp(float(when), dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    utc = when.astimezone(dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def iso_now() -> str:
    """The current UTC time as ``2026-01-02T03:04:05.000Z``."""
    return iso_time(dt.datetime.now(dt.timezone.utc))
