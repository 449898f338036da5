"""How reliably and how fast the default presets solve an environment, over several seeds.

    python bench/solve.py --env CartPole-v1 --algos dqn td-ac a2c-1step nstep-ac a2c --seeds 0 1 2 3 4
    python bench/solve.py --env LunarLander-v3 --algos dqn a2c --seeds 0 1 2 3 4
    python bench/solve.py --algos dqn --seeds 0 1 2 --set learning_rate=1e-3 --set batch_size=256

Each run uses the preset's defaults (``--set name=value`` changes one) with stop-when-solved, in a
pool of worker processes (one per core by default; ``--workers 1`` times runs alone). Prints one
line per run as it finishes, then a markdown table per algorithm: how many seeds solved, how many
greedy evaluations reached the threshold, the env steps to solve and the wall seconds of the whole
run (training and the greedy evaluation), median (min to max).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rlviz.__main__ import parse_settings  # noqa: E402
from rlviz.config import ALGOS, make_config  # noqa: E402
from rlviz.envs import ENVS  # noqa: E402
from rlviz.executors import available_cores  # noqa: E402


def solve(algo: str, env_id: str, seed: int, overrides: dict) -> dict:
    from rlviz.trainer import Finished, train

    config = make_config(algo, env_id, seed=seed, stop_when_solved=True, eval_episodes=10).replace(**overrides)
    start = time.perf_counter()
    for event in train(config):
        if isinstance(event, Finished):
            return dict(algo=algo, seed=seed, budget=config.total_steps, solved_at=event.solved_at_step,
                        train_seconds=event.wall_seconds, wall=time.perf_counter() - start, final=event.final_mean_return,
                        eval=event.eval_mean_return, sps=event.steps_per_second)
    raise RuntimeError("train() ended without Finished")


def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)} to {format(max(values), fmt)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", choices=list(ENVS))
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--workers", type=int, default=available_cores())
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="change one setting of every run")
    args = parser.parse_args()
    overrides = {algo: parse_settings(algo, args.set) for algo in args.algos}

    results: list[dict] = []
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(solve, algo, args.env, seed, overrides[algo]) for algo in args.algos for seed in args.seeds]
        for future in as_completed(futures):
            r = future.result()
            results.append(r)
            print(f"{r['algo']:10s} seed {r['seed']}: solved_at={r['solved_at']}, whole run {r['wall']:.1f} s; "
                  f"final mean {r['final']:.1f}, greedy eval {r['eval'] if r['eval'] is None else round(r['eval'], 1)}, "
                  f"{r['sps']:,.0f} steps/s", flush=True)

    threshold = ENVS[args.env].solve_threshold
    changed = f", with {' '.join(args.set)}" if args.set else ""
    print(f"\n### {args.env}: default presets{changed}, seeds {' '.join(map(str, args.seeds))}, {args.workers} at a time\n")
    print(f"| algo | budget (steps) | solved | greedy eval >= {threshold:g} | steps to solve, median (min to max) | "
          "whole run, s | steps/s |")
    print("|---|---|---|---|---|---|---|")
    for algo in args.algos:
        runs = [r for r in results if r["algo"] == algo]
        solved = [r for r in runs if r["solved_at"] is not None]
        good = [r for r in runs if r["eval"] is not None and r["eval"] >= threshold]
        print(f"| {algo} | {runs[0]['budget']:,} | {len(solved)}/{len(runs)} | {len(good)}/{len(runs)} | "
              f"{spread([r['solved_at'] for r in solved], ',.0f')} | {spread([r['wall'] for r in runs], '.1f')} | "
              f"{statistics.median(r['sps'] for r in runs):,.0f} |")


if __name__ == "__main__":
    main()
