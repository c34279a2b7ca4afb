"""SADM (paper Section 3): keypoints, coarse field, neural-ODE motion evolution,
self-appearance flow and multi-view fusion."""
from bench.methods.sadm.config import SADMConfig, parse_config
from bench.methods.sadm.model import SADM, SADMOutput, build_sadm

__all__ = ["SADM", "SADMConfig", "SADMOutput", "build_sadm", "parse_config"]
