"""Resource objects whose methods are built lazily from Operation records.

For each (spec, resource) there is one Python class, shared by every client
built from that spec. The class starts with one small descriptor per method;
the first time a method is touched (called, inspected, completed, ``help``)
its function, signature and docstring are built and installed on the class,
so later clients pay nothing.
"""

from __future__ import annotations

import inspect
import threading
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from .docs import method_doc
from .response import PaginatedResponse, convert_response_data_type
from .spec import ApiSpec, Operation

__all__ = ["Resource", "build_method", "resource_class"]

_POS = inspect.Parameter.POSITIONAL_OR_KEYWORD
_KW = inspect.Parameter.KEYWORD_ONLY
_classes_lock = threading.Lock()


class Resource:
    """Base class of the generated resource classes (``client.scripts`` ...).

    Parameters
    ----------
    client : APIClient
        The client whose transport the methods use.
    """

    _resource_name = ""

    def __init__(self, client: Any):
        self._client = client

    def __repr__(self) -> str:
        return f"<civis_jupyter resource {self._resource_name!r}>"

    def _call(
        self,
        op: Operation,
        path: str,
        query: dict[str, Any],
        body: dict[str, Any] | None,
        iterator: bool = False,
    ) -> Any:
        client = self._client
        transport = client._transport
        return_type = client._return_type
        if iterator:
            result: Any = PaginatedResponse(
                lambda params: transport.request("GET", path, params), query, return_type
            )
        else:
            response = transport.request(op.verb, path, query, body)
            result = convert_response_data_type(
                response, return_type, from_json_values=path.startswith("json_values")
            )
        client.last_response = result
        return result


class _LazyMethod:
    """Descriptor that builds a method on first access and replaces itself."""

    __slots__ = ("alias", "name", "op")

    def __init__(self, name: str, op: Operation, alias: bool):
        self.name = name
        self.op = op
        self.alias = alias

    def __set_name__(self, owner: type, name: str) -> None:  # pragma: no cover
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        cls = owner if owner is not None else type(obj)
        fn = build_method(self.op, self.name, alias=self.alias)
        setattr(cls, self.name, fn)
        return fn if obj is None else fn.__get__(obj, cls)


def _signature(op: Operation) -> tuple[inspect.Signature, list[Any]]:
    params = op.params
    required = [p for p in params if p.required]
    optional = [p for p in params if not p.required]
    parameters = [inspect.Parameter("self", _POS)]
    parameters += [inspect.Parameter(p.name, _POS) for p in required]
    parameters += [inspect.Parameter(p.name, _KW, default=None) for p in optional]
    if op.paginated:
        parameters.append(inspect.Parameter("iterator", _KW, default=False))
    return inspect.Signature(parameters), params


def build_method(op: Operation, name: str, alias: bool = False) -> Callable[..., Any]:
    """Build the function behind one client method.

    Parameters
    ----------
    op : Operation
        The operation to call.
    name : str
        The method's name.
    alias : bool, optional
        The name is a deprecated alias: calls warn with ``FutureWarning``.

    Returns
    -------
    callable
        A function taking ``self`` (a :class:`Resource`) and the operation's
        arguments.
    """
    signature, params = _signature(op)
    call_sig = signature.replace(parameters=list(signature.parameters.values())[1:])
    known = frozenset(call_sig.parameters)
    where = {p.name: p for p in params}
    has_body = any(p.get("in") == "body" for p in op.raw.get("parameters") or ())
    template = op.path
    preferred = op.name
    resource = op.resource
    warning = None
    if alias:
        warning = (
            f"The method name {resource}.{name} is deprecated; use "
            f"{resource}.{preferred} instead (same call)."
        )

    def method(self: Resource, *args: Any, **kwargs: Any) -> Any:
        unexpected = set(kwargs) - known
        if unexpected:
            raise TypeError(f"{name}() got an unexpected keyword argument(s) {unexpected}")
        if warning:
            warnings.warn(warning, FutureWarning, stacklevel=2)
        bound = call_sig.bind(*args, **kwargs).arguments
        iterator = bool(bound.pop("iterator", False))
        path = template
        query: dict[str, Any] = {}
        body: dict[str, Any] | None = {} if has_body else None
        for key, value in bound.items():
            param = where[key]
            if param.location == "path":
                path = path.replace("{" + param.api_name + "}", quote(str(value), safe=""))
            elif param.location == "query":
                query[param.api_name] = value
            elif body is not None:
                body[param.api_name] = value
        return self._call(op, path, query, body, iterator)

    method.__name__ = name
    method.__qualname__ = f"{resource.title()}.{name}"
    method.__signature__ = signature  # type: ignore[attr-defined]
    method.__doc__ = method_doc(op, name, warning)
    return method


def resource_class(spec: ApiSpec, name: str) -> type[Resource]:
    """The (shared) class of one resource of a spec.

    Parameters
    ----------
    spec : ApiSpec
        The parsed spec.
    name : str
        The resource name, e.g. ``"scripts"``.

    Returns
    -------
    type
        A :class:`Resource` subclass with one lazy method per operation.
    """
    cache: dict[str, type[Resource]] = spec.__dict__.setdefault("_resource_classes", {})
    cls = cache.get(name)
    if cls is not None:
        return cls
    with _classes_lock:
        cls = cache.get(name)
        if cls is None:
            methods = spec.resources[name]
            namespace: dict[str, Any] = {
                "__doc__": (
                    f"Methods for the Civis API's ``/{name}`` endpoints "
                    f"({len(methods)} methods; see ``help()`` on each)."
                ),
                "_resource_name": name,
                "__module__": __name__,
            }
            for method_name, op in methods.items():
                namespace[method_name] = _LazyMethod(method_name, op, method_name != op.name)
            cls = type(name.title().replace("_", ""), (Resource,), namespace)
            cache[name] = cls
    return cls
