"""YAML configuration files shipped with motionbench (read with importlib.resources)."""
