"""Run keys: an API key of the run's user, minted for a command run and revoked after."""

from __future__ import annotations

from ._context import RunHost


def _mint_key(platform: RunHost, user_id: int | None, run_id: int) -> str | None:
    """A fresh API key of the run's user (not the platform's admin), for the run."""
    hook = getattr(platform, "mint_run_key", None)
    if hook is not None:
        return hook(user_id, run_id)
    store = getattr(platform, "store", None)
    if store is None or user_id is None:
        return None
    token, _record = store.identity.create_key(user_id, f"run {run_id}", run_id=run_id)
    return token


def _revoke_key(platform: RunHost, key: str) -> None:
    hook = getattr(platform, "revoke_run_key", None)
    if hook is not None:
        hook(key)
        return
    store = getattr(platform, "store", None)
    if store is not None:
        store.identity.revoke_token(key)
