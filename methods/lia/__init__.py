"""Latent Image Animator (Wang, Yang, Bremond & Dantcheva, ICLR 2022), compatible with the official checkpoints."""
from bench.methods.lia.config import ANIMATION_MODES, LIAConfig, lia_config
from bench.methods.lia.discriminator import Discriminator, adversarial_terms
from bench.methods.lia.generator import Direction, Encoder, Generator, Synthesis
from bench.methods.lia.model import LIA, build_lia

__all__ = ["ANIMATION_MODES", "Direction", "Discriminator", "Encoder", "Generator", "LIA", "LIAConfig",
           "Synthesis", "adversarial_terms", "build_lia", "lia_config"]
