"""Listing CivisML models and sharing them (with every file their runs produced)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from ._pipeline import SENTINEL, _client_or_default
from ._templates import template_ids_all_versions

__all__ = [
    "delete_models_shares_groups",
    "delete_models_shares_users",
    "list_models",
    "put_models_shares_groups",
    "put_models_shares_users",
]

_log = logging.getLogger(__name__)

_JOB_TYPES = {"train": ("training",), "predict": ("prediction",), None: ("training", "prediction")}
#: Output kinds shared along with a model, and the resource that shares them.
_SHARED_OUTPUTS = {"File": "files", "Project": "projects", "JSONValue": "json_values"}


def list_models(
    job_type: str | None = "train", author: Any = SENTINEL, client: Any = None, **kwargs: Any
) -> Any:
    """List CivisML models (custom scripts made from the CivisML templates).

    Parameters
    ----------
    job_type : {"train", "predict", None}
        Training scripts (registered models included), prediction scripts,
        or both.
    author : int or None, optional
        Whose models: by default the current user's; ``None`` for everyone's.
    client : APIClient, optional
    **kwargs
        Passed to ``client.scripts.list_custom`` (newest first unless
        ``order_dir`` is given).

    Returns
    -------
    list of Response
    """
    if job_type not in _JOB_TYPES:
        raise ValueError("Parameter 'job_type' must be None, 'train', or 'predict'.")
    client = _client_or_default(client)
    ids = {
        template_id
        for kind in _JOB_TYPES[job_type]
        for versions in template_ids_all_versions(client).values()
        if (template_id := versions[kind]) is not None
    }
    if author is SENTINEL:
        author = client.users.get_me()["id"]
    kwargs.setdefault("order_dir", "desc")
    template_list = ", ".join(str(i) for i in sorted(ids))
    return client.scripts.list_custom(from_template_id=template_list, author=author, **kwargs)


def _email_options(share_email_body: Any, send_shared_email: Any) -> dict[str, Any]:
    options = {}
    if send_shared_email != "DEFAULT":
        options["send_shared_email"] = send_shared_email
    if share_email_body != "DEFAULT":
        options["share_email_body"] = share_email_body
    return options


def _shared_outputs(job_id: int, client: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource, output) of every output of the model's runs that is shared with it."""
    for run in client.scripts.list_containers_runs(job_id, iterator=True):
        for output in client.scripts.list_containers_runs_outputs(job_id, run["id"]):
            resource = _SHARED_OUTPUTS.get(output["object_type"])
            if resource is not None:
                yield resource, output


def _share(job_id: int, ids: Any, level: str, entity: str, client: Any, **options: Any) -> Any:
    """Share a model's script and every file, project and JSON value its runs made."""
    client = _client_or_default(client)
    result = getattr(client.scripts, f"put_containers_shares_{entity}")(
        job_id, ids, level, **options
    )
    for resource, output in _shared_outputs(job_id, client):
        # Using a model means adding to its project: "read" on the script is "write" there.
        output_level = "write" if resource == "projects" and level == "read" else level
        share = getattr(getattr(client, resource), f"put_shares_{entity}")
        share(output["object_id"], ids, output_level, send_shared_email=False)
    return result


def _unshare(job_id: int, entity_id: int, entity: str, client: Any) -> Any:
    client = _client_or_default(client)
    result = getattr(client.scripts, f"delete_containers_shares_{entity}")(job_id, entity_id)
    for resource, output in _shared_outputs(job_id, client):
        unshare = getattr(getattr(client, resource), f"delete_shares_{entity}")
        unshare(output["object_id"], entity_id)
    return result


def put_models_shares_users(
    id: int,
    user_ids: list[int],
    permission_level: str,
    client: Any = None,
    share_email_body: Any = "DEFAULT",
    send_shared_email: Any = "DEFAULT",
) -> Any:
    """Share a model (training or prediction script and its outputs) with users.

    Parameters
    ----------
    id : int
        The model's script.
    user_ids : list of int
    permission_level : {"read", "write", "manage"}
        "read" is enough to score with a model.
    client : APIClient, optional
    share_email_body : str, optional
    send_shared_email : bool, optional

    Returns
    -------
    Response
        The script's shares.
    """
    options = _email_options(share_email_body, send_shared_email)
    return _share(id, user_ids, permission_level, "users", client, **options)


def put_models_shares_groups(
    id: int,
    group_ids: list[int],
    permission_level: str,
    client: Any = None,
    share_email_body: Any = "DEFAULT",
    send_shared_email: Any = "DEFAULT",
) -> Any:
    """Share a model (training or prediction script and its outputs) with groups.

    Parameters
    ----------
    id : int
        The model's script.
    group_ids : list of int
    permission_level : {"read", "write", "manage"}
    client : APIClient, optional
    share_email_body : str, optional
    send_shared_email : bool, optional

    Returns
    -------
    Response
        The script's shares.
    """
    options = _email_options(share_email_body, send_shared_email)
    return _share(id, group_ids, permission_level, "groups", client, **options)


def delete_models_shares_users(id: int, user_id: int, client: Any = None) -> Any:
    """Revoke a user's access to a model and its outputs.

    Parameters
    ----------
    id : int
        The model's script.
    user_id : int
    client : APIClient, optional
    """
    return _unshare(id, user_id, "users", client)


def delete_models_shares_groups(id: int, group_id: int, client: Any = None) -> Any:
    """Revoke a group's access to a model and its outputs.

    Parameters
    ----------
    id : int
        The model's script.
    group_id : int
    client : APIClient, optional
    """
    return _unshare(id, group_id, "groups", client)
