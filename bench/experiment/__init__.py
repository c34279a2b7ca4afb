"""Experiments as cells, run here or on a SLURM cluster (``bench sweep``).

``load`` (an experiment file: training cells from its ``train`` section, evaluation cells from its
grid, ``resources``), ``training`` (the training cells), ``cells`` (one cell run in this process),
``status`` (each cell's state from the tracking store, the files and the scheduler), ``local``
(the local executor), ``slurm`` / ``scheduler`` / ``records`` / ``job`` (the SLURM executor through
submitit: submission, job states, what was submitted, and the callable each job runs).
"""
from __future__ import annotations

from bench.experiment.load import Experiment, load_experiment

__all__ = ["Experiment", "load_experiment"]
