"""rlviz against Stable-Baselines3 on this machine, interleaved in one process run.

    pip install -r bench/requirements.txt
    python bench/speed.py [--repeats 3] [--solve-seeds 0 1 2]

    python bench/speed.py --repeats 1 --solve-seeds --ppo-seeds 0 1 2 --lunar-seeds 0 1

1. Steps/s at matched settings (single process, one thread, CPU):
   - A2C on CartPole-v1, 8 envs, n_steps 5;
   - DQN on CartPole-v1, 64-64 network, train_freq 4, batch 64, learning_starts 1000, tau 0.001;
   - PPO on CartPole-v1 with the RL Zoo's settings (8 envs x 32 steps, 20 epochs of 256).
2. Time to solve CartPole-v1 (mean of the last 100 training episodes >= 475): rlviz's A2C preset
   against SB3's A2C with the RL Zoo settings (8 envs, 500k step budget), and rlviz's PPO preset
   against SB3's PPO with the RL Zoo's settings (100k steps).
3. With --lunar-seeds: time to solve LunarLander-v3 (last-100 mean >= 200) within 1M steps, rlviz's
   PPO preset against SB3's PPO with the RL Zoo's settings (16 envs x 1024 steps, 4 epochs of 64).
   Long: minutes per seed and library.

Prints markdown tables (median, min, max and the ratio of medians) to paste into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rlviz.config import make_config  # noqa: E402
from rlviz.envs import ENVS  # noqa: E402
from rlviz.trainer import EpisodeEnded, Finished, train  # noqa: E402

SPEED_STEPS = 50_000


# The RL Zoo's PPO settings (hyperparams/ppo.yml), for SB3; rlviz's ppo presets are the same but for CartPole's clip decay.
ZOO_PPO = {
    "CartPole-v1": dict(n_envs=8, budget=100_000, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                        ent_coef=0.0, learning_rate="linear 1e-3", clip_range="linear 0.2"),
    "LunarLander-v3": dict(n_envs=16, budget=1_000_000, n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4,
                           ent_coef=0.01, learning_rate=3e-4, clip_range=0.2),
}


def rlviz_steps_per_second(algo: str, overrides: dict) -> float:
    config = make_config(algo, "CartPole-v1", total_steps=SPEED_STEPS, eval_episodes=0, stop_when_solved=False, **overrides)
    finished = [event for event in train(config) if isinstance(event, Finished)][0]
    return finished.env_steps / finished.wall_seconds


def sb3_steps_per_second(algo: str) -> float:
    from stable_baselines3 import A2C, DQN
    from stable_baselines3.common.env_util import make_vec_env

    if algo == "a2c":
        model = A2C("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8, seed=0), n_steps=5, seed=0, device="cpu")
    elif algo == "ppo":
        model = sb3_zoo_ppo("CartPole-v1", seed=0, constant_clip=True)
    else:
        model = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), policy_kwargs=dict(net_arch=[64, 64]),
                    train_freq=4, batch_size=64, learning_starts=1_000, tau=0.001, target_update_interval=4,
                    seed=0, device="cpu")
    start = time.perf_counter()
    model.learn(SPEED_STEPS)
    return SPEED_STEPS / (time.perf_counter() - start)


def sb3_zoo_ppo(env_id: str, seed: int, constant_clip: bool = False):
    """SB3's PPO with the RL Zoo's settings for ``env_id``; ``constant_clip`` matches rlviz's fixed clip range."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    zoo = dict(ZOO_PPO[env_id])
    n_envs, _ = zoo.pop("n_envs"), zoo.pop("budget")
    for name in ("learning_rate", "clip_range"):  # "linear x": decays to 0 with the progress remaining
        if isinstance(zoo[name], str):
            start = float(zoo[name].split()[1])
            zoo[name] = start if constant_clip and name == "clip_range" else (lambda remaining, start=start: remaining * start)
    return PPO("MlpPolicy", make_vec_env(env_id, n_envs=n_envs, seed=seed), seed=seed, device="cpu", **zoo)


def rlviz_time_to_solve(seed: int, algo: str = "a2c", env_id: str = "CartPole-v1") -> tuple[float, int | None]:
    """Seconds to the solve, or to the end of the budget when it did not solve, and the step it solved at (or None)."""
    config = make_config(algo, env_id, seed=seed, stop_when_solved=True, eval_episodes=0)
    seconds = None
    for event in train(config):
        if isinstance(event, EpisodeEnded):
            seconds = event.wall_seconds
        if isinstance(event, Finished):
            return (seconds, event.solved_at_step) if event.solved_at_step is not None else (event.wall_seconds, None)
    raise RuntimeError("no Finished event")


