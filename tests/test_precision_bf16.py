"""``--precision bf16``: autocast around the method's forward only, float32 frames for the metrics, its own
run key and tag, never in a row with fp32 runs, within :data:`BF16_FORWARD_TOLERANCE` of fp32."""
from __future__ import annotations

import pytest
import torch

from bench.cli import main
from bench.methods import build_method
from bench.methods.presets import load_model_params
from bench.precision import BF16_FORWARD_TOLERANCE, PRECISIONS, get_precision
from bench.errors import UserError
from bench.reports.runs import load_runs
from bench.reports.tables import build_table
from bench.runner import plan_run
from bench.runner.evaluate import ItemEvaluator
from bench.runner.items import load_item
from bench.runner.plan import plan_keys
from tests.run_support import quick_settings
from tests.test_report_tables import RECON, log_run, runs_env, store_uri  # noqa: F401  (fixtures)
from tests.test_table_integrity import DEMO, _row
from tests.tiny_method import build_tiny

BF16 = PRECISIONS["bf16"]


def test_bf16_keeps_float32_weights_and_autocasts_the_forward_only():
    assert BF16.dtype == torch.float32 and not BF16.trains
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.rand(1, 3, 8, 8)
    with BF16.scope("cpu"):
        assert conv(x).dtype == torch.bfloat16
    assert conv(x).dtype == torch.float32 and torch.get_default_dtype() == torch.float32
    with pytest.raises(UserError, match="evaluation only"):
        get_precision("bf16", training=True)


def test_train_refuses_bf16_in_one_line(capsys, tmp_path):
    assert main(["train", "--method", "fomm", "--dataset", "synthetic", "--precision", "bf16", "--epochs", "1",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "evaluation only" in err and len(err.splitlines()) == 1


def test_precision_is_in_the_run_key_and_the_tag(tmp_path):
    fp32 = plan_keys(quick_settings(tmp_path / "a", max_videos=1))
    bf16 = plan_keys(quick_settings(tmp_path / "b", precision="bf16", max_videos=1))
    assert fp32["reconstruction"] != bf16["reconstruction"]
    plan = plan_run(quick_settings(tmp_path / "c", precision="bf16", max_videos=1))
    assert plan.tasks[0].tags["mb.precision"] == "bf16" and plan.tasks[0].run_key == bf16["reconstruction"]


class _DtypeProbe:
    """A metric stand-in that records the dtype of the frames it is given."""

    target = "driving"

    def __init__(self) -> None:
        self.dtypes: list[torch.dtype] = []

    def reset(self) -> None:
        pass

    def update(self, generated: torch.Tensor, target: torch.Tensor, video: str) -> None:
        self.dtypes.append(generated.dtype)

    def state(self) -> dict:
        return {}


def test_bf16_frames_reach_the_metrics_as_float32(tmp_path):
    method = build_tiny().eval()
    with torch.no_grad(), BF16.scope():
        assert method.generate(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)).dtype == torch.bfloat16
    plan = plan_run(quick_settings(tmp_path, max_videos=1))
    probe = _DtypeProbe()
    evaluator = ItemEvaluator(method, {"probe": probe}, "reconstruction", torch.device("cpu"), 4, precision=BF16)
    item = load_item(plan.tasks[0].items[0], plan.spec.frame_size, plan.refs, plan.seed)
    evaluator.run(item, item.source, None)
    assert probe.dtypes and set(probe.dtypes) == {torch.float32}


def test_bf16_runs_never_share_a_row_with_fp32_runs(runs_env):
    for method in ("fomm", "sadm"):
        log_run(method, "synthetic", "reconstruction", {**RECON, "videos": 3}, **DEMO)
    log_run("sadm", "synthetic", "reconstruction", {**RECON, "l1": 0.5, "videos": 3}, **{**DEMO, "precision": "bf16"})
    table = build_table("table1", load_runs())
    sadm = _row(table, "SADM")
    assert sadm.cells[("reconstruction", "l1")].value == RECON["l1"]  # the fp32 run, not the newer bf16 one
    assert {run["precision"] for run in sadm.runs.values()} == {"fp32"} and table.left_out == 1


def test_a_bf16_forward_stays_within_the_documented_tolerance_of_fp32():
    """A small FOMM (the synthetic preset, seeded random weights) on random 64-px frames; the tolerance and
    its measurement are documented next to :data:`BF16_FORWARD_TOLERANCE`."""
    torch.manual_seed(0)
    model = build_method("fomm", load_model_params("fomm", "synthetic")).eval()
    frames = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    source = frames[:1].expand(2, -1, -1, -1)
    with torch.no_grad():
        fp32 = model.generate(source, frames)
        with BF16.scope("cpu"):
            bf16 = model.generate(source, frames)
    assert bf16.dtype == torch.bfloat16
    deviation = (bf16.float() - fp32).abs().max().item()
    assert 0 < deviation <= BF16_FORWARD_TOLERANCE
