"""Testing helpers: ``create_client_mock`` and the pytest plugin.

The pytest plugin (registered through the ``pytest11`` entry point) provides
fixtures that start the embedded local platform for your tests; see
:mod:`civis_jupyter.platform.pytest_plugin`. Loading the plugin is cheap: the
platform (tornado, DuckDB) is imported only when a test asks for a fixture,
and without the ``platform`` extra such a test fails with a one-line message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

__all__ = ["bundled_spec_path", "create_client_mock"]

_SURFACE = Path(__file__).parent / "platform" / "surface.json.gz"


def bundled_spec_path() -> Path:
    """Path of the API spec structure shipped with the package.

    Returns
    -------
    pathlib.Path
    """
    return _SURFACE


def create_client_mock(local_api_spec: Any = None) -> mock.NonCallableMagicMock:
    """Return a mock of :class:`~civis_jupyter.APIClient` for unit tests.

    The mock is autospecced from a real client built from the API spec, so
    a misspelled method raises ``AttributeError`` and a wrong argument
    raises ``TypeError``, just as the real client would. Set return values
    on the methods your code calls::

        client = create_client_mock()
        client.users.get_me.return_value = civis.Response({"id": 1})

    Parameters
    ----------
    local_api_spec : dict or path, optional
        The spec to build from; defaults to the one shipped with the package.

    Returns
    -------
    unittest.mock.NonCallableMagicMock
        The autospecced client.
    """
    from .api.client import APIClient

    spec = local_api_spec if local_api_spec is not None else _SURFACE
    real = APIClient(api_key="mock-key", local_api_spec=spec)
    # A stand-in class holding what the client offers, so that autospeccing
    # never evaluates the client's properties (they would call the API).
    namespace: dict[str, Any] = {name: getattr(real, name) for name in real.resources}
    for name, value in vars(APIClient).items():
        if name.startswith("_"):
            continue
        namespace[name] = None if isinstance(value, property) else value
    namespace["last_response"] = None
    stand_in = type("APIClient", (), namespace)()
    return mock.create_autospec(stand_in, spec_set=True, instance=True)


# The fixtures of the embedded platform, for pytest's plugin loader (they need
# pytest, which is not a dependency: without it this module is the mock only).
try:
    from .platform.pytest_plugin import (
        civis_client,
        civis_env,
        civis_platform,
        civis_user,
        pytest_addoption,
    )
except ModuleNotFoundError as exc:
    if exc.name != "pytest":
        raise
else:
    __all__ += ["civis_client", "civis_env", "civis_platform", "civis_user", "pytest_addoption"]
