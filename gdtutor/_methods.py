"""Entry points with a ``method=`` switch, in the shape of :func:`scipy.optimize.minimize`.

Each method is one function whose keyword-only parameters, after the arguments its entry point
passes to every method, are that method's options, with their defaults: the only place a default
lives. :class:`MethodTable` looks a method up and rejects unknown or foreign options before any
work is done, naming the options the method does take; :func:`gdtutor.show_options` prints a
method's documentation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gdtutor._validation import plain

_TABLES: dict[str, MethodTable] = {}


@dataclass(frozen=True)
class MethodTable:
    """The methods of one entry point.

    Attributes
    ----------
    entry
        The entry point's name, as users call it (``"inverse"``).
    methods
        Each method's name and the function that implements it.
    shared
        The keyword arguments the entry point passes to every method itself (``"tol"``, ...):
        not options, since they mean the same for every method.
    """

    entry: str
    methods: Mapping[str, Callable[..., Any]]
    shared: tuple[str, ...]

    def __post_init__(self) -> None:
        _TABLES[self.entry] = self

    def options(self, method: str) -> dict[str, Any]:
        """The options of ``method`` and their defaults, in the order the function declares them."""
        parameters = inspect.signature(self.lookup(method)).parameters.values()
        return {
            p.name: p.default
            for p in parameters
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in self.shared
        }

    def lookup(self, method: str) -> Callable[..., Any]:
        """The function of ``method``; a clear error for an unknown one."""
        try:
            return self.methods[method]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown method {method!r} for {self.entry}(); choose one of {tuple(self.methods)}."
            ) from None

    def resolve(
        self, method: str, options: Mapping[str, Any]
    ) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The function of ``method``, after checking that it takes every one of ``options``.

        Returns the function and the options, NumPy scalars and 0-d tensors among them turned
        into the Python numbers they hold (the method checks their values).

        Raises
        ------
        ValueError
            For an unknown method.
        TypeError
            For an option the method does not take, naming the ones it does. (A method that
            forwards extra options, such as ``"optimizer"`` to its torch optimizer, checks those
            itself, before it iterates.)
        """
        function = self.lookup(method)
        forwards = any(
            p.kind is inspect.Parameter.VAR_KEYWORD
            for p in inspect.signature(function).parameters.values()
        )
        foreign = sorted(set(options) - set(self.options(method)))
        if foreign and not forwards:
            raise TypeError(
                f"{self.entry}(method={method!r}) does not take {', '.join(foreign)}; "
                f"its options are {self.describe(method)}. "
                f"See gdtutor.show_options({self.entry!r}, {method!r})."
            )
        return function, {name: plain(value) for name, value in options.items()}

    def describe(self, method: str) -> str:
        """The options of ``method`` with their defaults, as ``name=default, ...``."""
        options = self.options(method)
        return ", ".join(f"{name}={default!r}" for name, default in options.items()) or "none"


def show_options(entry: str, method: str | None = None) -> str:
    """The documentation of a method's options, like :func:`scipy.optimize.show_options`.

    Parameters
    ----------
    entry
        ``"inverse"``, ``"svd"`` or ``"complete"``.
    method
        One of the entry point's methods; ``None`` for all of them.

    Returns
    -------
    str
        For each method: its name, its options with their defaults, and its docstring.

    Examples
    --------
    >>> import gdtutor
    >>> print(gdtutor.show_options("inverse", "gd").splitlines()[0])
    inverse(method='gd'): lr=None, max_steps=10000, progress=False
    """
    try:
        table = _TABLES[entry]
    except KeyError:
        raise ValueError(
            f"unknown entry point {entry!r}; choose one of {sorted(_TABLES)}."
        ) from None
    names = list(table.methods) if method is None else [method]
    sections = []
    for name in names:
        doc = inspect.getdoc(table.lookup(name)) or ""
        sections.append(f"{entry}(method={name!r}): {table.describe(name)}\n\n{doc}")
    return "\n\n".join(sections)
