"""Users, group members, API keys and the current user.

Who may do what:

- anyone reads users; a user changes their own profile, an administrator
  anyone's; only an administrator changes ``admin``, ``roles``, ``active``
  and group fields, and never their own ``admin`` or ``roles``;
- only an administrator or the user themself lists, creates, reads or
  revokes that user's API keys;
- a group's writers add and remove its members; a member may leave.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ..clock import iso_time
from ..contract import ApiError, Reply, Request, handles
from ..store import PRIVILEGED_USER_FIELDS, Query
from ._common import page_reply, page_request, shape

ADMIN_ONLY = "Only administrators can do this."
#: Longest key lifetime accepted (seconds): about a hundred years.
MAX_KEY_SECONDS = 100 * 365 * 24 * 3600
#: Profile fields a user may change on themself.
_PROFILE_FIELDS = frozenset(
    {
        "name",
        "email",
        "city",
        "state",
        "timeZone",
        "initials",
        "department",
        "title",
        "prefersSmsOtp",
        "phone",
        "vpnEnabled",
        "ssoDisabled",
        "otpRequiredForLogin",
        "exemptFromOrgSmsOtpDisabled",
        "robot",
    }
)
#: Fields only an administrator may change.
_ADMIN_FIELDS = frozenset(
    {*PRIVILEGED_USER_FIELDS, "active", "accountStatus", "primaryGroupId", "groupIds"}
)


def _me(req: Request, user: dict[str, Any]) -> dict[str, Any]:
    store = req.store
    groups = [
        {"id": g["id"], "name": g.get("name"), "slug": g.get("slug")}
        for g in store.objects.objects_by_id(sorted(store.permissions.groups_of(user["id"])))
    ]
    return {**user, "initials": _initials(user), "groups": groups, "signInCount": 1}


def _body(req: Request) -> Mapping[str, Any]:
    return req.body if isinstance(req.body, Mapping) else {}


def _initials(user: dict[str, Any]) -> str:
    name = user.get("name") or user.get("username") or ""
    return "".join(p[0] for p in name.split()[:2]).upper()


def _user_or_404(req: Request, user_id: Any) -> dict[str, Any]:
    """A user by id (``me``: the caller); 404 for anything else."""
    if user_id == "me":
        return req.user
    if isinstance(user_id, str) and user_id.isascii() and user_id.isdigit():
        user_id = int(user_id)
    user = req.store.identity.user(user_id) if isinstance(user_id, int) else None
    if user is None:
        raise ApiError(404, f"user {user_id} not found", "not_found")
    return user


def _self_or_admin(req: Request, user_id: Any) -> dict[str, Any]:
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
    updated = req.store.objects.write_raw(req.user["id"], fields)
    return Reply(body=shape(req, _me(req, updated)))


@handles("get", "users")
def list_users(req: Request) -> Reply:
    page = page_request(req, default_limit=20, max_limit=1000)
    text = str(req.query.get("query") or "").lower() or None
    query = Query(
        ("users",),
        text=text,
        text_fields=("name", "username"),
        limit=page.limit,
        offset=page.offset,
    )
    total, users = req.store.objects.page(query, None)
    return page_reply(page, shape(req, users), total)


def _user_view(user: dict[str, Any]) -> dict[str, Any]:
    """A user as ``/users/{id}`` shows it (``user`` is the username)."""
    return {**user, "user": user.get("username"), "initials": _initials(user)}


@handles("get", "users/{id}")
def get_user(req: Request) -> Reply:
    return Reply(body=shape(req, _user_view(_user_or_404(req, req.path_params["id"]))))


@handles("patch", "users/{id}")
def patch_user(req: Request) -> Reply:
    """Change a user: their own profile, or (administrators) anyone's."""
    target = _user_or_404(req, req.path_params["id"])
    is_admin = bool(req.user.get("admin"))
    is_self = target["id"] == req.user["id"]
    if not (is_self or is_admin):
        raise ApiError(403, "You can only change your own user.", "forbidden")
    body = _body(req)
    privileged = sorted(k for k in body if k in _ADMIN_FIELDS)
    if privileged and not is_admin:
        raise ApiError(403, f"Only administrators can change {privileged[0]}.", "forbidden")
    own = sorted(k for k in privileged if k in PRIVILEGED_USER_FIELDS)
    if own and is_self:
        raise ApiError(403, f"You cannot change your own {own[0]}.", "forbidden")
    fields = {k: v for k, v in body.items() if k in _PROFILE_FIELDS or k in _ADMIN_FIELDS}
    if "admin" in fields:
        fields["admin"] = bool(fields["admin"])
        if "roles" not in fields:
            roles = [r for r in target.get("roles") or [] if r != "admin"]
            fields["roles"] = roles + (["admin"] if fields["admin"] else [])
    updated = req.store.objects.write_raw(target["id"], fields)
    return Reply(body=shape(req, _user_view(updated)))


