"""The same runs through the run store on the local pool and on a local Ray cluster (issue 18).

    pip install -r requirements-ray.txt
    python bench/ray_pool.py [--runs 8] [--steps 50000] [--slots 2] [--repeats 1]

Each pass submits ``--runs`` a2c CartPole-v1 runs (seeds 0.., ``--steps`` env steps each, no stop
when solved, videos and greedy evaluation as the app records them) and waits for all of them:
first through a RunStore on the LocalExecutor with ``--slots`` workers, then through a RunStore on
a RayExecutor over a local Ray cluster of ``--slots`` CPUs (started once, before its first pass,
and timed apart). ``--repeats`` alternates the two, so a load that drifts hits both.

Reports each pass's wall time (first submit to last run ended, workers or actors started on first
need in both), the median training speed of its runs (from their summaries: it shows whether the
runs got as much CPU in both) and the load average after it, Ray's overhead per run (the extra wall time x slots / runs), and
this process's resident memory before Ray and with it connected (what the app's server adds).
Prints markdown.

On a machine busy with other work the two executors do not get the same share of the CPU: a local
worker runs at nice 10 in a scheduling group of its own (rlviz.executors.lower_priority), while a
Ray actor runs at nice 10 inside the group of this process, whose session Ray's processes share.
Compare passes whose runs trained at about the same steps/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rlviz.config import make_config  # noqa: E402
from rlviz.executors import LocalExecutor  # noqa: E402
from rlviz.rundir import read_json  # noqa: E402
from rlviz.runs import RunStore  # noqa: E402


def rss_mb() -> float:
    """This process's resident set size now, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_pass(store: RunStore, runs: int, steps: int) -> tuple[float, float, float]:
    """Train the runs through ``store``; returns the wall seconds, the runs' median steps/s and the
    machine's load average (1 minute) at the end."""
    configs = [make_config("a2c", "CartPole-v1", seed=seed, total_steps=steps, stop_when_solved=False)
               for seed in range(runs)]
    started = time.perf_counter()
    run_ids = [store.submit(config, "bench").run_id for config in configs]
    while not all(store.status(run_id).done for run_id in run_ids):
        time.sleep(0.05)
    wall = time.perf_counter() - started
    states = {run_id: store.status(run_id) for run_id in run_ids}
    failed = [f"{run_id}: {status.state} {status.error or ''}" for run_id, status in states.items()
              if status.state != "finished"]
    if failed:
        raise SystemExit("runs did not finish:\n" + "\n".join(failed))
    speeds = [read_json(store.run_dir(run_id) / "summary.json")["steps_per_second"] for run_id in run_ids]
    return wall, statistics.median(speeds), os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    rss_before_ray = rss_mb()
    rows: list[tuple[str, float, float, float]] = []
    ray_start_seconds = rss_with_ray = float("nan")
    with tempfile.TemporaryDirectory(prefix="rlviz-ray-bench-") as root:
        for repeat in range(args.repeats):
            local = RunStore(Path(root) / f"local-{repeat}", executor=LocalExecutor(args.slots))
            try:
                rows.append(("local pool", *one_pass(local, args.runs, args.steps)))
            finally:
                local.shutdown()
            print(f"local pass {repeat + 1}: {rows[-1][1]:.1f} s", file=sys.stderr, flush=True)

            from rlviz.ray_executor import RayExecutor, connect  # only this bench's Ray passes need Ray

            if repeat == 0:
                started = time.perf_counter()
                connect(num_cpus=args.slots, include_dashboard=False, log_to_driver=False)
                ray_start_seconds = time.perf_counter() - started
            on_ray = RunStore(Path(root) / f"ray-{repeat}", executor=RayExecutor(max_jobs=args.slots))
            try:
                rows.append(("Ray, local cluster", *one_pass(on_ray, args.runs, args.steps)))
            finally:
                on_ray.shutdown()
            rss_with_ray = rss_mb()
            print(f"Ray pass {repeat + 1}: {rows[-1][1]:.1f} s", file=sys.stderr, flush=True)

    print(f"{args.runs} runs of a2c CartPole-v1, {args.steps:,} steps each (videos and evaluation included), "
          f"{args.slots} at a time; Ray's cluster start-up, not counted below: {ray_start_seconds:.1f} s\n")
    print("| executor | pass | wall time (s) | median steps/s of the runs | load average after |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for index, (name, wall, speed, load) in enumerate(rows):
        print(f"| {name} | {index // 2 + 1} | {wall:.1f} | {speed:,.0f} | {load:.1f} |")
    local_wall = statistics.median(row[1] for row in rows if row[0] == "local pool")
    ray_wall = statistics.median(row[1] for row in rows if row[0] != "local pool")
    print(f"\nRay / local wall time (medians): {ray_wall / local_wall:.3f} "
          f"({100 * (ray_wall / local_wall - 1):+.1f} %); Ray's overhead per run: "
          f"{(ray_wall - local_wall) * args.slots / args.runs:+.2f} s")
    print(f"This process's RSS: {rss_before_ray:.0f} MB before Ray, {rss_with_ray:.0f} MB with Ray connected "
          f"(after its runs)")


if __name__ == "__main__":
    main()
