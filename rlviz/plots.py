"""Plotly figure builders: data in, go.Figure out. No Streamlit here."""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from rlviz.envs import SOLVE_WINDOW

# Beyond this many episodes both traces are thinned to every k-th episode (the moving average is
# computed over all of them first), so a long run's figure stays light to send and to draw.
MAX_POINTS = 2_000

METRIC_LABELS = {
    "td_loss": "TD loss",
    "actor_loss": "Actor loss",
    "critic_loss": "Critic loss",
    "entropy": "Policy entropy",
    "epsilon": "Epsilon",
    "mean_abs_td_error": "Mean |TD error|",
    "grad_norm": "Gradient norm",
    "q_mean": "Mean Q(s, a)",
    "value_mean": "Mean V(s)",
    "clip_fraction": "Clip fraction",
    "approx_kl": "Approximate KL(old, new)",
    "actor_grad_norm": "Actor's gradient norm",
    "critic_grad_norm": "Critic's gradient norm",
    "explained_variance": "Critic's explained variance",
    "value_at_termination": "V(s) at a termination",
    "td_error_at_truncation": "|TD error| at a truncation",
}
# Learners report in their own units, rewards times reward_scale. Values and TD errors of returns are
# shown divided by it, in env units; losses (squares or Huber of scaled errors) stay, labelled with the scale.
RETURN_METRICS = ("value_mean", "q_mean", "mean_abs_td_error", "value_at_termination", "td_error_at_truncation")
SCALED_LOSSES = ("actor_loss", "critic_loss")  # DQN's td_loss is never scaled


def metric_label(name: str, reward_scale: float = 1.0) -> str:
    """A metric's title, with its units where they need saying (see RETURN_METRICS)."""
    label = METRIC_LABELS.get(name, name)
    if name in RETURN_METRICS:
        return f"{label}, env units"
    if name in SCALED_LOSSES and reward_scale != 1.0:
        return f"{label} (rewards × {reward_scale:g})"
    return label


def in_env_units(name: str, values, reward_scale: float = 1.0):
    """A metric's reported value(s) as shown: a value or TD error of returns divided by the reward scale."""
    return values / reward_scale if name in RETURN_METRICS else values


