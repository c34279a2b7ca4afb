"""One registry per plugin kind, filled by this package and by entry points.

An outside package adds a plugin without editing this repository by declaring
an entry point in the group of that kind, e.g. in its ``pyproject.toml``::

    [project.entry-points."motionbench.methods"]
    my-method = "my_pkg.model:build_my_method"
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Iterator, TypeVar

from bench.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps plugin names to plugins; entry points of ``group`` are loaded lazily.

    ``adapt`` turns what an entry point (or ``register``) hands over into the registered
    object, checking it (e.g. a bare factory becomes a spec with default facts); it raises
    ``TypeError`` / ``ValueError`` for something that is not a plugin of this kind.
    """

    def __init__(self, kind: str, group: str, adapt: Callable[[str, Any], T] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._adapt = adapt
        self._items: dict[str, T] = {}
        self._entry_points_loaded = False

    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def add(item: Any) -> Any:
            adapted = self._adapt(name, item) if self._adapt else item
            if name in self._items and self._items[name] is not adapted and self._items[name] != adapted:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._items[name] = adapted
            return item

        return add if obj is None else add(obj)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            if ep.name in self._items:
                continue
            try:
                loaded = ep.load()
                self._items[ep.name] = self._adapt(ep.name, loaded) if self._adapt else loaded
            except Exception as exc:  # a broken plugin is the plugin's problem: say which one
                raise UserError(f"{self.kind} plugin '{ep.name}' ({ep.value}, entry point group {self.group}) "
                                f"cannot be loaded: {type(exc).__name__}: {exc}") from None

    def ordered(self) -> list[str]:
        """Names in registration order (this package's plugins first, then entry points)."""
        self._load_entry_points()
        return list(self._items)

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
