"""How reliably and how fast the default presets solve an environment, over several seeds.

    python bench/solve.py --env CartPole-v1 --algos dqn td-ac a2c-1step nstep-ac a2c --seeds 0 1 2 3 4
    python bench/solve.py --env LunarLander-v3 --algos dqn a2c --seeds 0 1 2 3 4

Each run uses the preset's defaults with stop-when-solved, in a pool of worker processes (one
per core by default). Prints one line per run as it finishes, then a markdown table per algorithm:
how many seeds solved, and the median / min / max env steps and wall seconds to solve.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rlviz.config import ALGOS, make_config  # noqa: E402
from rlviz.envs import ENVS  # noqa: E402
from rlviz.runs import available_cores  # noqa: E402


def solve(algo: str, env_id: str, seed: int) -> dict:
    from rlviz.trainer import Finished, EpisodeEnded, train

    config = make_config(algo, env_id, seed=seed, stop_when_solved=True, eval_episodes=10)
    solved_seconds = None
    for event in train(config):
        if isinstance(event, EpisodeEnded):
            last_wall = event.wall_seconds
        if isinstance(event, Finished):
            if event.solved_at_step is not None:
                solved_seconds = last_wall
            return dict(algo=algo, seed=seed, budget=config.total_steps, solved_at=event.solved_at_step,
                        seconds=solved_seconds, wall=event.wall_seconds, final=event.final_mean_return,
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
    args = parser.parse_args()

    results: list[dict] = []
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(solve, algo, args.env, seed) for algo in args.algos for seed in args.seeds]
        for future in as_completed(futures):
            r = future.result()
            results.append(r)
            print(f"{r['algo']:10s} seed {r['seed']}: solved_at={r['solved_at']} in {r['seconds'] and round(r['seconds'], 1)} s; "
                  f"final mean {r['final']:.1f}, greedy eval {r['eval']:.1f}, {r['sps']:,.0f} steps/s", flush=True)

    print(f"\n### {args.env}: default presets, seeds {' '.join(map(str, args.seeds))}\n")
    print("| algo | budget (steps) | solved | steps to solve, median (min to max) | seconds to solve | steps/s |")
    print("|---|---|---|---|---|---|")
    for algo in args.algos:
        runs = [r for r in results if r["algo"] == algo]
        solved = [r for r in runs if r["solved_at"] is not None]
        print(f"| {algo} | {runs[0]['budget']:,} | {len(solved)}/{len(runs)} | "
              f"{spread([r['solved_at'] for r in solved], ',.0f')} | {spread([r['seconds'] for r in solved], '.1f')} | "
              f"{statistics.median(r['sps'] for r in runs):,.0f} |")


if __name__ == "__main__":
    main()
