"""Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022), compatible with the official checkpoints."""
from bench.methods.tpsmm.animation import animation_kp, movement_scale, relative_kp
from bench.methods.mraa.config import AVDTrainOptions
from bench.methods.tpsmm.config import TPSMMConfig, tpsmm_config
from bench.methods.tpsmm.model import AVD_STAGE, TPSMM, build_tpsmm
from bench.methods.tpsmm.networks import (AVDNetwork, BGMotionPredictor, DenseMotionNetwork, InpaintingNetwork,
                                          KPDetector)
from bench.methods.tpsmm.tps import TPS

__all__ = ["AVDNetwork", "AVDTrainOptions", "AVD_STAGE", "BGMotionPredictor", "DenseMotionNetwork",
           "InpaintingNetwork", "KPDetector", "TPS", "TPSMM", "TPSMMConfig", "animation_kp", "build_tpsmm",
           "movement_scale", "relative_kp", "tpsmm_config"]
