"""The Runs page's table: every run on the server as rows a student can read and filter. No Streamlit."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

import pandas as pd

from rlviz.config import ALGOS, changed_fields, format_value
from rlviz.runs import RunRecord

COLUMNS = ("run_id", "started", "algorithm", "environment", "seed", "changed settings", "state", "env steps",
           "final mean", "solved at step", "mine")


def library_table(records: Iterable[RunRecord], mine: set[str]) -> pd.DataFrame:
    """One row per run, newest first as given: its algorithm, env, seed, the settings that differ from
    the preset, its state, steps, final mean (last 100 training episodes) and the step it solved at."""
    rows = []
    for record in records:
        config = record.config
        changed = changed_fields(config) if config is not None else {}
        rows.append({
            "run_id": record.run_id,
            "started": datetime.fromtimestamp(record.created).strftime("%H:%M:%S · %d %b"),
            "algorithm": ALGOS[config.algo].short_name if config is not None else "?",
            "environment": config.env_id if config is not None else "?",
            "seed": config.seed if config is not None else None,
            "changed settings": ", ".join(f"{name} {format_value(name, value)}" for name, value in changed.items())
                                or ("preset" if config is not None else record.problem or ""),
            "state": record.state,
            "env steps": record.env_steps,
            "final mean": f"{record.final_mean_return:.1f}" if record.final_mean_return is not None else "–",
            "solved at step": f"{record.solved_at_step:,}" if record.solved_at_step is not None else "–",
            "mine": record.run_id in mine,
        })
    return pd.DataFrame(rows, columns=list(COLUMNS))


def filter_table(table: pd.DataFrame, algorithms: list[str], environments: list[str], only_mine: bool) -> pd.DataFrame:
    """The rows whose algorithm and environment are among those picked (none picked: all)."""
    keep = pd.Series(True, index=table.index)
    if algorithms:
        keep &= table["algorithm"].isin(algorithms)
    if environments:
        keep &= table["environment"].isin(environments)
    if only_mine:
        keep &= table["mine"]
    return table[keep].reset_index(drop=True)
