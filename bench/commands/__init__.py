"""CLI verbs: each module defines ``register(subparsers)`` and is discovered by ``bench.cli``."""
