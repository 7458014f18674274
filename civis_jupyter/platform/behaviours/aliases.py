"""Aliases looked up by name: ``GET /aliases/{object_type}/{alias}``.

Every other alias operation is generic (aliases are ordinary shareable
objects). This one names an alias by its object type and its text instead of
its id: it answers the alias the user may read whose ``objectType`` and
``alias`` are exactly those given (the user's own first when several users
made the same one), and 404 otherwise, as for an alias the user may not see.
"""

from __future__ import annotations

from typing import Any

from ..contract import ApiError, Reply, Request, handles
from ..store import Query, author_id
from ._common import shape

__all__ = ["alias_by_name"]


def _matching(req: Request, object_type: str, alias: str) -> list[dict[str, Any]]:
    """The aliases the user may read with exactly this object type and text."""
    query = Query(("aliases",), archived=None, equals={"objectType": object_type, "alias": alias})
    found = req.store.objects.page(query, req.user)[1]
    # The store matches strings case-insensitively and ignores missing fields.
    return [a for a in found if a.get("objectType") == object_type and a.get("alias") == alias]


@handles("get", "aliases/{object_type}/{alias}")
def alias_by_name(req: Request) -> Reply:
    """Show the alias named ``alias`` for objects of ``object_type``."""
    object_type = str(req.path_params.get("object_type") or "")
    alias = str(req.path_params.get("alias") or "")
    matches = _matching(req, object_type, alias)
    if not matches:
        raise ApiError(
            404, f"alias {alias!r} of object type {object_type!r} not found", "not_found"
        )
    own = [a for a in matches if author_id(a) == req.user.get("id")]
    chosen = min(own or matches, key=lambda a: a["id"])
    return Reply(body=shape(req, chosen))