def readable_number(value: float) -> str:
    """``value`` in at most about 7 characters, for a metric tile.

    Four significant digits from 0.001 to 1,000 (0.0123, 123.5), whole numbers with thousands
    separators below a million (12,346), two significant digits with a bare exponent beyond
    (9.6e23, -3.2e-7); "∞", "-∞" and "NaN" for the values a diverged run reports.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"  # also for -0.0
    magnitude = abs(value)
    if magnitude >= 1e-3:
        four_digits = f"{value:.4g}"
        if abs(float(four_digits)) < 1_000:  # 999.96 rounds up to 1000: that one gets a separator below
            return four_digits
        if round(magnitude) < 1_000_000:
            return f"{value:,.0f}"
    mantissa, _, exponent = f"{value:.1e}".partition("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def thinning_stride(n_episodes: int, max_points: int = MAX_POINTS) -> int:
    """The reward curve shows every k-th of ``n_episodes`` episodes; this is k."""
    return max(1, math.ceil(n_episodes / max_points))


def reward_curve(episodes: pd.DataFrame, solve_threshold: float | None, title: str = "",
                 max_points: int = MAX_POINTS) -> go.Figure:
    """Episode returns (dots) and their 100-episode moving average against env steps.

    ``episodes`` has columns env_step and episode_return, one row per finished episode, and
    optionally mean_return, the moving average already computed over every episode (a feed that
    keeps only some episodes has it); beyond ``max_points`` rows both traces show every k-th one.
    """
    figure = go.Figure()
    if len(episodes):
        if "mean_return" in episodes:
            moving_average = episodes["mean_return"]
        else:
            moving_average = episodes["episode_return"].rolling(SOLVE_WINDOW, min_periods=1).mean()
        stride = thinning_stride(len(episodes), max_points)
        # Every stride-th episode from the first (so kept dots stay put as the run grows), plus the newest.
        kept = sorted({*range(0, len(episodes), stride), len(episodes) - 1})
        shown = episodes.iloc[kept]
        moving_average = moving_average.iloc[kept]
        # SVG, not WebGL: at this many dots SVG draws fast, and WebGL without a GPU (software
        # rendering) took a whole core of the browser while the live curve was redrawn.
        figure.add_trace(go.Scatter(
            x=shown["env_step"], y=shown["episode_return"], mode="markers", name="episode return",
            marker=dict(size=4, color="rgba(37, 99, 235, 0.28)"),
            hovertemplate="step %{x:,}<br>return %{y:.1f}<extra></extra>",
        ))
        figure.add_trace(go.Scatter(
            x=shown["env_step"], y=moving_average, mode="lines", name=f"mean of last {SOLVE_WINDOW}",
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


def diagnostics_figure(updates: pd.DataFrame, metrics: Sequence[str], reward_scale: float = 1.0) -> go.Figure:
    """One small panel per learner metric against env steps (``updates`` has env_step + metric columns, as
    the learner reported them with rewards times ``reward_scale``; values of returns are shown in env units)."""
    shown = [name for name in metrics if name in updates.columns]
    columns = 3
    rows = max(1, math.ceil(len(shown) / columns))
    titles = [metric_label(name, reward_scale) for name in shown]
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.07,
                           vertical_spacing=0.24)
    for index, (name, title) in enumerate(zip(shown, titles)):
        row, col = index // columns + 1, index % columns + 1
        figure.add_trace(
            go.Scatter(x=updates["env_step"], y=in_env_units(name, updates[name], reward_scale), mode="lines",
                       line=dict(width=1.6, color="#7c3aed"), name=title,
                       hovertemplate="step %{x:,}<br>%{y:.4g}<extra></extra>"),
            row=row, col=col,
        )
        figure.update_xaxes(title_text="environment steps", title_font_size=11, title_standoff=4, row=row, col=col)
    figure.update_layout(height=250 * rows, showlegend=False, margin=dict(l=10, r=10, t=30, b=10), uirevision="keep")
    figure.update_annotations(font_size=12)
    return figure



# --- Theory page ---------------------------------------------------------------------------------

_BIAS_COLOR, _SPREAD_COLOR, _RMSE_COLOR = "#dc2626", "#2563eb", "#6b7280"


def bias_variance_figure(by_n: pd.DataFrame, by_lambda: pd.DataFrame, monte_carlo_spread: float,
                         n_steps: int, lam: float) -> go.Figure:
    """|bias|, spread and RMSE of the estimate of V(s_0) against n (left, log axis) and lambda (right).

    ``by_n`` and ``by_lambda`` have columns parameters, bias, spread, rmse (one row per n or lambda,
    as rlviz.theory.EstimatorStats); dotted vertical lines mark the chosen n and lambda.
    """
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                           subplot_titles=("n-step target G<sub>0</sub><sup>(n)</sup> against n",
                                           "λ-return A<sub>0</sub><sup>GAE(λ)</sup> + V(s<sub>0</sub>) against λ"))
    for col, stats, name, fmt in ((1, by_n, "n", "%{x:.0f}"), (2, by_lambda, "λ", "%{x:.2f}")):
        for label, values, color, dash in (("|bias|", stats["bias"].abs(), _BIAS_COLOR, "solid"),
                                           ("spread (std)", stats["spread"], _SPREAD_COLOR, "solid"),
                                           ("RMSE", stats["rmse"], _RMSE_COLOR, "dot")):
            figure.add_trace(go.Scatter(
                x=stats["parameters"], y=values, mode="lines+markers", name=label, legendgroup=label,
                showlegend=col == 1, line=dict(color=color, width=2.2, dash=dash), marker=dict(size=4),
                hovertemplate=f"{name} = {fmt}<br>{label} %{{y:.3f}}<extra></extra>",
            ), row=1, col=col)
    figure.add_vline(x=n_steps, line=dict(color="#111827", dash="dot", width=1), row=1, col=1)
    # On a log axis an annotation's x is log10 of the value (add_vline's own label would land off the chart).
    figure.add_annotation(x=math.log10(n_steps), y=1, xref="x", yref="y domain", text=f"n = {n_steps}",
                          showarrow=False, xanchor="left", yanchor="top", xshift=3, font_size=12)
    # The label on the inner side of the line, clear of the axis.
    figure.add_vline(x=lam, line=dict(color="#111827", dash="dot", width=1), row=1, col=2,
                     annotation_text=f"λ = {lam:g}", annotation_position="top right" if lam < 0.5 else "top left")
    # The Monte Carlo spread as a legend entry: a label on the chart collides with the curves that reach it.
    n_range = [float(by_n["parameters"].min()), float(by_n["parameters"].max())]
    figure.add_trace(go.Scatter(x=n_range, y=[monte_carlo_spread] * 2, mode="lines", name="Monte Carlo spread",
                                line=dict(color=_SPREAD_COLOR, dash="dash", width=1),
                                hovertemplate="Monte Carlo spread %{y:.3f}<extra></extra>"), row=1, col=1)
    # An explicit range: Plotly's autorange on a log axis stretches to fit the reference-line annotations.
    largest_n = float(by_n["parameters"].max())
    ticks = [n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n <= largest_n]
    figure.update_xaxes(type="log", range=[math.log10(0.9), math.log10(largest_n * 1.15)], tickvals=ticks,
                        title_text="n (rewards summed before bootstrapping)", row=1, col=1)
    figure.update_xaxes(title_text="λ (0 = TD, 1 = Monte Carlo)", range=[-0.02, 1.02], row=1, col=2)
    figure.update_yaxes(title_text="return, env units", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(rangemode="tozero", row=1, col=2)
    figure.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10), hovermode="x unified",
                         legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    figure.update_annotations(font_size=12)
    return figure


def gae_weights_figure(weights: Sequence[float], tail_weight: float, lam: float) -> go.Figure:
    """Bars of the weight (1 - lambda) lambda^(n-1) each n-step advantage gets in GAE; the last bar
    (labelled "rest") is the mass of every longer n."""
    labels = [str(n) for n in range(1, len(weights) + 1)] + ["rest"]
    colors = ["#2563eb"] * len(weights) + ["#93c5fd"]
    figure = go.Figure(go.Bar(x=labels, y=[*weights, tail_weight], marker_color=colors,
                              hovertemplate="n = %{x}<br>weight %{y:.3f}<extra></extra>"))
    figure.update_layout(height=220, margin=dict(l=10, r=10, t=30, b=10), bargap=0.15,
                         title=dict(text=f"weights of the n-step advantages in GAE, λ = {lam:g}", font_size=13),
                         xaxis=dict(title="n", type="category"), yaxis=dict(title="weight", range=[0, 1.02]))
    return figure


def soft_update_figure(online: Sequence[float], soft: Sequence[float], hard: Sequence[float], tau: float) -> go.Figure:
    """One weight of the online network and of its target network over target syncs: the Polyak
    target (tau) and a hard copy (tau = 1) made every round(1/tau) syncs."""
    syncs = list(range(len(online)))
    period = max(1, round(1 / tau))
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=syncs, y=online, mode="lines", name="online θ",
                                line=dict(color="rgba(107, 114, 128, 0.55)", width=1)))
    figure.add_trace(go.Scatter(x=syncs, y=hard, mode="lines", name=f"hard copy (τ = 1) every {period} syncs",
                                line=dict(color="#f59e0b", width=2, shape="hv")))
    figure.add_trace(go.Scatter(x=syncs, y=soft, mode="lines", name=f"soft target θ⁻ (τ = {tau:g})",
                                line=dict(color="#2563eb", width=2.5)))
    figure.add_vline(x=period, line=dict(color="#111827", dash="dot", width=1),
                     annotation_text=f"1/τ = {period} syncs", annotation_position="top left")
    figure.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), hovermode="x unified",
                         xaxis_title="target syncs", yaxis_title="weight value",
                         legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return figure


# --- Compare page --------------------------------------------------------------------------------

# Streamlit's blue, orange, green, violet, red, and a teal: one per configuration (MAX_CONFIGS).
COMPARE_COLORS = ("#2563eb", "#ea580c", "#16a34a", "#7c3aed", "#dc2626", "#0d9488")


def _rgba(hex_color: str, alpha: float) -> str:
    red, green, blue = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def _band_outline(x: pd.Series, low: pd.Series, high: pd.Series) -> tuple[list, list]:
    """The band's outline for fill="toself": along the top, back along the bottom, one closed
    shape per stretch of grid points that has a band (separated by None)."""
    xs: list = []
    ys: list = []
    has_band = (low.notna() & high.notna()).to_numpy()
    x, low, high = x.to_numpy(), low.to_numpy(), high.to_numpy()
    start = None
    for index in range(len(has_band) + 1):
        inside = index < len(has_band) and has_band[index]
        if inside and start is None:
            start = index
        elif not inside and start is not None:
            if xs:
                xs.append(None)
                ys.append(None)
            xs += list(x[start:index]) + list(x[start:index][::-1])
            ys += list(high[start:index]) + list(low[start:index][::-1])
            start = None
    return xs, ys


def compare_figure(aggregated: pd.DataFrame, labels: Sequence[str], thresholds: dict[str, float],
                   x_title: str = "environment steps", band_name: str = "95% bootstrap CI",
                   seeds: pd.DataFrame | None = None, x_range: tuple[float, float] | None = None,
                   y_title: str = "episode return, mean over seeds", height: int = 460, y_log: bool = False) -> go.Figure:
    """Per configuration the mean curve over seeds with its band, on a common x grid.

    ``aggregated`` has columns configuration, x, mean, low, high, seeds (as
    rlviz.compare.aggregate_curves); ``labels`` gives the configurations in legend order;
    ``thresholds`` maps a line's label to its y (the envs' solve thresholds); ``seeds`` (columns
    configuration, seed, x, y) adds each seed's own curve as a thin line. ``x_range`` fixes the
    x axis (e.g. 0 to the runs' total steps, so live curves grow into a still frame).
    """
    figure = go.Figure()
    for index, label in enumerate(labels):
        color = COMPARE_COLORS[index % len(COMPARE_COLORS)]
        rows = aggregated[aggregated["configuration"] == label]
        if seeds is not None and len(seeds):
            for seed, curve in seeds[seeds["configuration"] == label].groupby("seed", sort=True):
                figure.add_trace(go.Scattergl(
                    x=curve["x"], y=curve["y"], mode="lines", name=f"{label}, seed {seed}", legendgroup=label,
                    showlegend=False, line=dict(color=_rgba(color, 0.35), width=1),
                    hovertemplate=f"seed {seed}<br>%{{x:,.4~g}}: %{{y:.1f}}<extra></extra>",
                ))
        band_x, band_y = _band_outline(rows["x"], rows["low"], rows["high"])
        if band_x:
            figure.add_trace(go.Scatter(
                x=band_x, y=band_y, mode="lines", fill="toself", fillcolor=_rgba(color, 0.18),
                line=dict(width=0), name=f"{label} ({band_name})", legendgroup=label, showlegend=False,
                hoverinfo="skip",
            ))
        figure.add_trace(go.Scatter(
            x=rows["x"], y=rows["mean"], mode="lines", name=label, legendgroup=label,
            line=dict(color=color, width=2.5), customdata=rows["seeds"],
            hovertemplate=f"{label}<br>%{{x:,.4~g}}: mean %{{y:.1f}} over %{{customdata}} seeds<extra></extra>",
        ))
    for name, value in thresholds.items():
        figure.add_hline(y=value, line=dict(color="#6b7280", dash="dash"), annotation_text=name,
                         annotation_position="top left")
    figure.update_layout(
        height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=x_title, yaxis_title=y_title,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), hovermode="closest",
        uirevision=x_title,  # live redraws keep the student's zoom; switching the x axis resets it
    )
    if x_range is not None:
        figure.update_xaxes(range=list(x_range))
    if y_log:
        figure.update_yaxes(type="log")
    if aggregated.empty:  # nothing to autoscale to yet: show the frame the curves will fill
        top = max(thresholds.values(), default=1.0)
        figure.update_yaxes(range=[min(0.0, top), abs(top) * 1.1])
        if x_range is None:
            figure.update_xaxes(range=[0, 1])
    return figure


def clipped_objective_figure(ratios: Sequence[float], unclipped: Sequence[float], clipped: Sequence[float],
                             clip_range: float, advantage: float) -> go.Figure:
    """PPO's objective for one step against the ratio rho = pi / pi_old: rho A (dashed) and the
    clipped min(rho A, clip(rho) A) (solid), with the trust region [1 - eps, 1 + eps] shaded."""
    figure = go.Figure()
    figure.add_vrect(x0=1 - clip_range, x1=1 + clip_range, fillcolor="rgba(37, 99, 235, 0.08)", line_width=0,
                     annotation_text=f"1 ± ε = [{1 - clip_range:g}, {1 + clip_range:g}]", annotation_position="top left")
    figure.add_trace(go.Scatter(x=ratios, y=unclipped, mode="lines", name="ρ A (no clip)",
                                line=dict(color="rgba(107, 114, 128, 0.8)", width=2, dash="dash")))
    figure.add_trace(go.Scatter(x=ratios, y=clipped, mode="lines", name="min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)",
                                line=dict(color="#2563eb", width=3)))
    figure.add_vline(x=1.0, line=dict(color="#111827", dash="dot", width=1),
                     annotation_text="ρ = 1: π = π_old", annotation_position="bottom right")
    figure.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), hovermode="x unified",
                         xaxis_title="ratio ρ = π(a|s) / π_old(a|s)", yaxis_title=f"objective (A = {advantage:.3g})",
                         legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return figure


# --- Inside the agent ------------------------------------------------------------------------------

_VALUE_COLOR, _RETURN_COLOR, _TD_COLOR, _ADVANTAGE_COLOR, _REWARD_COLOR = "#2563eb", "#16a34a", "#dc2626", "#7c3aed", "#9ca3af"
_CURSOR = dict(color="#111827", width=1.5, dash="dot")


def checkpoint_curve(episodes: pd.DataFrame, checkpoint_steps: Sequence[int], checkpoint_means: Sequence[float],
                     selected: int, solve_threshold: float | None, max_points: int = 500) -> go.Figure:
    """The run's reward curve with a diamond at each checkpoint (on the last-100 mean) and the selected one ringed.
    It is redrawn at each pick of a checkpoint: fewer dots than the Train page's curve keep that quick."""
    figure = reward_curve(episodes, solve_threshold, max_points=max_points)
    figure.add_trace(go.Scatter(
        x=list(checkpoint_steps), y=list(checkpoint_means), mode="markers", name="checkpoints",
        marker=dict(symbol="diamond", size=10, color="#f59e0b", line=dict(color="#92400e", width=1)),
        hovertemplate="checkpoint at step %{x:,}<br>last-100 mean %{y:.1f}<extra></extra>",
    ))
    index = list(checkpoint_steps).index(selected)
    figure.add_trace(go.Scatter(
        x=[selected], y=[checkpoint_means[index]], mode="markers", name="selected", hoverinfo="skip",
        marker=dict(symbol="circle-open", size=22, color="#111827", line=dict(width=2.5)),
    ))
    figure.add_vline(x=selected, line=_CURSOR)
    figure.update_layout(height=320, clickmode="event+select")
    return figure


def episode_timeline(steps: Sequence[int], values: Sequence[float], returns_to_go: Sequence[float],
                     td_errors: Sequence[float], advantages: Sequence[float] | None, rewards: Sequence[float],
                     value_label: str) -> go.Figure:
    """Two panels over the episode's steps: V(s_t) against the return from t (top); TD error, advantage
    and reward (bottom). ``advantages`` None leaves it out (DQN). A click on the V(s_t) line selects a step."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.55, 0.45])
    lines = [(values, value_label, _VALUE_COLOR, 1), (returns_to_go, "return from t (collected)", _RETURN_COLOR, 1),
             (td_errors, "TD error", _TD_COLOR, 2), (rewards, "reward r_t", _REWARD_COLOR, 2)]
    if advantages is not None:
        lines.insert(3, (advantages, "advantage", _ADVANTAGE_COLOR, 2))
    for series, name, color, row in lines:
        figure.add_trace(go.Scatter(x=list(steps), y=list(series), mode="lines", name=name, line=dict(color=color, width=2),
                                    hovertemplate=f"t = %{{x}}<br>{name} %{{y:.3g}}<extra></extra>"), row=row, col=1)
    # Plotly selects markers only: small dots on V(s_t) take the click (and keep their look once one is selected).
    figure.data[0].update(mode="lines+markers", marker=dict(size=4), unselected=dict(marker=dict(opacity=1)))
    figure.update_yaxes(title_text="return", row=1, col=1)
    figure.update_yaxes(title_text="per step", row=2, col=1)
    figure.update_xaxes(title_text="step t of the episode", row=2, col=1)
    figure.update_layout(height=380, margin=dict(l=10, r=10, t=10, b=10), hovermode="closest", clickmode="event+select",
                         legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), uirevision="keep")
    return figure


def state_maps(xs: Sequence[float], ys: Sequence[float], values, policy, x_label: str, y_label: str,
               value_title: str, policy_title: str, policy_colors: dict, path_x: Sequence[float],
               path_y: Sequence[float]) -> go.Figure:
    """Two heatmaps over the same two state dimensions (V left, the policy right), the episode's path
    drawn on both from its start (circle) to its end (cross). ``policy_colors`` holds the policy
    heatmap's colorscale, zmin, zmax and colorbar settings."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=(value_title, policy_title), horizontal_spacing=0.14)
    figure.add_trace(go.Heatmap(x=list(xs), y=list(ys), z=values, colorscale="Viridis",
                                colorbar=dict(x=0.43, len=0.9, thickness=12),
                                hovertemplate=f"{x_label} %{{x:.3g}}<br>{y_label} %{{y:.3g}}<br>value %{{z:.3g}}<extra></extra>"),
                     row=1, col=1)
    figure.add_trace(go.Heatmap(x=list(xs), y=list(ys), z=policy, **policy_colors,
                                hovertemplate=f"{x_label} %{{x:.3g}}<br>{y_label} %{{y:.3g}}<br>%{{z:.3g}}<extra></extra>"),
                     row=1, col=2)
    ends = dict(x=[path_x[0], path_x[-1]], y=[path_y[0], path_y[-1]], mode="markers", hoverinfo="skip",
                marker=dict(symbol=["circle", "x"], color="#f43f5e", size=11, line=dict(color="white", width=1.5)))
    for col in (1, 2):
        figure.add_trace(go.Scatter(x=list(path_x), y=list(path_y), mode="lines", line=dict(color="white", width=1.5),
                                    name="the episode's states", hoverinfo="skip", showlegend=col == 1), row=1, col=col)
        figure.add_trace(go.Scatter(**ends, name="its start (circle) and end (cross)", showlegend=col == 1), row=1, col=col)
        figure.update_xaxes(title_text=x_label, range=[xs[0], xs[-1]], row=1, col=col)
        figure.update_yaxes(title_text=y_label, range=[ys[0], ys[-1]], row=1, col=col)
    figure.update_layout(height=420, margin=dict(l=10, r=10, t=40, b=10),
                         legend=dict(orientation="h", yanchor="top", y=-0.18, x=0), uirevision="keep")
    figure.update_annotations(font_size=13)
    return figure
