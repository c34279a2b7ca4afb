"""``bench sweep``: grids from the experiment files, skipping complete runs, dry runs."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bench import tracking
from bench.checkpoints import save_checkpoint
from bench.cli import main
from bench.config import apply_overrides, config_path, load_yaml
from bench.errors import ConfigError
from bench.experiment.training import OPTION_KEYS, SECTION_KEYS
from bench.methods import build_method
from bench.methods.presets import load_model_params
from bench.methods.sadm.config import parse_config
from bench.runner.evaluate import ItemEvaluator
from bench.runner.settings import command_line
from bench.runner.sweep import CELL_KEYS, TOP_KEYS, load_sweep

TINY_SWEEP = """
name: tiny
methods: [copy-source]
datasets: [synthetic]
task: reconstruction
max_videos: 2
metrics: l1
variants:
  - {name: default, refs: 1}
  - {name: seed1, refs: 1, seed: 1}
  - {name: broken, checkpoint: "missing/{method}-{dataset}.pt"}
"""


def _experiment(name: str):
    return load_sweep(config_path("experiments", f"{name}.yaml"))


def test_paper_experiment_grids():
    table1 = _experiment("table1")
    assert len(table1) == 6 * 8 * 2  # fomm, mraa, tpsmm, lia, sadm, liveportrait x 8 datasets x 2 tasks
    assert {(j.settings.method, j.settings.dataset) for j in table1} >= {("fomm", "vox"), ("sadm", "mgif")}
    first = table1[0].settings
    assert first.checkpoint == f"checkpoints/{first.method}-{first.dataset}.pt" and first.refs == 3
    # LivePortrait (evaluation-only): its official weights folder, through method_options
    assert all((j.settings.official, j.settings.checkpoint) == (j.settings.method == "liveportrait",
               "checkpoints/liveportrait" if j.settings.method == "liveportrait" else j.settings.checkpoint)
               for j in table1)
    assert first.out.endswith(f"{first.dataset}/{first.method}-default-n3/{first.task}")

    ablation = {j.settings.variant: j.settings for j in _experiment("ablation")}
    assert set(ablation) == {"full", "no_motion_evolution", "no_appearance_assist", "no_multiview_fusion"}
    assert ablation["no_motion_evolution"].checkpoint == "checkpoints/sadm-dfdc-no_motion_evolution.pt"
    assert ablation["no_multiview_fusion"].refs == 0 and ablation["full"].checkpoint == "checkpoints/sadm-dfdc.pt"
    # the toggles are real SADM config keys and switch exactly those components off
    base = load_yaml(config_path("methods", "sadm", "dfdc.yaml"))["model_params"]
    for variant, attribute in (("no_motion_evolution", "motion_evolution"), ("no_appearance_assist", "appearance_assist")):
        config = parse_config(apply_overrides(base, ablation[variant].overrides))
        assert getattr(config, attribute) is False and parse_config(base).__dict__[attribute] is True

    nviews = _experiment("nviews")
    assert sorted({j.settings.refs for j in nviews}) == [1, 2, 3, 4, 5, 6]
    assert len({j.settings.out for j in nviews}) == len(nviews)

    generality = _experiment("generality")
    assert {j.settings.dataset for j in generality} == {"nemo", "mgif"} and {j.task for j in generality} == {"reconstruction"}
    assert len(generality) == 6 * 2  # fomm, mraa, tpsmm, lia, sadm, liveportrait x (nemo, mgif)
    trained = [j for j in generality if j.settings.method != "liveportrait"]
    assert all(j.settings.checkpoint.endswith("-vox.pt") and j.settings.train_dataset == "vox" for j in trained)
    assert {(j.settings.official, j.settings.train_dataset) for j in generality if j not in trained} == {
        (True, "liveportrait-release")}


def test_sweep_runs_the_grid_then_skips_what_is_complete(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY_SWEEP)
    assert main(["sweep", "tiny.yaml"]) == 1  # the broken cell fails, the others run
    out = capsys.readouterr()
    assert "2 ran now, 1 failed" in out.out and "checkpoint not found: missing/copy-source-synthetic.pt" in out.err
    runs = tracking.find_runs({"status": "complete"})
    assert sorted(r.data.tags["mb.variant"] for r in runs) == ["default", "seed1"]
    assert (tmp_path / "runs/tiny/synthetic/copy-source-seed1-n1/reconstruction/summary.json").is_file()

    def no_compute(*args, **kwargs):
        raise AssertionError("a complete run was computed again")
    monkeypatch.setattr(ItemEvaluator, "evaluate", no_compute)
    assert main(["sweep", "tiny.yaml"]) == 1
    assert "2 already complete, 0 ran now, 1 failed" in capsys.readouterr().out


def test_dry_run_commands_are_the_runs_the_sweep_counts_as_complete(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY_SWEEP)
    jobs = load_sweep("tiny.yaml")
    assert main(["sweep", "tiny.yaml", "--dry-run"]) == 1  # the broken variant's checkpoint is missing
    printed = capsys.readouterr().out
    assert command_line(jobs[0].settings) in printed and "2 to run, 1 cannot run" in printed
    assert not (tmp_path / "runs").exists()
    assert main(shlex.split(command_line(jobs[0].settings))[1:]) == 0
    capsys.readouterr()
    assert main(["sweep", "tiny.yaml", "--dry-run"]) == 1
    assert "[1/3] copy-source/synthetic/default N=1/reconstruction: complete" in capsys.readouterr().out


def test_unknown_keys_are_named(tmp_path):
    (tmp_path / "bad.yaml").write_text("methods: [copy-source]\ndatasets: [synthetic]\nvariants:\n  - {name: a, refz: 2}\n")
    with pytest.raises(ConfigError, match="unknown key 'refz'"):
        load_sweep(tmp_path / "bad.yaml")
    (tmp_path / "bad.yaml").write_text("methods: [copy-source]\ndatasets: [synthetic]\n"
                                      "method_options: {copy-source: {refz: 2}}\n")
    with pytest.raises(ConfigError, match="method_options.copy-source: unknown key 'refz'"):
        load_sweep(tmp_path / "bad.yaml")
    (tmp_path / "bad.yaml").write_text("methods: [copy-source]\ndatasets: [synthetic]\nmethod_options: {fomm: {}}\n")
    with pytest.raises(ConfigError, match="method_options names 'fomm', which is not in methods"):
        load_sweep(tmp_path / "bad.yaml")


def test_method_options_set_one_methods_cells_under_the_variants(tmp_path):
    (tmp_path / "grid.yaml").write_text("methods: [copy-source, fomm]\ndatasets: [synthetic]\nrefs: 1\n"
                                        "method_options: {fomm: {refs: 2, seed: 5}}\n"
                                        "variants:\n  - {name: a}\n  - {name: b, seed: 7}\n")
    cells = {(j.settings.method, j.settings.variant): j.settings for j in load_sweep(tmp_path / "grid.yaml")}
    assert (cells["copy-source", "a"].refs, cells["copy-source", "a"].seed) == (1, 0)
    assert (cells["fomm", "a"].refs, cells["fomm", "a"].seed) == (2, 5)
    assert (cells["fomm", "b"].refs, cells["fomm", "b"].seed) == (2, 7)  # the variant's own option wins


def test_task_all_splits_the_metric_list_by_protocol(tmp_path):
    (tmp_path / "all.yaml").write_text("methods: [copy-source]\ndatasets: [synthetic]\ntask: all\nmetrics: l1,fid\n")
    jobs = {job.task: job.settings for job in load_sweep(tmp_path / "all.yaml")}
    assert jobs["reconstruction"].metrics == ["l1", "fid"] and jobs["animation"].metrics == ["fid"]
    assert jobs["animation"].out == "runs/all/synthetic/copy-source-default/animation"


def test_a_dry_run_with_cells_that_cannot_run_exits_1_and_counts_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no data/dfdc, no checkpoints/sadm-dfdc.pt
    assert main(["sweep", str(config_path("experiments", "nviews.yaml")), "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "error: checkpoint not found: checkpoints/sadm-dfdc.pt" in out
    assert out.strip().splitlines()[-1].endswith("12 run(s): 0 already complete, 0 to run, 12 cannot run")
    assert not (tmp_path / "runs").exists()


def test_the_synthetic_nviews_and_ablation_files_run_on_the_demo_and_their_own_training(tmp_path, monkeypatch, capsys):
    """The shipped synthetic versions of Tables 3 and 4: N = 1..6 on the demo's SADM checkpoint (dry run exits 0
    once the demo wrote it); the ablation trains its four variants itself, nothing else needed."""
    monkeypatch.chdir(tmp_path)
    nviews = str(config_path("experiments", "nviews-synthetic.yaml"))
    assert main(["sweep", nviews, "--dry-run"]) == 1
    capsys.readouterr()
    demo_checkpoint = tmp_path / "outputs/demo/train/sadm/checkpoints/last.pt"
    config = load_model_params("sadm", "synthetic")
    save_checkpoint(demo_checkpoint, method="sadm", config=config, model=build_method("sadm", config).state_dict(),
                    train_dataset="synthetic")  # what bench demo writes there (its weights do not matter here)
    assert main(["sweep", nviews, "--dry-run"]) == 0
    assert "12 to run, 0 cannot run" in capsys.readouterr().out
    jobs = load_sweep(nviews)
    assert sorted({j.settings.refs for j in jobs}) == [1, 2, 3, 4, 5, 6]
    assert {(j.settings.dataset, j.settings.checkpoint) for j in jobs} == {("synthetic", str(demo_checkpoint.relative_to(tmp_path)))}
    ablation = str(config_path("experiments", "ablation-synthetic.yaml"))
    assert main(["sweep", ablation, "--dry-run"]) == 0
    assert "12 run(s): 0 already complete, 12 to run, 0 cannot run" in capsys.readouterr().out
    assert not (tmp_path / "runs").exists()


def test_the_readme_lists_every_experiment_key():
    """The README's table of experiment-file keys names exactly the keys the loader accepts."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("The keys of an experiment file:\n\n", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    rows = {cells[1].strip(): cells[2].strip() for cells in (line.split("|") for line in table)}

    def names(text: str) -> list[str]:
        return re.findall(r"`([^`]+)`", text)

    assert names(rows["`<run option>`"].split(": ", 1)[1]) == list(CELL_KEYS)
    assert names(rows["`train`"].split("): ", 1)[1]) == [*SECTION_KEYS, *OPTION_KEYS]
    top = [name for key in rows for name in names(key) if name != "<run option>"]
    assert sorted(top) == sorted(set(TOP_KEYS) - set(CELL_KEYS))
