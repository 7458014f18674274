"""Optional dependencies: one-line messages naming the extra to install.

The core install (the client, ``civis.io``, futures, the Jupyter extension)
is small; the embedded platform, CivisML, joblib and the demo come with
extras (``pip install 'civis-jupyter[platform]'``, ...). Code that needs an
extra imports it through :func:`require` or inside :func:`needs`, so a user
without it reads one line that says what to install.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator
from types import ModuleType

__all__ = ["MissingExtraError", "check", "install_hint", "needs", "require"]

#: The extras of the distribution (pyproject.toml's optional-dependencies).
EXTRAS = frozenset({"platform", "ml", "parallel", "polars", "workflows", "demo", "all"})


class MissingExtraError(ModuleNotFoundError):
    """A module of an optional extra is not installed.

    A :class:`ModuleNotFoundError`, so ``except ImportError`` and
    ``pytest.importorskip`` treat it as a missing module; ``name`` is the
    missing module and ``extra`` the extra that provides it.
    """

    def __init__(self, module: str, extra: str, feature: str | None = None):
        self.extra = extra
        self.feature = feature
        super().__init__(_message(module, extra, feature), name=module)


def install_hint(extra: str) -> str:
    """The pip command that installs an extra.

    Parameters
    ----------
    extra : str
        An extra of civis-jupyter, e.g. ``"platform"``.

    Returns
    -------
    str
    """
    if extra not in EXTRAS:
        raise ValueError(f"civis-jupyter has no extra {extra!r}; extras: {sorted(EXTRAS)}")
    return f"pip install 'civis-jupyter[{extra}]'"


def _message(module: str, extra: str, feature: str | None) -> str:
    what = feature or "this feature of civis_jupyter"
    return f"{what} needs {module}, which is not installed: {install_hint(extra)}"


def _is_missing(exc: ModuleNotFoundError, module: str) -> bool:
    """Whether ``exc`` says that ``module`` (or a package above it) is missing."""
    missing = exc.name or ""
    return module == missing or module.startswith(missing + ".")


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import an optional module, or raise a one-line error naming its extra.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"nbclient"``.
    extra : str
        The extra that installs it, e.g. ``"demo"``.
    feature : str, optional
        What needs it, for the message (e.g. ``"civis-jupyter demo"``).

    Returns
    -------
    types.ModuleType
        The imported module.

    Raises
    ------
    MissingExtraError
        When the module (or its package) is not installed. An import error
        raised from inside an installed module is left as it is.
    """
    install_hint(extra)  # an unknown extra is a bug here, not a missing package
    try:
        return importlib.import_module(module)
    except MissingExtraError:
        raise
    except ModuleNotFoundError as exc:
        if not _is_missing(exc, module):
            raise
        raise MissingExtraError(module, extra, feature) from None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def check(extra: str, *modules: str, feature: str | None = None) -> None:
    """Check that modules are installed, without importing them.

    For modules that a feature imports later (when it starts), so that the
    user hears about a missing extra at once, in one line.

    Parameters
    ----------
    extra : str
        The extra that installs them.
    *modules : str
        Module names, e.g. ``"duckdb"``.
    feature : str, optional
        What needs them, for the message.

    Raises
    ------
    MissingExtraError
        For the first module that is not installed.
    """
    install_hint(extra)
    for module in modules:
        if not _installed(module):
            raise MissingExtraError(module, extra, feature)


@contextlib.contextmanager
def needs(extra: str, feature: str | None = None) -> Iterator[None]:
    """Turn a missing third-party module inside the block into :class:`MissingExtraError`.

    For import blocks that bring in several modules of one extra::

        with needs("platform", "civis_jupyter.platform"):
            from .local import LocalPlatform

    A missing module of civis_jupyter itself is a bug and is left as it is.

    Parameters
    ----------
    extra : str
        The extra that provides what the block imports.
    feature : str, optional
        What needs it, for the message.

    Raises
    ------
    MissingExtraError
        When a module imported in the block is not installed.
    """
    install_hint(extra)
    try:
        yield
    except MissingExtraError as exc:  # the block's extra (e.g. demo) includes the inner one
        raise MissingExtraError(exc.name or "", extra, feature) from None
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if not top or top == __name__.partition(".")[0]:
            raise
        raise MissingExtraError(exc.name or top, extra, feature) from None
