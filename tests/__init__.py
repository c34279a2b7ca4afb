"""motionbench test suite (a package, so that `tests.*` resolves to this folder even where another
distribution installs a top-level `tests` package)."""
