"""Test helpers under the official client's name: ``civis.tests``.

``from civis_jupyter.tests import create_client_mock`` works as
``from civis.tests import create_client_mock`` does; the pytest fixtures of
the embedded platform live in :mod:`civis_jupyter.testing`.
"""

from .mocks import create_client_mock, create_client_mock_for_container_tests

__all__ = ["create_client_mock", "create_client_mock_for_container_tests"]
