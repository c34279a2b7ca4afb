"""LivePortrait (Guo et al. 2024), evaluation-only, compatible with the official weights."""
from bench.methods.liveportrait.config import LivePortraitConfig, liveportrait_config
from bench.methods.liveportrait.model import LivePortrait, build_liveportrait
from bench.methods.liveportrait.official import OFFICIAL_FILES, STITCHING_ENTRIES, official_state

__all__ = ["LivePortrait", "LivePortraitConfig", "OFFICIAL_FILES", "STITCHING_ENTRIES", "build_liveportrait",
           "liveportrait_config", "official_state"]
