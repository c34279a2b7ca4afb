"""One registry per plugin kind, filled by this package and by entry points.

An outside package adds a plugin without editing this repository by declaring
an entry point in the group of that kind, e.g. in its ``pyproject.toml``::

    [project.entry-points."motionbench.methods"]
    my-method = "my_pkg.model:build_my_method"
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Callable, Generic, Iterator, TypeVar

from bench.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps plugin names to factories; entry points of ``group`` are loaded lazily."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}
        self._entry_points_loaded = False

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def add(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            if ep.name not in self._items:
                self._items[ep.name] = ep.load()

    def get(self, name: str) -> T:
        self._load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            choices = ", ".join(sorted(self._items))
            raise UserError(f"unknown {self.kind} '{name}'; choose from: {choices}") from None

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
