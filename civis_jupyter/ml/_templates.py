"""Finding CivisML's script templates through their aliases.

CivisML publishes its training, prediction and registration templates under
aliases: ``civis-civisml-training`` for the production version and, per
version, ``civis-civisml-training-v2-2`` (or a named variant such as
``civis-civisml-training-dev``). The template ids matter beyond lookup:
which arguments a run accepts depends on how recent its template is.
"""

from __future__ import annotations

import re
import threading
import weakref
from typing import Any

from ..api.errors import CivisAPIError
from ..api.response import Response

__all__ = ["JOB_TYPES", "parse_alias", "template_ids", "template_ids_all_versions"]

JOB_TYPES = ("training", "prediction", "registration")
PREFIX = "civis-civisml-"
#: Arguments are accepted from these template ids on (older templates lacked them).
V2_TRAINING = 9968  # ETL, VALIDATION_DATA, N_JOBS
V2_PREDICTION = 9969  # CPU, MEMORY, DISK_SPACE; feather data files
V2_2_PREDICTION = 10584  # TARGET_COLUMN (predict a subset of the targets)

_PRODUCTION = re.compile(r"civis-civisml-(\w+)")
_NUMBERED = re.compile(r"civis-civisml-(\w+)-v(\d+)-(\d+)")
_NAMED = re.compile(r"civis-civisml-(\w+)-(\S+[^-])")

_cache_lock = threading.Lock()
#: client -> its template ids (kept as long as the client lives)
_cache: weakref.WeakKeyDictionary[Any, dict[str | None, dict[str, int | None]]] = (
    weakref.WeakKeyDictionary()
)


def parse_alias(alias: str) -> tuple[str, str | None]:
    """The job type and CivisML version an alias names.

    Parameters
    ----------
    alias : str
        For example ``"civis-civisml-training-v2-2"``.

    Returns
    -------
    tuple of (str, str or None)
        The job type (``"training"``, ...) and the version (``"v2.2"``;
        ``None`` for the production alias).

    Raises
    ------
    ValueError
        If the alias has none of CivisML's forms.
    """
    for pattern, version in (
        (_PRODUCTION, lambda m: None),
        (_NUMBERED, lambda m: f"v{m.group(2)}.{m.group(3)}"),
        (_NAMED, lambda m: m.group(2)),
    ):
        match = pattern.fullmatch(alias)
        if match:
            return match.group(1), version(match)
    raise ValueError(f"{alias!r} is not a CivisML template alias")


def _lookup(client: Any) -> dict[str | None, dict[str, int | None]]:
    found: dict[str | None, dict[str, int | None]] = {}
    for item in client.aliases.list(object_type="template_script", iterator=True):
        alias = str(item["alias"] or "")
        if not alias.startswith(PREFIX):
            continue
        try:
            job_type, version = parse_alias(alias)
        except ValueError:
            continue
        if job_type in JOB_TYPES:
            found.setdefault(version, dict.fromkeys(JOB_TYPES))[job_type] = int(item["object_id"])
    if not found:
        raise CivisAPIError(
            Response(
                {
                    "status_code": 404,
                    "reason": "No CivisML template IDs are accessible.",
                    "content": None,
                }
            )
        )
    return found


def template_ids_all_versions(client: Any) -> dict[str | None, dict[str, int | None]]:
    """The CivisML template ids of every version this user can reach.

    Looked up once per client.

    Parameters
    ----------
    client : APIClient

    Returns
    -------
    dict
        Version (``None`` for production) -> ``{"training": id,
        "prediction": id, "registration": id or None}``.

    Raises
    ------
    CivisAPIError
        404 if no CivisML template is accessible.
    """
    with _cache_lock:
        known = _cache.get(client)
    if known is None:
        known = _lookup(client)
        with _cache_lock:
            _cache[client] = known
    return known


def template_ids(
    civisml_version: str | None, client: Any
) -> tuple[int | None, int | None, int | None]:
    """Training, prediction and registration template ids of one CivisML version.

    Parameters
    ----------
    civisml_version : str or None
        For example ``"v2.2"``; ``None`` for the production version.
    client : APIClient

    Returns
    -------
    tuple of int or None

    Raises
    ------
    ValueError
        If that version does not exist or this user cannot reach it.
    """
    versions = template_ids_all_versions(client)
    if civisml_version not in versions:
        named = ", ".join(f'"{v}"' for v in sorted(v for v in versions if v))
        raise ValueError(
            f'"{civisml_version}" is an invalid CivisML version: it does not exist or you '
            f"cannot use it. Versions you can use: {{{named}}}, and None for the latest "
            "production version."
        )
    ids = versions[civisml_version]
    return ids["training"], ids["prediction"], ids["registration"]