@handles("post", "users")
def create_user(req: Request) -> Reply:
    if not req.user.get("admin"):
        raise ApiError(403, ADMIN_ONLY, "forbidden")
    body = _body(req)
    username = body.get("user", body.get("username"))
    if not isinstance(username, str) or not username.strip():
        raise ApiError(400, "user (the new user's username) is required", "bad_request")
    user = req.store.identity.create_user(
        username.strip(), body.get("name"), body.get("email"), bool(body.get("admin"))
    )
    req.platform.credential_for(user)
    return Reply(body=shape(req, _user_view(user)))


def _member(user: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "username", "email", "primaryGroupId", "active")
    return {**{k: user.get(k) for k in keys}, "initials": _initials(user), "online": None}


def _members(group: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [m for m in group.get("members") or [] if isinstance(m, dict)]


def _group_reply(req: Request, group_id: int, members: list[dict[str, Any]]) -> dict:
    fields = {"members": members, "memberCount": len(members), "totalMemberCount": len(members)}
    return req.store.objects.write_raw(group_id, fields)


@handles("put", "groups/{id}/members/{user_id}")
def add_member(req: Request) -> Reply:
    """Add a user to a group (write permission on the group)."""
    group = req.store.objects.get("groups", req.path_params["id"], req.user, "write")
    user = _user_or_404(req, req.path_params["user_id"])
    members = [m for m in _members(group) if m.get("id") != user["id"]] + [_member(user)]
    return Reply(body=shape(req, _group_reply(req, group["id"], members)))


@handles("delete", "groups/{id}/members/{user_id}")
def remove_member(req: Request) -> Reply:
    """Take a user out of a group: the group's writers, or the member leaving."""
    store = req.store
    group_id, user_id = req.path_params["id"], req.path_params["user_id"]
    group = store.objects.raw(group_id) if store.objects.kind_of(group_id) == "groups" else None
    leaving = (
        group is not None
        and user_id == req.user["id"]
        and any(m.get("id") == user_id for m in _members(group))
    )
    if group is None or not leaving:
        group = store.objects.get("groups", group_id, req.user, "write")
    members = [m for m in _members(group) if m.get("id") != user_id]
    if len(members) == len(_members(group)):
        raise ApiError(404, f"user {user_id} is not a member of group {group_id}", "not_found")
    _group_reply(req, group["id"], members)
    return Reply(status=204)


def _key_view(key: dict[str, Any]) -> dict[str, Any]:
    expires = key.get("expiresAt") or ""
    expired = bool(expires) and expires < dt.datetime.now(dt.timezone.utc).isoformat()
    return {**key, "expired": expired, "scopes": ["all"], "useCount": None, "constraintCount": 0}


@handles("get", "users/{id}/api_keys")
def list_keys(req: Request) -> Reply:
    user = _self_or_admin(req, req.path_params["id"])
    keys = [_key_view(k) for k in req.store.identity.keys(user["id"])]
    page = page_request(req, default_limit=50, max_limit=1000)
    return page_reply(page, shape(req, keys[page.offset : page.offset + page.limit]), len(keys))


@handles("post", "users/{id}/api_keys")
def create_key(req: Request) -> Reply:
    user = _self_or_admin(req, req.path_params["id"])
    body = _body(req)
    seconds = body.get("expiresIn")
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        raise ApiError(400, "expires_in must be a positive number of seconds", "bad_request")
    if seconds > MAX_KEY_SECONDS:
        raise ApiError(400, f"expires_in must be at most {MAX_KEY_SECONDS} seconds", "bad_request")
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
    token, record = req.store.identity.create_key(
        user["id"], body.get("name") or "api key", iso_time(expires)
    )
    return Reply(body=shape(req, {**_key_view(record), "token": token}))


def _key(req: Request) -> dict[str, Any]:
    user = _self_or_admin(req, req.path_params["id"])
    key_id = req.path_params.get("key_id")
    key = req.store.identity.key(key_id) if isinstance(key_id, int) else None
    if key is None or key["userId"] != user["id"]:
        raise ApiError(404, "API key not found", "not_found")
    return key


@handles("get", "users/{id}/api_keys/{key_id}")
def get_key(req: Request) -> Reply:
    return Reply(body=shape(req, _key_view(_key(req))))


@handles("delete", "users/{id}/api_keys/{key_id}")
def revoke_key(req: Request) -> Reply:
    key = _key(req)
    req.store.identity.revoke_key(key["id"])
    revoked = req.store.identity.key(key["id"])
    if revoked is None:  # gone meanwhile
        raise ApiError(404, "API key not found", "not_found")
    return Reply(body=shape(req, _key_view(revoked)))


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
