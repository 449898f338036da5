"""Plotly figure builders: data in, go.Figure out. No Streamlit here."""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MAX_MARKERS = 4_000  # beyond this many episodes the dots are thinned; the moving average uses all
SOLVE_WINDOW = 100

METRIC_LABELS = {
    "td_loss": "TD loss",
    "actor_loss": "Actor loss",
    "critic_loss": "Critic loss",
    "entropy": "Policy entropy",
    "epsilon": "Epsilon",
    "mean_abs_td_error": "Mean |TD error|",
    "grad_norm": "Gradient norm (before clipping)",
    "q_mean": "Mean Q(s, a)",
    "value_mean": "Mean V(s)",
}


def reward_curve(episodes: pd.DataFrame, solve_threshold: float | None, title: str = "") -> go.Figure:
    """Episode returns (dots) and their 100-episode moving average against env steps.

    ``episodes`` has columns env_step and episode_return, one row per finished episode.
    """
    figure = go.Figure()
    if len(episodes):
        moving_average = episodes["episode_return"].rolling(SOLVE_WINDOW, min_periods=1).mean()
        stride = max(1, math.ceil(len(episodes) / MAX_MARKERS))
        shown = episodes.iloc[::stride]
        figure.add_trace(go.Scattergl(
            x=shown["env_step"], y=shown["episode_return"], mode="markers", name="episode return",
            marker=dict(size=4, color="rgba(37, 99, 235, 0.28)"),
            hovertemplate="step %{x:,}<br>return %{y:.1f}<extra></extra>",
        ))
        figure.add_trace(go.Scatter(
            x=episodes["env_step"], y=moving_average, mode="lines", name=f"mean of last {SOLVE_WINDOW}",
            line=dict(color="#1d4ed8", width=2.5),
            hovertemplate="step %{x:,}<br>mean %{y:.1f}<extra></extra>",
        ))
    if solve_threshold is not None:
        figure.add_hline(y=solve_threshold, line=dict(color="#16a34a", dash="dash"),
                         annotation_text=f"solved at {solve_threshold:g}", annotation_position="top left")
    figure.update_layout(
        title=title or None, height=380, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        xaxis_title="environment steps", yaxis_title="episode return",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), hovermode="closest",
        uirevision="keep",  # redraws keep the student's zoom
    )
    return figure


def diagnostics_figure(updates: pd.DataFrame, metrics: Sequence[str]) -> go.Figure:
    """One small panel per learner metric against env steps (``updates`` has env_step + metric columns)."""
    shown = [name for name in metrics if name in updates.columns]
    columns = 3
    rows = max(1, math.ceil(len(shown) / columns))
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=[METRIC_LABELS.get(n, n) for n in shown],
                           horizontal_spacing=0.07, vertical_spacing=0.16)
    for index, name in enumerate(shown):
        figure.add_trace(
            go.Scatter(x=updates["env_step"], y=updates[name], mode="lines", line=dict(width=1.6, color="#7c3aed"),
                       name=METRIC_LABELS.get(name, name), hovertemplate="step %{x:,}<br>%{y:.4g}<extra></extra>"),
            row=index // columns + 1, col=index % columns + 1,
        )
    figure.update_layout(height=220 * rows, showlegend=False, margin=dict(l=10, r=10, t=30, b=10), uirevision="keep")
    figure.update_annotations(font_size=12)
    return figure

