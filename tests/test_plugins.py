"""An outside package adds a metric, a method and a dataset through entry points, with no edit to
this repository: ``bench run`` computes the metric, and ``summary.json``, ``bench report runs``,
``bench report table1`` and ``bench check`` all show or gate it.

The package is written to a temporary folder with its ``.dist-info`` (entry points), which
``importlib.metadata`` discovers on ``PYTHONPATH`` exactly as it discovers an installed package;
every ``bench`` call is a fresh process, as a user would run it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.run_support import frames01, synthetic_videos

PLUGIN = textwrap.dedent('''
    """motionbench_demo_plugin: one metric, one method and one dataset for motionbench."""
    import torch

    from bench.datasets.spec import DatasetSpec
    from bench.methods import MethodSpec
    from bench.methods.base import Method
    from bench.metrics.base import MetricInfo, TaskUse
    from bench.metrics.frame_average import FrameAverageMetric


    class MeanColourError(FrameAverageMetric):
        """|mean intensity of the generated frame - mean intensity of the driving frame|."""

        info = MetricInfo("mean_colour", "Mean colour", higher_is_better=False, decimals=4,
                          tasks={"reconstruction": TaskUse("driving")},
                          reference="absolute difference of the frames' mean intensities")

        def frame_scores(self, generated, target):
            return (generated.mean(dim=(1, 2, 3)) - target.mean(dim=(1, 2, 3))).abs()


    class Darken(Method):
        """The source image at half brightness."""

        def generate(self, source, driving, refs=None):
            return 0.5 * source.expand_as(driving)


    METHOD = MethodSpec("darken", lambda config=None: Darken(), label="Darkened source")
    DATASET = DatasetSpec(name="plugin-figures", title="Plugin figures", domain="synthetic", frame_size=(64, 64),
                          test_count=2, train_count=None, identity_rule="before-hash", min_frames=4,
                          default_root="plugin-data")
''')
ENTRY_POINTS = textwrap.dedent('''
    [motionbench.metrics]
    mean_colour = motionbench_demo_plugin:MeanColourError

    [motionbench.methods]
    darken = motionbench_demo_plugin:METHOD

    [motionbench.datasets]
    plugin-figures = motionbench_demo_plugin:DATASET
''')


@pytest.fixture
def plugin_env(tmp_path):
    """A folder holding the plugin package (+ dist-info) and its dataset; the env to run bench in it."""
    site = tmp_path / "site"
    (site / "motionbench_demo_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "motionbench_demo_plugin.py").write_text(PLUGIN)
    info = site / "motionbench_demo_plugin-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: motionbench-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    for video in synthetic_videos(2):  # the plugin dataset's default root, relative to the working directory
        shutil.copytree(video.path, tmp_path / "plugin-data" / "test" / video.name)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    return tmp_path, env


def bench(env_and_cwd, *args: str) -> subprocess.CompletedProcess:
    cwd, env = env_and_cwd
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_outside_plugins_run_report_and_gate(plugin_env):
    cwd, _ = plugin_env
    done = bench(plugin_env, "run", "--method", "darken", "--dataset", "plugin-figures", "--task", "reconstruction",
                 "--no-best-of-refs", "--out", "out")
    assert done.returncode == 0, done.stderr
    summary = json.loads((cwd / "out" / "summary.json").read_text())
    # independent value: per frame |mean(0.5 * source) - mean(frame)|, pooled over every frame of both videos
    expected = np.mean([abs(0.5 * f[0].mean() - g.mean()) for f in (frames01(v.path) for v in synthetic_videos(2))
                        for g in f])
    assert summary["means"]["mean_colour"] == pytest.approx(expected, abs=1e-6)
    assert summary["run"]["method"] == "darken" and "mean_colour" in summary["run"]["metrics"].split(",")

    runs = bench(plugin_env, "report", "runs")
    assert runs.returncode == 0 and "mean_colour" in runs.stdout and "darken" in runs.stdout

    table = bench(plugin_env, "report", "table1")
    assert table.returncode == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if line.startswith("| Dataset"))
    assert "Rec. Mean colour ↓" in header  # an extra column, labelled and directed as the plugin declares
    row = next(line for line in table.stdout.splitlines() if "Darkened source" in line)
    assert f"{summary['means']['mean_colour']:.4f}" in row and "Plugin figures (2)" in table.stdout

    baseline = {"runs": [{"method": "darken", "dataset": "plugin-figures", "task": "reconstruction",
                          "variant": "default", "metrics": {"mean_colour": summary["means"]["mean_colour"]}}]}
    (cwd / "same.yaml").write_text(yaml.safe_dump(baseline))
    assert bench(plugin_env, "check", "--baseline", "same.yaml").returncode == 0
    baseline["runs"][0]["metrics"]["mean_colour"] -= 0.1  # the run is now 0.1 worse than the baseline
    (cwd / "better.yaml").write_text(yaml.safe_dump(baseline))
    gate = bench(plugin_env, "check", "--baseline", "better.yaml")
    assert gate.returncode == 1 and "regression" in gate.stdout and "mean_colour" in gate.stdout


def test_a_broken_plugin_is_named_in_one_line(plugin_env):
    cwd, env = plugin_env
    info = next((cwd / "site").glob("*.dist-info"))
    (info / "entry_points.txt").write_text("[motionbench.metrics]\nbroken = motionbench_demo_plugin:Darken\n")
    done = bench(plugin_env, "metrics", "list")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bench: error: metric plugin 'broken' (motionbench_demo_plugin:Darken, entry point group motionbench.metrics) "
        "cannot be loaded: TypeError: metric 'broken' must be a bench.metrics.base.Metric subclass with an `info` "
        "(MetricInfo), got <class 'motionbench_demo_plugin.Darken'>"]
