"""The Bug lab's pairs: each bug's setup trained correct and with the bug, over the same seeds.

    python bench/bugs.py                          # every bug, seeds 0 1 2, two runs at a time
    python bench/bugs.py --bugs value_broadcast --seeds 0 1 2 --workers 1 --set total_steps=100000

Prints a line per run as it finishes, then a markdown table: per bug and variant the final mean
return (last 100 training episodes) and the greedy evaluation, each as the mean over seeds (with
each seed's value), the diagnostic's mean over the last fifth of the updates, and the wall time of
the whole pair (every run of both variants, on ``--workers`` workers, as the page runs them).
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
from rlviz.bugs import BUG_NAMES, BUGS, lab_pair  # noqa: E402
from rlviz.config import ALGOS, make_config  # noqa: E402


def run(config_data: dict, diagnostic: str) -> dict:
    from rlviz.config import config_from_dict
    from rlviz.trainer import Finished, Updated, train

    config = config_from_dict(config_data)
    start = time.perf_counter()
    values, metrics = [], {}
    for event in train(config):
        if isinstance(event, Updated):
            metrics = event.metrics
            if diagnostic in metrics:
                values.append(metrics[diagnostic])
        if isinstance(event, Finished):
            tail = values[len(values) * 4 // 5:]
            return dict(bugs=config.bugs, value_mean=metrics.get("value_mean"), diverged=event.diverged, seed=config.seed, final=event.final_mean_return, eval=event.eval_mean_return,
                        diagnostic=statistics.mean(tail) if tail else None, wall=time.perf_counter() - start,
                        steps=event.env_steps)
    raise RuntimeError("train() ended without Finished")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bugs", nargs="+", default=list(BUG_NAMES), choices=BUG_NAMES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="change one setting of both variants")
    parser.add_argument("--algo", choices=list(ALGOS), help="another algorithm's preset, with the lab's budget (to try setups)")
    args = parser.parse_args()

    rows = []
    for name in args.bugs:
        bug = BUGS[name]
        correct, buggy = lab_pair(name)
        if args.algo:
            correct = make_config(args.algo, correct.env_id, total_steps=correct.total_steps, stop_when_solved=False)
        correct = correct.replace(**parse_settings(correct.algo, args.set))
        buggy = correct.replace(bugs=(name,))
        start = time.perf_counter()
        results = []
        with ProcessPoolExecutor(args.workers) as pool:
            futures = [pool.submit(run, config.replace(seed=seed).to_dict(), bug.diagnostic.metric)
                       for seed in args.seeds for config in (correct, buggy)]
            for future in as_completed(futures):
                r = future.result()
                results.append(r)
                print(f"{name:26s} {'bug' if r['bugs'] else 'correct':7s} seed {r['seed']}: final {r['final']}, "
                      f"eval {r['eval']}, diverged {r['diverged']}, {bug.diagnostic.metric} {r['diagnostic']}, last value_mean {r['value_mean']}, "
                      f"{r['wall']:.1f} s", flush=True)
        pair_seconds = time.perf_counter() - start
        for variant, has_bug in (("correct", False), ("bug", True)):
            runs = sorted((r for r in results if bool(r["bugs"]) == has_bug), key=lambda r: r["seed"])

            def summary(key: str, fmt: str) -> str:
                values = [r[key] for r in runs if r[key] is not None]
                if not values:
                    return "-"
                return f"{format(statistics.mean(values), fmt)} ({', '.join(format(v, fmt) for v in values)})"

            diverged = sum(r["diverged"] is not None for r in runs)
            rows.append(f"| {name} | {correct.algo}, {correct.total_steps:,} steps | {variant}"
                        f"{f' ({diverged} diverged)' if diverged else ''} | {summary('final', '.0f')} | "
                        f"{summary('eval', '.0f')} | {bug.diagnostic.metric} {summary('diagnostic', '.3g')} | "
                        f"{pair_seconds:.0f} |")
    print(f"\n### Bug lab pairs, seeds {' '.join(map(str, args.seeds))}, {args.workers} runs at a time\n")
    print("| bug | setup | variant | final mean return (per seed) | greedy eval (per seed) | diagnostic, last fifth "
          "of training | pair wall s |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
