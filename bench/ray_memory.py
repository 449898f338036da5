"""The app server's own memory when it trains on a Ray cluster (issue 18: the README's "Memory of the app").

    ray start --head --num-cpus=2 --include-dashboard=false --ray-client-server-port=10001 --block &
    RAY_ADDRESS=ray://127.0.0.1:10001 python bench/ray_memory.py   # the app as a Ray client
    RAY_ADDRESS=127.0.0.1:6379 python bench/ray_memory.py          # the app as a Ray driver on a node

Imports what the app's server imports (Streamlit, the run store, the pages' helpers), then builds the
store's executor as the app does (RLVIZ_EXECUTOR=ray), trains one short run on the cluster and waits
for it. Prints this process's resident set size (RSS) at each step, in MB. Linux (/proc).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ray_pool import rss_mb  # noqa: E402


def main() -> None:
    os.environ["RLVIZ_EXECUTOR"] = "ray"
    steps = [("Python", rss_mb())]
    import streamlit  # noqa: F401
    import rlviz.compare  # noqa: F401
    import rlviz.ui.run_view  # noqa: F401
    from rlviz.config import make_config
    from rlviz.executors import executor_from_env
    from rlviz.runs import RunStore

    steps.append(("the server's imports (Streamlit, the store, the pages' helpers)", rss_mb()))
    executor = executor_from_env()
    where = getattr(executor, "problem", None) or os.environ.get("RAY_ADDRESS", "a new local cluster")
    steps.append((f"Ray connected ({where})", rss_mb()))
    with tempfile.TemporaryDirectory() as root:
        store = RunStore(root, executor=executor)
        run_id = store.submit(make_config("a2c", total_steps=20_000, stop_when_solved=False), "bench").run_id
        while not store.status(run_id).done:
            time.sleep(0.1)
        steps.append((f"after one run trained there ({store.status(run_id).state})", rss_mb()))
        store.shutdown()
    assert "torch" not in sys.modules, "the server process must not load torch"
    print("| the app's server process | RSS (MB) |\n| --- | ---: |")
    for label, megabytes in steps:
        print(f"| {label} | {megabytes:.0f} |")


if __name__ == "__main__":
    main()
