"""First Order Motion Model (Siarohin et al., NeurIPS 2019), compatible with the official checkpoints."""
from bench.methods.fomm.animation import normalize_kp
from bench.methods.fomm.config import FOMMConfig, fomm_config
from bench.methods.fomm.model import FOMM, build_fomm
from bench.methods.fomm.networks import DenseMotionNetwork, KPDetector, OcclusionAwareGenerator

__all__ = ["FOMM", "FOMMConfig", "DenseMotionNetwork", "KPDetector", "OcclusionAwareGenerator", "build_fomm",
           "fomm_config", "normalize_kp"]
