"""``bench perf floor``: the MAC counter against known answers, the floor arithmetic, the verb's plumbing
(no timing asserted)."""
from __future__ import annotations

import pytest
import torch

from bench.cli import main
from bench.runner import floor
from bench.runner.floor import MacCount, Peak, conv_macs, count_macs, floor_seconds


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0)])
def test_conv_macs_are_cout_cin_k2_hout_wout_n(stride, padding):
    conv = torch.nn.Conv2d(5, 7, 3, stride=stride, padding=padding)
    x = torch.rand(2, 5, 17, 17)
    out, macs = count_macs(lambda: conv(x))
    n, c_out, h_out, w_out = out.shape
    assert macs == MacCount(conv=conv_macs(n, 5, c_out, 3, h_out, w_out), matmul=0)
    assert macs.conv == 7 * 5 * 3 * 3 * h_out * w_out * 2


def test_matrix_products_and_transposed_convs_are_counted():
    linear = torch.nn.Linear(16, 4)
    _, macs = count_macs(lambda: linear(torch.rand(10, 16)))
    assert macs == MacCount(conv=0, matmul=10 * 16 * 4)
    up = torch.nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1)
    _, macs = count_macs(lambda: up(torch.rand(1, 3, 5, 5)))
    assert macs.conv == 2 * 3 * 4 * 4 * 5 * 5  # every input pixel meets every kernel tap once


def test_floor_is_macs_at_the_peaks_plus_start_up():
    peak = Peak(conv_gmacs=90.0, gemm_gmacs=80.0, threads=2, precision="fp32")
    assert floor_seconds(MacCount(conv=90 * 10 ** 9, matmul=40 * 10 ** 9), peak, startup=2.0) == pytest.approx(3.5)
    assert floor_seconds(MacCount(), peak, startup=0.6) == pytest.approx(0.6)


def test_floor_verb_prints_the_ratio(monkeypatch, capsys):
    monkeypatch.setattr(floor, "startup_seconds", lambda: 0.5)
    monkeypatch.setattr(floor, "measure_peak", lambda name: Peak(50.0, 40.0, torch.get_num_threads(), name))
    assert main(["perf", "floor", "--max-videos", "1", "--metrics", "l1,ssim"]) == 0
    out = capsys.readouterr().out
    assert "wall / floor" in out and "peak: 3x3 convolution 50.0 GMAC/s, GEMM 40.0 GMAC/s" in out
    counted = next(line for line in out.splitlines() if line.startswith("counted:"))
    assert sum(float(word) for word in counted.replace(",", " ").split() if word[0].isdigit()) > 0  # SSIM's filters


def test_floor_refuses_another_device_in_one_line(capsys):
    assert main(["perf", "floor", "--device", "cuda"]) == 2
    assert "--device cpu" in capsys.readouterr().err
