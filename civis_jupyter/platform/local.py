"""LocalPlatform: the embedded Civis Platform, started in a background thread."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import secrets
import shutil
import socket
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.ioloop

from ..api.spec import ApiSpec, load_spec
from .blobs import Blobs
from .blobs.handlers import routes
from .http_types import Obj, User
from .runner import DEFAULT_MAX_RUNS, UNSANDBOXED_WARNING, Runner, _max_runs
from .server import Faults, RateLimiter, Router, RunEvents, default_executor, make_app
from .store import Store
from .warehouse import Warehouses

__all__ = ["DEFAULT_DATABASE", "LocalPlatform"]

SURFACE = Path(__file__).with_name("surface.json.gz")
#: Name of the database every platform has.
DEFAULT_DATABASE = "local"
DEFAULT_USER = "civis"


class LocalPlatform:
    """A local server that speaks the Civis API.

    A started platform gives the services behaviours use
    (:class:`~civis_jupyter.platform.contract.Services`: ``store``,
    ``warehouses``, ``blobs``, ``runner``) and what its HTTP layer uses
    (:class:`~civis_jupyter.platform.server.Host`).

    Parameters
    ----------
    data_dir : str or Path, optional
        Where objects, files and warehouses live; a temporary directory
        (removed on :meth:`stop`) by default. Reusing a directory keeps
        everything across restarts.
    seed : {'demo', None}, optional
        ``"demo"`` loads the demo tables, a demo script and a template.
    execute : bool, optional
        Run scripts' commands as local processes (default ``True``).
    faults : dict, optional
        HTTP status -> probability of answering it instead of any request.
    latency : float, optional
        Seconds added to every request.
    host : str, optional
        Interface to bind (``127.0.0.1``).
    port : int, optional
        Port (0: any free port).
    rate_limit : int, optional
        Requests per key per 5 minutes (default 1000, as on Civis).
    max_runs : int or None, optional
        At most this many runs are ``running`` at once; the others stay
        ``queued`` and start in order as running ones end. Four per core by
        default; ``None`` or 0 for no cap.
    sandbox : bool or None, optional
        Run scripts' commands in their own PID and mount namespaces, with the
        data directory hidden (see :attr:`sandboxed`). ``None`` (default):
        where the machine allows it, otherwise unsandboxed with a warning at
        :meth:`start`; ``True``: required (:meth:`start` fails without it);
        ``False``: never.
    databases : sequence of str, optional
        Names of the platform's databases, each with its own warehouse; the
        first is the default (``["local"]`` when not given). Code written for
        a Civis account (``database="redshift-general"``) then runs unchanged.

    Examples
    --------
    >>> with LocalPlatform(seed="demo") as platform:  # doctest: +SKIP
    ...     client = civis.APIClient(api_key=platform.api_key)
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        seed: str | None = None,
        execute: bool = True,
        faults: Mapping[int, float] | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int = 1000,
        max_runs: int | None = DEFAULT_MAX_RUNS,
        sandbox: bool | None = None,
        databases: Sequence[str] | None = None,
    ):
        if seed not in (None, "demo"):
            raise ValueError(f"seed must be 'demo' or None, not {seed!r}")
        self.databases = _database_names(databases)
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="civis-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.execute = execute
        self.max_runs = _max_runs(max_runs)
        self.sandbox = sandbox
        self.host = host
        self.port = port
        self.faults = Faults(faults, latency)
        self.limiter = RateLimiter(rate_limit)
        self.spec: ApiSpec = load_spec(SURFACE)
        self.spec_bytes = gzip.decompress(SURFACE.read_bytes())
        self.router = Router(self.spec)
        self.api_key: str = ""
        self.endpoint: str = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: tornado.httpserver.HTTPServer | None = None
        self._started = False
        self.default_database_id = 0

    # The services, made by start(): reading one before is a one-line error.
    store: Store
    warehouses: Warehouses
    blobs: Blobs
    runner: Runner
    run_events: RunEvents
    executor: ThreadPoolExecutor

    def __getattr__(self, name: str) -> Any:
        if name in ("store", "warehouses", "blobs", "runner", "run_events", "executor"):
            raise AttributeError(f"the platform is not started: start it before using its {name}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        state = self.endpoint or "stopped"
        return f"<LocalPlatform {state} data_dir={str(self.data_dir)!r}>"

    @property
    def sandboxed(self) -> bool:
        """Whether scripts' commands run sandboxed.

        A sandboxed run sees only its own processes (not other runs' nor the
        platform's, so not their environment or API keys) and, of the data
        directory, only its own working directory. It still shares the
        network (it reaches the API with its own key) and the rest of the
        file system with the platform's user. ``False`` when the platform is
        stopped or does not execute commands.
        """
        return self._started and self.runner.sandboxed

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> LocalPlatform:
        """Open the data directory and start serving.

        Returns
        -------
        LocalPlatform
            ``self``, now serving at :attr:`endpoint`.
        """
        from . import behaviours

        behaviours.load_all()
        self.store = Store(self.data_dir / "platform.sqlite3")
        self.warehouses = Warehouses(self.data_dir / "warehouses")
        self.blobs = Blobs(self.data_dir / "files", self._secret())
        self.runner = Runner(self)
        if self.execute and not self.runner.sandboxed:
            warnings.warn(UNSANDBOXED_WARNING, RuntimeWarning, stacklevel=2)
        self.run_events = RunEvents()
        self.runner.listeners.append(self.run_events.notify)
        self.executor = default_executor()
        self._started = True
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(512)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self.endpoint = f"http://{self.host}:{self.port}/"
        self._bootstrap()
        self._builtins()
        self.runner.recover()
        app = make_app(self, routes(self.blobs))
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self.run_events.bind(loop)
            try:
                self._server = tornado.httpserver.HTTPServer(
                    app, max_buffer_size=2**31 - 1, max_body_size=2**31 - 1
                )
                self._server.add_sockets([sock])
            except BaseException as exc:  # surfaced to the caller of start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="civis-platform", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        if self.seed == "demo" and not self._seeded():
            from .seed import seed_demo

            seed_demo(self)
            self._mark_seeded()
        return self

    def stop(self) -> None:
        """Stop serving, end live runs, close files; remove a temporary data dir."""
        if self._loop is not None:
            loop = self._loop

            async def shut() -> None:
                # Stop listening and drop open connections, so that clients
                # waiting on a request get an error instead of waiting forever.
                if self._server is not None:
                    self._server.stop()
                    try:
                        await asyncio.wait_for(self._server.close_all_connections(), 5)
                    except asyncio.TimeoutError:
                        pass
                loop.stop()

            asyncio.run_coroutine_threadsafe(shut(), loop)
            if self._thread is not None:
                self._thread.join(15)
            self._loop = None
        if self._started:
            self._started = False
            self.runner.shutdown()
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.warehouses.close()
            self.store.close()
            for name in ("store", "warehouses", "blobs", "runner", "run_events", "executor"):
                self.__dict__.pop(name, None)
        self.endpoint = ""
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalPlatform:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- identity -----------------------------------------------------------------
    def _secret(self) -> bytes:
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()

    def _meta(self) -> dict[str, Any]:
        path = self.data_dir / "platform.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _save_meta(self, meta: dict[str, Any]) -> None:
        path = self.data_dir / "platform.json"
        path.write_text(json.dumps(meta))
        path.chmod(0o600)

    def _bootstrap(self) -> None:
        """Create the first user, its key and the default database once."""
        meta = self._meta()
        if meta.get("api_key") and self.store.identity.user_for_token(meta["api_key"]):
            self.api_key = meta["api_key"]
            self.default_database_id = int(meta["default_database_id"])
            return
        admin = self.store.identity.create_user(DEFAULT_USER, "Civis Local", admin=True)
        database = self._create_database(self.databases[0], admin)
        self.default_database_id = database["id"]
        self.credential_for(admin)
        token, _ = self.store.identity.create_key(admin["id"], "default")
        self.api_key = token
        self._save_meta({**meta, "api_key": token, "default_database_id": database["id"]})

    def _create_database(self, name: str, admin: User) -> Obj:
        fields = {
            "name": name,
            "adapter": "duckdb",
            "clusterIdentifier": "local",
            "host": "localhost",
            "port": None,
            "databaseName": name,
            "managed": True,
        }
        return self.store.objects.create("databases", fields, admin, public=True)

    def _builtins(self) -> None:
        """Add the named databases and built-in objects a data dir lacks."""
        from .seed import seed_builtins

        have = {d["name"] for d in self.store.objects.list("databases", None, archived=None)}
        for name in self.databases:
            if name not in have:
                self._create_database(name, self.store.identity.admin_user())
        seed_builtins(self)

    def credential_for(self, user: User) -> Obj:
        """Give a user their default database credential.

        Parameters
        ----------
        user : dict

        Returns
        -------
        dict
            The credential.
        """
        return self.store.objects.create(
            "credentials",
            {
                "name": f"{user['username']} ({self.databases[0]})",
                "type": "Database",
                "username": user["username"],
                "remoteHostId": self.default_database_id,
                "remoteHostName": self.databases[0],
                "default": True,
                "owner": user["username"],
                "state": None,
            },
            user,
        )

    def create_user(self, username: str, name: str | None = None, admin: bool = False) -> str:
        """Create a user with a default database credential; return its API key.

        Parameters
        ----------
        username : str
        name : str, optional
        admin : bool, optional

        Returns
        -------
        str
            The new user's API key.
        """
        if not self._started:
            raise RuntimeError("start the platform first")
        user = self.store.identity.create_user(username, name, admin=admin)
        self.credential_for(user)
        token, _ = self.store.identity.create_key(user["id"], "default")
        return token

    def reset(self) -> None:
        """Start over: a fresh first user, key and default database, nothing else.

        Runs are ended; objects, users, keys, files and tables are removed;
        rate-limit counts are cleared; demo data is loaded again if the
        platform was seeded. :attr:`api_key` is the new first user's key.
        """
        if not self._started:
            raise RuntimeError("start the platform first")
        self.runner.shutdown()
        for name in ("runs.sqlite3", "runs.sqlite3-wal", "runs.sqlite3-shm"):
            (self.data_dir / name).unlink(missing_ok=True)
        shutil.rmtree(self.data_dir / "runs", ignore_errors=True)
        self.runner = Runner(self)
        self.runner.listeners.append(self.run_events.notify)
        self.warehouses.close()
        shutil.rmtree(self.data_dir / "warehouses", ignore_errors=True)
        self.warehouses = Warehouses(self.data_dir / "warehouses")
        files = self.data_dir / "files"
        for child in files.iterdir() if files.exists() else ():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        self.store.wipe()
        (self.data_dir / "platform.json").unlink(missing_ok=True)
        self._bootstrap()
        self._builtins()
        self.limiter.reset()
        if self.seed == "demo":
            from .seed import seed_demo

            seed_demo(self)
            self._mark_seeded()

    def _seeded(self) -> bool:
        return bool(self._meta().get("seeded"))

    def _mark_seeded(self) -> None:
        self._save_meta({**self._meta(), "seeded": True})

    def env(self) -> dict[str, str]:
        """``CIVIS_API_ENDPOINT`` and ``CIVIS_API_KEY`` for this platform."""
        return {"CIVIS_API_ENDPOINT": self.endpoint, "CIVIS_API_KEY": self.api_key}


def _database_names(databases: Sequence[str] | None) -> list[str]:
    """The platform's database names: distinct, non-empty, ``["local"]`` if none."""
    if databases is None or isinstance(databases, str):
        names = [databases] if databases else [DEFAULT_DATABASE]
    else:
        names = list(databases) or [DEFAULT_DATABASE]
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"database names must be non-empty strings, not {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"database names must be distinct: {names}")
    return names
