"""The "Import from URL" demo template: load a CSV at a URL into a table.

This module is the source of a Python 3 script that the demo seed publishes
as a template. It runs inside a platform run, so it only uses ``requests``
and the run's ``CIVIS_API_ENDPOINT`` / ``CIVIS_API_KEY``, and takes its
arguments from the environment: ``URL``, ``TABLE_NAME`` (``schema.table``),
``IF_EXISTS`` (``fail``, ``append``, ``truncate`` or ``drop``) and
``DATABASE_NAME``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import requests

POLL = 0.2


def _api(session: requests.Session, verb: str, path: str, **kw) -> dict:
    base = os.environ["CIVIS_API_ENDPOINT"].rstrip("/")
    r = session.request(verb, f"{base}/{path.lstrip('/')}", timeout=60, **kw)
    if r.status_code >= 400:
        try:
            detail = r.json().get("errorDescription")
        except ValueError:
            detail = r.text
        raise SystemExit(f"{verb.upper()} /{path} failed ({r.status_code}): {detail}")
    return r.json() if r.content else {}


def main() -> int:
    """Download ``URL``, upload it as a file and import it into ``TABLE_NAME``."""
    url, table = os.environ.get("URL"), os.environ.get("TABLE_NAME")
    if not url or not table or "." not in table:
        print("set URL and TABLE_NAME (as schema.table)", file=sys.stderr)
        return 2
    schema, name = table.split(".", 1)
    if_exists = os.environ.get("IF_EXISTS") or "fail"
    session = requests.Session()
    session.auth = (os.environ["CIVIS_API_KEY"], "")
    databases = _api(session, "get", "databases")
    wanted = os.environ.get("DATABASE_NAME")
    db = next((d for d in databases if d["name"] == wanted), None) if wanted else databases[0]
    if db is None:
        print(f"no database named {wanted!r}", file=sys.stderr)
        return 2
    creds = _api(session, "get", "credentials", params={"type": "Database", "default": "true"})
    with tempfile.TemporaryFile() as tmp:
        with requests.get(url, stream=True, timeout=60) as r:
            r.raise_for_status()
            for chunk in r.iter_content(2**20):
                tmp.write(chunk)
        tmp.seek(0)
        created = _api(session, "post", "files", json={"name": f"{name}.csv"})
        fields = list(created["uploadFields"].items())
        up = requests.post(created["uploadUrl"], files=[*fields, ("file", tmp)], timeout=600)
        up.raise_for_status()
    print(f"Downloaded {url} into file {created['id']}")
    job = _api(
        session,
        "post",
        "imports/files/csv",
        json={
            "name": f"Import from URL to {table}",
            "source": {"fileIds": [created["id"]]},
            "destination": {
                "schema": schema,
                "table": name,
                "remoteHostId": db["id"],
                "credentialId": creds[0]["id"] if creds else None,
            },
            "firstRowIsHeader": True,
            "existingTableRows": if_exists,
            "hidden": True,
        },
    )
    run = _api(session, "post", f"jobs/{job['id']}/runs")
    while run["state"] in ("queued", "running"):
        time.sleep(POLL)
        run = _api(session, "get", f"jobs/{job['id']}/runs/{run['id']}")
    if run["state"] != "succeeded":
        print(f"the import {run['state']}: {run.get('error')}", file=sys.stderr)
        return 1
    print(f"Imported into {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
