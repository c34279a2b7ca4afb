"""Training for every registered method with its official strategy (``bench train``).

``config`` (strategy presets per method and dataset, extra stages), ``augment`` (the official flips,
resize, crop and colour jitter), ``sampler`` (seeded, resumable distributed sampler), ``trainer`` (the
loop, a method's discriminator, checkpoints, Ctrl-C), ``monitor`` (MLflow and progress) and ``run``
(the verb as a function).
"""
from __future__ import annotations

from bench.training.config import TrainConfig, load_train_config
from bench.training.run import TrainRequest, TrainResult, run_training
from bench.training.trainer import Trainer, TrainingInterrupted

__all__ = ["TrainConfig", "TrainRequest", "TrainResult", "Trainer", "TrainingInterrupted", "load_train_config",
           "run_training"]
