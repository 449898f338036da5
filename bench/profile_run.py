"""Where a training run spends its time: cProfile over ``train()``, plus its unprofiled speed.

    python bench/profile_run.py --algo dqn --total-steps 30000 \\
        --set hidden_sizes=64,64 --set train_freq=4 --set batch_size=64 --set tau=0.001
    python bench/profile_run.py --algo a2c --set n_envs=8 --set n_steps=5 --total-steps 100000

Runs the config twice: once plain for steps/s (cProfile slows Python calls, not C ones, so its
own timings overstate the Python parts), then under cProfile, printing the functions with the
most time spent in themselves.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rlviz.__main__ import add_config_arguments, config_from_args  # noqa: E402
from rlviz.trainer import Finished, train  # noqa: E402


def steps_per_second(config) -> float:
    return next(event for event in train(config) if isinstance(event, Finished)).steps_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    parser.add_argument("--top", type=int, default=20, help="functions to list")
    parser.set_defaults(total_steps=30_000)
    args = parser.parse_args()
    config = config_from_args(args).replace(eval_episodes=0)

    print(f"unprofiled: {steps_per_second(config):,.0f} steps/s")
    profiler = cProfile.Profile()
    profiler.enable()
    profiled = steps_per_second(config)
    profiler.disable()
    print(f"under cProfile: {profiled:,.0f} steps/s")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
