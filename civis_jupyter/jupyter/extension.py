"""Load and unload the IPython extension.

``%load_ext civis_jupyter`` puts ``civis`` (the namespace) and ``client`` (an
:class:`~civis_jupyter.APIClient` set up on first use) in the notebook,
registers the magics, and teaches IPython to show futures, list responses
and ``%%civis_sql`` results as live widgets (each with a static fallback).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd

from ..api.response import ListResponse, PaginatedResponse
from .lazyclient import ensure_ready, lazy_client
from .magics import SQL_MARKER, CivisMagics

__all__ = ["load_ipython_extension", "unload_ipython_extension"]

_STATE_KEY = "_civis_jupyter_extension"


def _widgets_on(magics: CivisMagics) -> bool:
    return bool(magics.widgets)


def _frame_bundle(magics: CivisMagics) -> Any:
    def show(frame: pd.DataFrame, include: Any = None, exclude: Any = None) -> Any:
        if not frame.attrs.get(SQL_MARKER) or not _widgets_on(magics):
            return None
        from .widgets.table import TableWidget

        return TableWidget(frame, page_size=magics.page_size)._repr_mimebundle_()

    return show


def _future_display(magics: CivisMagics) -> Any:
    def show(future: Any) -> None:
        # Displayed (not returned as a bundle) so that the output has a display id:
        # the saved notebook's card then follows the run to its end.
        from .widgets.run import show_future

        show_future(future, log_lines=magics.log_lines, widgets_on=_widgets_on(magics))

    return show


def _model_display(magics: CivisMagics) -> Any:
    def show(future: Any) -> None:
        from .widgets.ml import show_model_future

        show_model_future(future, log_lines=magics.log_lines, widgets_on=_widgets_on(magics))

    return show


def _list_bundle(magics: CivisMagics) -> Any:
    def show(items: Any, include: Any = None, exclude: Any = None) -> Any:
        if not _widgets_on(magics):
            return None
        from .widgets.table import ApiPageSource, TableWidget

        if isinstance(items, PaginatedResponse):
            fetch = items._fetch
            params = dict(items._params)

            def page(**kwargs: Any) -> Any:
                from ..api.response import convert_response_data_type

                return convert_response_data_type(fetch({**params, **kwargs}))

            source: Any = ApiPageSource(page)
            size = int(params.get("limit") or magics.page_size)
            return TableWidget(source, page_size=size)._repr_mimebundle_()
        rows = [i.json() if hasattr(i, "json") else i for i in items]
        if not rows or not all(isinstance(r, dict) for r in rows):
            return None
        frame = pd.DataFrame(rows)
        scalar = [
            c
            for c in frame.columns
            if not frame[c].map(lambda v: isinstance(v, (dict, list))).any()
        ]
        return TableWidget(frame[scalar], page_size=magics.page_size)._repr_mimebundle_()

    return show


def load_ipython_extension(ipython: Any) -> None:
    """Set up civis_jupyter in an IPython shell or Jupyter kernel.

    Parameters
    ----------
    ipython : IPython.core.interactiveshell.InteractiveShell
    """
    import civis_jupyter

    if getattr(ipython, _STATE_KEY, None) is not None:
        return
    client = lazy_client()
    magics = CivisMagics(ipython, client, parent=ipython)
    ipython.register_magics(magics)
    ipython.configurables.append(magics)
    formatter = ipython.display_formatter.mimebundle_formatter
    formatter.for_type(pd.DataFrame, _frame_bundle(magics))
    formatter.for_type(ListResponse, _list_bundle(magics))
    formatter.for_type(PaginatedResponse, _list_bundle(magics))
    ipython.display_formatter.ipython_display_formatter.for_type_by_name(
        "civis_jupyter.futures", "CivisFuture", _future_display(magics)
    )
    ipython.display_formatter.ipython_display_formatter.for_type_by_name(
        "civis_jupyter.ml._future", "ModelFuture", _model_display(magics)
    )
    injected = {"civis": civis_jupyter, "client": client}
    ipython.push(injected)
    comms = None
    if getattr(ipython, "kernel", None) is not None:
        try:
            from . import labcomm
            from .runs import RunsSource

            comms = labcomm.register_comms(ipython, partial(ensure_ready, client), RunsSource())
        except ImportError:  # the JupyterLab side is optional
            comms = None
    setattr(ipython, _STATE_KEY, {"magics": magics, "injected": injected, "comms": comms})


def unload_ipython_extension(ipython: Any) -> None:
    """Remove what :func:`load_ipython_extension` added.

    Parameters
    ----------
    ipython : IPython.core.interactiveshell.InteractiveShell
    """
    state = getattr(ipython, _STATE_KEY, None)
    if state is None:
        return
    magics = state["magics"]
    manager = ipython.magics_manager
    for kind, names in magics.magics.items():
        for name in names:
            manager.magics[kind].pop(name, None)
    manager.registry.pop(type(magics).__name__, None)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
    formatter = ipython.display_formatter.mimebundle_formatter
    for kind in (pd.DataFrame, ListResponse, PaginatedResponse):
        formatter.type_printers.pop(kind, None)
    displayer = ipython.display_formatter.ipython_display_formatter
    displayer.deferred_printers.pop(("civis_jupyter.futures", "CivisFuture"), None)
    displayer.deferred_printers.pop(("civis_jupyter.ml._future", "ModelFuture"), None)
    for kind in [k for k in displayer.type_printers if k.__module__ == "civis_jupyter.ml._future"]:
        displayer.type_printers.pop(kind)
    try:
        from ..futures import CivisFuture

        displayer.type_printers.pop(CivisFuture, None)
    except ImportError:  # pragma: no cover
        pass
    for name, value in state["injected"].items():
        if ipython.user_ns.get(name) is value:
            del ipython.user_ns[name]
    if state["comms"] is not None:
        from . import labcomm

        labcomm.unregister_comms(ipython, state["comms"])
    setattr(ipython, _STATE_KEY, None)
