"""Where a training run spends its time: cProfile over ``train()``, plus its unprofiled speed.

    python bench/profile_run.py --algo dqn --total-steps 30000 \\
        --set hidden_sizes=64,64 --set train_freq=4 --set batch_size=64 --set tau=0.001
    python bench/profile_run.py --algo a2c --set n_envs=8 --set n_steps=5 --total-steps 100000

Runs the config twice: once plain for steps/s (cProfile slows Python calls, not C ones, so its
own timings overstate the Python parts), then under cProfile, printing the functions with the
most time spent in themselves. First it times the floor: one bare gradient step of the config's
network(s) on a batch of its size (forward, a squared loss, backward, Adam), the cost per update
that no implementation avoids; the per-env-step cost of the run against it shows the overhead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rlviz.__main__ import add_config_arguments, config_from_args  # noqa: E402
from rlviz.trainer import Finished, train  # noqa: E402


def gradient_step_floor_ms(config, repeats: int = 2_000) -> float:
    """Milliseconds of one bare gradient step of ``config``'s network(s) on a batch of the size it learns from.

    DQN: the target network's forward pass too (no graph). Actor-critics: both heads or both
    networks, one Adam per network as the agent has.
    """
    import torch

    from rlviz.networks import ActorCriticNetwork, mlp

    torch.set_num_threads(1)
    obs_dim, n_actions = (8, 4) if config.env_id == "LunarLander-v3" else (4, 2)
    if config.algo == "dqn":
        network, target = mlp(obs_dim, config.hidden_sizes, n_actions), mlp(obs_dim, config.hidden_sizes, n_actions)
        batch = config.batch_size
        parameter_groups = [list(network.parameters())]

        def loss_of(obs):
            with torch.no_grad():
                label = target(obs).max(dim=1).values
            return ((network(obs).max(dim=1).values - label) ** 2).mean()
    else:
        network = ActorCriticNetwork(obs_dim, n_actions, config.hidden_sizes, config.activation, config.shared_network)
        batch = config.batch_size or config.n_steps * config.n_envs
        parameter_groups = [list(part.parameters()) for part in network.parts()]

        def loss_of(obs):
            logits, values = network(obs)
            return (torch.log_softmax(logits, dim=1)[:, 0] + values ** 2).mean()
    optimizers = [torch.optim.Adam(group, fused=True) for group in parameter_groups]
    obs = torch.randn(batch, obs_dim)
    for repeat in range(repeats + 100):  # 100 to warm up
        if repeat == 100:
            start = time.perf_counter()
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss_of(obs).backward()
        for optimizer in optimizers:
            optimizer.step()
    return (time.perf_counter() - start) / repeats * 1e3


def steps_per_second(config) -> float:
    return next(event for event in train(config) if isinstance(event, Finished)).steps_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    parser.add_argument("--top", type=int, default=20, help="functions to list")
    parser.set_defaults(total_steps=30_000)
    args = parser.parse_args()
    config = config_from_args(args).replace(eval_episodes=0, stop_when_solved=False)  # time the same steps every run

    floor = gradient_step_floor_ms(config)
    unprofiled = steps_per_second(config)
    print(f"floor: one bare gradient step of this network on its batch: {floor:.2f} ms")
    print(f"unprofiled: {unprofiled:,.0f} steps/s, {1e3 / unprofiled:.3f} ms per env step")
    profiler = cProfile.Profile()
    profiler.enable()
    profiled = steps_per_second(config)
    profiler.disable()
    print(f"under cProfile: {profiled:,.0f} steps/s")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
