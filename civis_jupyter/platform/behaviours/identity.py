"""Users, API keys and the current user."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..api import ApiError, Reply, Request, handles
from ._common import paginate, shape

ADMIN_ONLY = "Only administrators can do this."


def _me(req: Request, user: dict[str, Any]) -> dict[str, Any]:
    store = req.platform.store
    groups = [
        {"id": g["id"], "name": g.get("name"), "slug": g.get("slug")}
        for g in store.list("groups", None)
        if g["id"] in store.groups_of(user["id"])
    ]
    return {**user, "initials": _initials(user), "groups": groups, "signInCount": 1}


def _initials(user: dict[str, Any]) -> str:
    name = user.get("name") or user.get("username") or ""
    return "".join(p[0] for p in name.split()[:2]).upper()


def _user_or_404(req: Request, user_id: int) -> dict[str, Any]:
    user = req.platform.store.user(user_id)
    if user is None:
        raise ApiError(404, f"user {user_id} not found", "not_found")
    return user


def _self_or_admin(req: Request, user_id: int) -> dict[str, Any]:
    user = _user_or_404(req, user_id)
    if user["id"] != req.user["id"] and not req.user.get("admin"):
        raise ApiError(403, "You can only manage your own API keys.", "forbidden")
    return user


@handles("get", "users/me")
def get_me(req: Request) -> Reply:
    return Reply(body=shape(req, _me(req, req.user)))


@handles("patch", "users/me")
def patch_me(req: Request) -> Reply:
    allowed = {"preferences", "lastCheckedAnnouncements"}
    fields = {k: v for k, v in (req.body or {}).items() if k in allowed}
    updated = req.platform.store.write_raw(req.user["id"], fields)
    return Reply(body=shape(req, _me(req, updated)))


@handles("get", "users")
def list_users(req: Request) -> Reply:
    users = req.platform.store.users()
    query = (req.query.get("query") or "").lower()
    if query:
        users = [
            u for u in users if query in (u.get("name") or "").lower() or query in u["username"]
        ]
    return paginate(req, shape(req, users), default_limit=20, max_limit=1000)


@handles("get", "users/{id}")
def get_user(req: Request) -> Reply:
    return Reply(body=shape(req, _user_or_404(req, req.path_params["id"])))


@handles("post", "users")
def create_user(req: Request) -> Reply:
    if not req.user.get("admin"):
        raise ApiError(403, ADMIN_ONLY, "forbidden")
    body = req.body or {}
    user = req.platform.store.create_user(
        body["username"], body.get("name"), body.get("email"), bool(body.get("admin"))
    )
    req.platform._credential_for(user)
    return Reply(body=shape(req, user))


def _key_view(key: dict[str, Any]) -> dict[str, Any]:
    expires = key.get("expiresAt")
    expired = bool(expires) and expires < dt.datetime.now(dt.timezone.utc).isoformat()
    return {**key, "expired": expired, "scopes": ["all"], "useCount": None, "constraintCount": 0}


@handles("get", "users/{id}/api_keys")
def list_keys(req: Request) -> Reply:
    user = _self_or_admin(req, req.path_params["id"])
    keys = [_key_view(k) for k in req.platform.store.keys(user["id"])]
    return paginate(req, shape(req, keys), default_limit=50, max_limit=1000)


@handles("post", "users/{id}/api_keys")
def create_key(req: Request) -> Reply:
    user = _self_or_admin(req, req.path_params["id"])
    body = req.body or {}
    seconds = body.get("expiresIn")
    if not isinstance(seconds, int) or seconds <= 0:
        raise ApiError(400, "expires_in must be a positive number of seconds", "bad_request")
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
    token, record = req.platform.store.create_key(
        user["id"], body.get("name") or "api key", expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    )
    return Reply(body=shape(req, {**_key_view(record), "token": token}))


def _key(req: Request) -> dict[str, Any]:
    user = _self_or_admin(req, req.path_params["id"])
    key = req.platform.store.key(req.path_params["key_id"])
    if key is None or key["userId"] != user["id"]:
        raise ApiError(404, "API key not found", "not_found")
    return key


@handles("get", "users/{id}/api_keys/{key_id}")
def get_key(req: Request) -> Reply:
    return Reply(body=shape(req, _key_view(_key(req))))


@handles("delete", "users/{id}/api_keys/{key_id}")
def revoke_key(req: Request) -> Reply:
    key = _key(req)
    req.platform.store.revoke_key(key["id"])
    return Reply(body=shape(req, _key_view(req.platform.store.key(key["id"]))))


#: Credential types the platform knows.
CREDENTIAL_TYPES = [
    "Amazon Web Services S3",
    "BSD::API",
    "CASS/NCOA PAF",
    "Custom",
    "Database",
    "Google",
    "Github",
    "Salesforce User",
    "Salesforce Client",
    "TableauUser",
]


@handles("get", "credentials/types")
def credential_types(req: Request) -> Reply:
    return Reply(body=[shape(req, {"types": CREDENTIAL_TYPES})])
