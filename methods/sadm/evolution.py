"""Motion evolution (SADM Eq. 4): the coarse field evolves by dT/dt = F_E(T, t), t in [0, 1].

The state is the ``B x 2 x h x w`` displacement field (sampling grid minus identity) at the
resolution of the coefficient network. The solve uses torchdiffeq; with ``adjoint`` the
gradients come from the adjoint ODE (constant memory in the number of steps) when gradients
are being recorded.
"""
from __future__ import annotations

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

from bench.methods.sadm.config import FIXED_STEP_SOLVERS, EvolutionConfig


class EvolutionDynamics(nn.Module):
    """F_E(T, t): a small conv net on the field with the time broadcast as an extra channel.

    Counts its evaluations in ``nfe`` (reset by :class:`MotionEvolution` before each solve).
    """

    def __init__(self, hidden_channels: int = 64, num_layers: int = 3, zero_init: bool = True) -> None:
        super().__init__()
        widths = [3] + [hidden_channels] * (num_layers - 1) + [2]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, kernel_size=3, padding=1) for a, b in zip(widths[:-1], widths[1:]))
        if zero_init:
            nn.init.zeros_(self.convs[-1].weight)
            nn.init.zeros_(self.convs[-1].bias)
        self.nfe = 0

    def forward(self, t: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        time = t.to(field).expand(field.shape[0], 1, *field.shape[2:])
        x = torch.cat([field, time], dim=1)
        for conv in self.convs[:-1]:
            x = torch.tanh(conv(x))
        return self.convs[-1](x)


class MotionEvolution(nn.Module):
    """Integrates F_E from t=0 (coarse field) to t=1 (refined field); records ``last_nfe``."""

    def __init__(self, config: EvolutionConfig) -> None:
        super().__init__()
        self.config = config
        self.dynamics = EvolutionDynamics(config.hidden_channels, config.num_layers, config.zero_init)
        self.last_nfe = 0

    def solver_kwargs(self) -> dict:
        cfg = self.config
        if cfg.method in FIXED_STEP_SOLVERS:
            return {"method": cfg.method, "options": {"step_size": 1.0 / cfg.steps}}
        return {"method": cfg.method, "rtol": cfg.rtol, "atol": cfg.atol}

    def forward(self, field: torch.Tensor, adjoint: bool | None = None) -> torch.Tensor:
        """Evolve ``B x 2 x h x w`` ``field``; ``adjoint`` defaults to the config when grads are on."""
        if adjoint is None:
            adjoint = self.config.adjoint and torch.is_grad_enabled()
        times = torch.tensor([0.0, 1.0], dtype=field.dtype, device=field.device)
        kwargs = self.solver_kwargs()
        self.dynamics.nfe = 0
        if adjoint:
            params = tuple(p for p in self.dynamics.parameters() if p.requires_grad)
            out = odeint_adjoint(self.dynamics, field, times, adjoint_params=params, **kwargs)
        else:
            out = odeint(self.dynamics, field, times, **kwargs)
        self.last_nfe = self.dynamics.nfe
        return out[-1]