def sb3_time_to_solve(seed: int, algo: str = "a2c", env_id: str = "CartPole-v1") -> tuple[float, int | None]:
    """SB3's A2C with the RL Zoo's CartPole-v1 settings (8 envs, ent_coef 0, 500k steps), or its PPO with the
    Zoo's settings for ``env_id``."""
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    threshold = ENVS[env_id].solve_threshold

    class StopWhenSolved(BaseCallback):
        solved_at: int | None = None

        def _on_step(self) -> bool:
            episodes = self.model.ep_info_buffer  # the last 100 episodes, filled by the Monitor wrapper
            if len(episodes) == 100 and statistics.mean(info["r"] for info in episodes) >= threshold:
                self.solved_at = self.num_timesteps
                return False
            return True

    if algo == "ppo":
        model, budget = sb3_zoo_ppo(env_id, seed), ZOO_PPO[env_id]["budget"]
    else:
        model = A2C("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8, seed=seed), ent_coef=0.0, seed=seed, device="cpu")
        budget = 500_000
    callback = StopWhenSolved()
    start = time.perf_counter()
    model.learn(budget, callback=callback)
    seconds = time.perf_counter() - start
    return seconds, callback.solved_at


def row(name: str, ours: list[float], theirs: list[float], unit: str) -> str:
    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):,.0f} ({min(values):,.0f} to {max(values):,.0f})" if values else "-"
    ratio = statistics.median(ours) / statistics.median(theirs) if ours and theirs else float("nan")
    return f"| {name} | {cell(ours)} | {cell(theirs)} | {ratio:.2f}x | {unit} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solve-seeds", type=int, nargs="*", default=[0, 1, 2], help="A2C on CartPole")
    parser.add_argument("--ppo-seeds", type=int, nargs="*", default=[0, 1, 2], help="PPO on CartPole")
    parser.add_argument("--lunar-seeds", type=int, nargs="*", default=[], help="PPO on LunarLander-v3 (long)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # both libraries on one thread, as rlviz's workers run

    matched = {"a2c": dict(n_envs=8, n_steps=5), "dqn": dict(batch_size=64, tau=0.001, train_freq=4, target_update_interval=4,
                                                             learning_starts=1_000, hidden_sizes=(64, 64)),
               "ppo": {}}  # the preset is the Zoo's settings; SB3 gets them with rlviz's constant clip
    speeds: dict[str, dict[str, list[float]]] = {algo: {"rlviz": [], "sb3": []} for algo in matched}
    for repeat in range(args.repeats):  # interleaved, so drifts in machine load hit both sides
        for algo, overrides in matched.items():
            speeds[algo]["rlviz"].append(rlviz_steps_per_second(algo, overrides))
            speeds[algo]["sb3"].append(sb3_steps_per_second(algo))
            print(f"repeat {repeat}: {algo} rlviz {speeds[algo]['rlviz'][-1]:,.0f} steps/s, "
                  f"SB3 {speeds[algo]['sb3'][-1]:,.0f} steps/s", flush=True)

    solves = {}  # (algo, env): (our seconds, their seconds, our steps, their steps, seeds), solved runs only
    for algo, env_id, seeds in (("a2c", "CartPole-v1", args.solve_seeds), ("ppo", "CartPole-v1", args.ppo_seeds),
                                ("ppo", "LunarLander-v3", args.lunar_seeds)):
        ours_seconds, theirs_seconds, ours_steps, theirs_steps = [], [], [], []
        for seed in seeds:  # interleaved, seed by seed
            seconds, steps = rlviz_time_to_solve(seed, algo, env_id)
            sb3_seconds, sb3_steps = sb3_time_to_solve(seed, algo, env_id)
            print(f"seed {seed}: rlviz {algo} on {env_id}: {seconds:.1f} s, solved at {steps}; "
                  f"SB3 {algo} (zoo): {sb3_seconds:.1f} s, solved at {sb3_steps} (None: not solved, the seconds are the whole budget's)",
                  flush=True)
            if steps is not None:
                ours_seconds.append(seconds)
                ours_steps.append(steps)
            if sb3_steps is not None:
                theirs_seconds.append(sb3_seconds)
                theirs_steps.append(sb3_steps)
        if seeds:
            solves[(algo, env_id)] = (ours_seconds, theirs_seconds, ours_steps, theirs_steps, seeds)

    print("\n| measure | rlviz, median (min to max) | SB3, median (min to max) | rlviz / SB3 | unit |")
    print("|---|---|---|---|---|")
    print(row("A2C CartPole-v1, 8 envs, n_steps 5", speeds["a2c"]["rlviz"], speeds["a2c"]["sb3"], "steps/s"))
    print(row("DQN CartPole-v1, 64-64, train_freq 4, batch 64", speeds["dqn"]["rlviz"], speeds["dqn"]["sb3"], "steps/s"))
    print(row("PPO CartPole-v1, the Zoo's 8 x 32 steps, 20 epochs of 256", speeds["ppo"]["rlviz"], speeds["ppo"]["sb3"],
              "steps/s"))
    for (algo, env_id), (ours_seconds, theirs_seconds, ours_steps, theirs_steps, seeds) in solves.items():
        name = f"{algo.upper()} {env_id}"
        print(row(f"{name} time to solve (solved {len(ours_seconds)} / {len(theirs_seconds)} of {len(seeds)} seeds)",
                  ours_seconds, theirs_seconds, "seconds"))
        print(row(f"{name} steps to solve", ours_steps, theirs_steps, "env steps"))


if __name__ == "__main__":
    main()
