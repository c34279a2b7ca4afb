"""SADM motion evolution (Eq. 4): adjoint gradients, zero-init identity, NFE counting."""
from __future__ import annotations

import pytest
import torch

from bench.methods.sadm.config import EvolutionConfig
from bench.methods.sadm.evolution import MotionEvolution


def _evolution(**kwargs) -> MotionEvolution:
    torch.manual_seed(0)
    return MotionEvolution(EvolutionConfig(hidden_channels=8, num_layers=3, **kwargs))


def _gradients(ev: MotionEvolution, field0: torch.Tensor, target: torch.Tensor, adjoint: bool) -> list[torch.Tensor]:
    ev.zero_grad()
    field = field0.clone().requires_grad_(True)
    (ev(field, adjoint=adjoint) * target).sum().backward()
    return [p.grad.clone() for p in ev.parameters()] + [field.grad.clone()]


def test_adjoint_gradients_match_backpropagation_through_the_solver():
    ev = _evolution(method="rk4", steps=8, zero_init=False).double()
    gen = torch.Generator().manual_seed(1)
    field0 = 0.1 * torch.randn(2, 2, 12, 12, dtype=torch.float64, generator=gen)
    target = torch.randn(2, 2, 12, 12, dtype=torch.float64, generator=gen)
    adjoint = _gradients(ev, field0, target, adjoint=True)
    direct = _gradients(ev, field0, target, adjoint=False)
    assert len(adjoint) == len(list(ev.parameters())) + 1
    for a, d in zip(adjoint, direct):
        assert d.abs().max() > 0
        torch.testing.assert_close(a, d, rtol=1e-5, atol=1e-7 * float(d.abs().max()))


def test_zero_initialised_last_layer_leaves_the_coarse_field_unchanged():
    field = torch.randn(2, 2, 10, 10)
    for method in ("euler", "rk4"):
        assert torch.equal(_evolution(method=method, steps=3, zero_init=True)(field), field)
    # dopri5 reads t=1 off its interpolant: equal up to rounding
    torch.testing.assert_close(_evolution(method="dopri5", zero_init=True)(field), field, rtol=0, atol=1e-5)


def test_nonzero_dynamics_move_the_field():
    ev = _evolution(method="rk4", steps=2, zero_init=False)
    field = torch.randn(1, 2, 8, 8)
    assert (ev(field) - field).abs().max() > 1e-4


@pytest.mark.parametrize("method,steps,expected", [("euler", 5, 5), ("midpoint", 3, 6), ("rk4", 4, 16)])
def test_number_of_function_evaluations_is_recorded_per_forward(method, steps, expected):
    ev = _evolution(method=method, steps=steps, zero_init=False)
    field = torch.randn(1, 2, 8, 8, requires_grad=True)
    out = ev(field, adjoint=True)
    assert ev.last_nfe == expected
    out.sum().backward()  # the adjoint solve evaluates F_E again, but last_nfe stays the forward count
    assert ev.last_nfe == expected
    assert ev.dynamics.nfe > expected


def test_adaptive_solver_records_its_evaluations_and_tightens_with_tolerance():
    field = torch.randn(1, 2, 8, 8)
    nfe = []
    for tol in (1e-2, 1e-6):
        ev = _evolution(method="dopri5", rtol=tol, atol=tol, zero_init=False)
        with torch.no_grad():
            ev.dynamics.convs[-1].weight.mul_(5.0)  # stiffer dynamics so that the step count depends on tol
            ev(field)
        nfe.append(ev.last_nfe)
    assert 0 < nfe[0] < nfe[1]
