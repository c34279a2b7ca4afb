"""Motion Representations for Articulated Animation (Siarohin et al., CVPR 2021), checkpoint-compatible."""
from bench.methods.mraa.animation import animation_region_params
from bench.methods.mraa.config import MRAAConfig, mraa_config
from bench.methods.mraa.model import MRAA, build_mraa
from bench.methods.mraa.networks import (AVDNetwork, BGMotionPredictor, Generator, PixelwiseFlowPredictor,
                                         RegionPredictor)

__all__ = ["AVDNetwork", "BGMotionPredictor", "Generator", "MRAA", "MRAAConfig", "PixelwiseFlowPredictor",
           "RegionPredictor", "animation_region_params", "build_mraa", "mraa_config"]
