"""The fixture tests' tolerances (tests.reference.tolerance) are the fixture README's rule applied to
noise_floors.json: they reproduce the README's own per-fixture table."""
from __future__ import annotations

import re

import pytest

from tests.reference import FIXTURES, category, round_up_125, tolerance

NUMBER = r"(-|\d[\d.]*e[+-]?\d+|\d[\d.]*)"
ROW = re.compile(rf"^\| ([\w-]+)\.pt \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \|$", re.M)
COLUMNS = ("losses", "values", "images", "grads")


def test_tolerances_reproduce_the_readme_table():
    readme = FIXTURES / "README.md"
    if not readme.is_file():
        pytest.skip(f"fixture README not found at {readme}")
    rows = ROW.findall(readme.read_text())
    assert rows, "no tolerance table in the fixture README"
    for name, *cells in rows:
        for kind, cell in zip(COLUMNS, cells):
            if cell != "-":
                assert tolerance(name, kind) == pytest.approx(float(cell)), (name, kind)


def test_rounding_and_categories():
    assert [round_up_125(v) for v in (1e-4, 1.05e-4, 1.68e-3, 4.83e-4, 6.9e-4, 0.018)] == \
        pytest.approx([1e-4, 2e-4, 2e-3, 5e-4, 1e-3, 0.02])
    assert category("animation/avd/prediction") == category("prediction/relative=False") == "images"
    assert category("rec/warped_encoder_maps") == category("intermediates/deformed") == "images"
    assert category("train_avd/loss/rec_shift") == category("loss_total_generator") == "losses"
    assert category("grads/generator: ||diff||/||grad||") == "grads"
    assert category("rec/occlusion_map") == category("animation/avd/new_region_params/covar") == "values"
