"""Small MLP builders."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}
NUMPY_ACTIVATIONS: dict[type[nn.Module], Callable[[np.ndarray], np.ndarray]] = {
    nn.ReLU: lambda x: np.maximum(x, 0.0, out=x),
    nn.Tanh: lambda x: np.tanh(x, out=x),
}


def mlp(in_dim: int, hidden_sizes: tuple[int, ...], out_dim: int | None, activation: str = "relu") -> nn.Sequential:
    """Linear layers of ``hidden_sizes`` with ``activation`` between them.

    (B, in_dim) -> (B, out_dim); with ``out_dim=None`` the net ends after the last hidden
    activation, (B, hidden_sizes[-1]), to serve as a trunk for heads.
    """
    layers: list[nn.Module] = []
    width = in_dim
    for hidden in hidden_sizes:
        layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
        width = hidden
    if out_dim is not None:
        layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class NumpyForward:
    """The forward pass of a chain of Linear and activation layers, in numpy, for acting.

    Acting runs every env step on a batch of a few observations, where PyTorch's per-call overhead
    (module calls, tensor wrapping) costs several times the arithmetic; numpy does the same in a
    few microseconds. The arrays are views of the live parameters (no copy), which the optimizer
    and load_state_dict update in place, so they always hold the current weights.
    """

    def __init__(self, layers: Iterable[nn.Module]) -> None:
        self.steps: list[tuple[np.ndarray, np.ndarray] | Callable[[np.ndarray], np.ndarray]] = []
        for layer in layers:
            if isinstance(layer, nn.Linear):
                self.steps.append((layer.weight.detach().numpy().T, layer.bias.detach().numpy()))
            else:
                self.steps.append(NUMPY_ACTIVATIONS[type(layer)])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(B, in_dim) -> (B, out_dim), float32."""
        x = np.asarray(x, dtype=np.float32)
        for step in self.steps:
            x = x @ step[0] + step[1] if isinstance(step, tuple) else step(x)
        return x


class ActorCriticNetwork(nn.Module):
    """A policy (logits over actions) and a state-value function V(s).

    ``shared=True``: one trunk feeding a policy head and a value head, so both losses shape the
    same features. ``shared=False``: two separate MLPs of the same widths.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden_sizes: tuple[int, ...], activation: str, shared: bool) -> None:
        super().__init__()
        self.shared = shared
        if shared:
            self.trunk = mlp(obs_dim, hidden_sizes, None, activation)
            self.policy_head = nn.Linear(hidden_sizes[-1], n_actions)
            self.value_head = nn.Linear(hidden_sizes[-1], 1)
        else:
            self.actor = mlp(obs_dim, hidden_sizes, n_actions, activation)
            self.critic = mlp(obs_dim, hidden_sizes, 1, activation)
        self._orthogonal_init()

    def _orthogonal_init(self) -> None:
        """Orthogonal weights, zero biases; the policy's last layer is scaled by 0.01.

        A near-zero policy output starts every state at the uniform policy, so early noisy
        advantages cannot push it into a deterministic choice before the critic has learned.
        """
        linears = [module for module in self.modules() if isinstance(module, nn.Linear)]
        for layer in linears:
            nn.init.orthogonal_(layer.weight, gain=2**0.5)
            nn.init.zeros_(layer.bias)
        policy_out = self.policy_head if self.shared else self.actor[-1]
        value_out = self.value_head if self.shared else self.critic[-1]
        nn.init.orthogonal_(policy_out.weight, gain=0.01)
        nn.init.orthogonal_(value_out.weight, gain=1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, obs_dim) -> logits (B, n_actions), values (B,)."""
        if self.shared:
            features = self.trunk(obs)
            return self.policy_head(features), self.value_head(features).squeeze(-1)
        return self.actor(obs), self.critic(obs).squeeze(-1)

    def parts(self) -> list[nn.Module]:
        """What each optimizer trains: the whole shared network, or the actor and the critic apart."""
        return [self] if self.shared else [self.actor, self.critic]

    def numpy_logits(self) -> NumpyForward:
        """The policy's logits as a numpy forward pass (see NumpyForward)."""
        return NumpyForward([*self.trunk, self.policy_head] if self.shared else self.actor)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) -> (B,). Squeezed: a (B, 1) value against (B,) targets would broadcast to (B, B)."""
        if self.shared:
            return self.value_head(self.trunk(obs)).squeeze(-1)
        return self.critic(obs).squeeze(-1)
