"""The figures of the run report (DESIGN §6) as PNG bytes: frontier, territory map, stress test.

Matplotlib's object API with the Agg canvas (no pyplot: no global figure state, no backend
switch for whoever imports this), a fixed size and dpi and no software stamp, so the same data
gives the same bytes. Labels are user data: math text is off, so '$' prints as itself.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
# tab20 reordered so that the first ten colours are the strong ones.
_TAB20 = matplotlib.colormaps["tab20"].colors
REP_COLOURS = np.array(_TAB20[0::2] + _TAB20[1::2])
UNASSIGNED_COLOUR = (0.6, 0.6, 0.6)
TODAY_COLOUR, RECOMMENDED_COLOUR = "#4c72b0", "#dd4444"
# Labels of rep homes only where they stay readable; box plots of at most this many designs.
MAX_HOME_LABELS = 30
MAX_BOXES = 24
STYLE = {
    "text.parse_math": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}


def new_figure(width: float, height: float) -> Figure:
    """A figure of the given size in inches, drawn by Agg."""
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """Render a figure to PNG without a timestamp or software tag."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def sample_accounts(n_accounts: int, max_points: int) -> np.ndarray:
    """Indices of at most `max_points` accounts, the same ones every time (sorted)."""
    if n_accounts <= max_points:
        return np.arange(n_accounts)
    chosen = np.random.default_rng(0).choice(n_accounts, size=max_points, replace=False)
    return np.sort(chosen)


def frontier_figure(
    accounts_moved: np.ndarray,
    objectives: dict[str, np.ndarray],
    feasible: np.ndarray,
    recommended: int | None,
    today: dict[str, float] | None,
) -> bytes:
    """Each objective against accounts moved: what each moved account buys.

    Parameters
    ----------
    accounts_moved : int64[n_designs]
    objectives : name -> float64[n_designs], one panel each
    feasible : bool[n_designs]; infeasible designs are drawn hollow
    recommended : row of the recommended design (the knee), or None
    today : today's value of each objective, drawn at 0 accounts moved, or None
    """
    with matplotlib.rc_context(STYLE):
        n = len(objectives)
        figure = new_figure(4.2 * n, 3.4)
        axes = figure.subplots(1, n, squeeze=False)
        for ax, (name, values) in zip(axes[0], objectives.items(), strict=True):
            ax.scatter(
                accounts_moved[feasible], values[feasible], s=16, color=TODAY_COLOUR, label="design"
            )
            if (~feasible).any():
                ax.scatter(
                    accounts_moved[~feasible],
                    values[~feasible],
                    s=16,
                    facecolors="none",
                    edgecolors=TODAY_COLOUR,
                    label="infeasible",
                )
            if today is not None and name in today:
                ax.scatter([0], [today[name]], s=60, marker="s", color="black", label="today")
            if recommended is not None:
                ax.scatter(
                    [accounts_moved[recommended]],
                    [values[recommended]],
                    s=180,
                    marker="*",
                    color=RECOMMENDED_COLOUR,
                    zorder=3,
                    label="recommended (knee)",
                )
            ax.set_xlabel("accounts moved")
            ax.set_ylabel(name.replace("_", " "))
            ax.grid(alpha=0.3)
        axes[0][0].legend(loc="best", fontsize=8)
        figure.tight_layout()
        return png_bytes(figure)


def territory_map(
    lat: np.ndarray,
    lon: np.ndarray,
    designs: Sequence[tuple[str, np.ndarray]],
    home_lat: np.ndarray,
    home_lon: np.ndarray,
    rep_ids: Sequence[str],
) -> bytes:
    """Accounts coloured by their rep, one panel per design, rep homes as stars.

    Parameters
    ----------
    lat, lon : float64[n_points], the accounts to draw (already sampled)
    designs : (title, int64[n_points] rep index or -1) per panel, e.g. today and recommended
    home_lat, home_lon : float64[n_reps]
    rep_ids : n_reps labels written beside the homes when there are few reps
    """
    n_reps = home_lat.shape[0]
    colours = REP_COLOURS[np.arange(n_reps) % len(REP_COLOURS)]
    all_lat, all_lon = np.concatenate([lat, home_lat]), np.concatenate([lon, home_lon])
    # A degree of longitude is shorter away from the equator; panels follow the data's shape.
    aspect = 1.0 / max(np.cos(np.radians(all_lat.mean())), 0.1)
    shape = aspect * np.ptp(all_lat) / max(np.ptp(all_lon), 1e-6)
    height = float(np.clip(4.6 * shape + 1.0, 3.0, 7.0))
    # Fewer, larger marks for few accounts and reps; small ones for many.
    point_size = float(np.clip(9.0 * np.sqrt(2000 / max(lat.shape[0], 1)), 1.5, 9.0))
    home_size = float(np.clip(120.0 * np.sqrt(MAX_HOME_LABELS / max(n_reps, 1)), 25.0, 120.0))
    with matplotlib.rc_context(STYLE):
        n = len(designs)
        figure = new_figure(5.2 * n, height)
        axes = figure.subplots(1, n, squeeze=False)
        for ax, (title, reps) in zip(axes[0], designs, strict=True):
            held = reps >= 0
            ax.scatter(
                lon[~held],
                lat[~held],
                s=point_size,
                marker="x",
                color=UNASSIGNED_COLOUR,
                linewidths=0.6,
            )
            ax.scatter(lon[held], lat[held], s=point_size, color=colours[reps[held]], linewidths=0)
            ax.scatter(
                home_lon,
                home_lat,
                s=home_size,
                marker="*",
                color=colours,
                edgecolors="black",
                linewidths=0.8,
                zorder=3,
            )
            if n_reps <= MAX_HOME_LABELS:
                for j in range(n_reps):
                    ax.annotate(
                        str(rep_ids[j]),
                        (home_lon[j], home_lat[j]),
                        xytext=(4, 4),
                        textcoords="offset points",
                        fontsize=7,
                    )
            ax.set_aspect(aspect)
            ax.set_title(title)
            ax.set_xlabel("longitude")
            ax.set_ylabel("latitude")
        figure.tight_layout()
        return png_bytes(figure)


def stress_figure(
    labels: Sequence[str],
    total_bookings: np.ndarray,
    departures: np.ndarray,
    recommended: int | None,
) -> bytes:
    """Distributions of the stress test: total bookings and departures over scenarios.

    Top: histograms of total bookings and of departures for today (row 0) and the recommended
    design. Bottom: box plots of total bookings per design (whiskers at p5 and p95), best mean
    first after today's; of many designs, today, the recommended and an even spread of the rest.

    Parameters
    ----------
    labels : n_designs labels, row 0 today's design
    total_bookings : float64[n_designs, n_scenarios]
    departures : float64[n_designs, n_scenarios]
    recommended : row of the recommended design, or None (then the second row, if any)
    """
    n_designs = total_bookings.shape[0]
    if recommended is None and n_designs > 1:
        recommended = 1
    compared = [0] if recommended is None else [0, recommended]
    millions = total_bookings / 1e6
    boxed = _boxed_designs(millions, compared)
    n_boxes = len(boxed)
    with matplotlib.rc_context(STYLE):
        figure = new_figure(10.0, 4.2 + 0.22 * n_boxes)
        grid = figure.add_gridspec(2, 2, height_ratios=[3.0, 0.9 + 0.22 * n_boxes])
        hist, churn, boxes = (
            figure.add_subplot(grid[0, 0]),
            figure.add_subplot(grid[0, 1]),
            figure.add_subplot(grid[1, :]),
        )
        bins = np.histogram_bin_edges(millions[compared], bins=40)
        top = int(departures[compared].max()) if departures.size else 0
        departure_bins = np.arange(-0.5, top + 1.5)
        for row, colour in zip(compared, (TODAY_COLOUR, RECOMMENDED_COLOUR), strict=False):
            hist.hist(millions[row], bins=bins, alpha=0.55, color=colour, label=labels[row])
            churn.hist(
                departures[row], bins=departure_bins, alpha=0.55, color=colour, label=labels[row]
            )
        hist.set_xlabel("total bookings over the horizon ($M)")
        hist.set_ylabel("scenarios")
        hist.legend(fontsize=8)
        churn.set_xlabel("rep departures over the horizon")
        churn.set_ylabel("scenarios")
        churn.legend(fontsize=8)
        drawn = boxes.boxplot(
            list(millions[boxed[::-1]]),
            orientation="horizontal",
            whis=(5, 95),
            showfliers=False,
            widths=0.6,
            patch_artist=True,
            medianprops={"color": "black"},
        )
        fills = {0: TODAY_COLOUR, recommended: RECOMMENDED_COLOUR}
        for patch, row in zip(drawn["boxes"], boxed[::-1], strict=True):
            patch.set_facecolor(fills.get(row, "white"))
            patch.set_alpha(0.55 if row in fills else 1.0)
        names = [str(labels[row]) for row in boxed[::-1]]
        boxes.set_yticks(np.arange(1, n_boxes + 1), names, fontsize=7)
        if recommended is not None:
            boxes.get_yticklabels()[n_boxes - 1 - boxed.index(recommended)].set_color(
                RECOMMENDED_COLOUR
            )
        boxes.axvline(np.median(millions[0]), color=TODAY_COLOUR, linestyle="--", linewidth=0.8)
        boxes.set_xlabel(
            "total bookings ($M): box p25-p75, whiskers p5-p95, dashed: today's median"
        )
        boxes.grid(axis="x", alpha=0.3)
        figure.tight_layout()
        return png_bytes(figure)


def _boxed_designs(millions: np.ndarray, compared: list[int]) -> list[int]:
    """Rows to box: today first, then by mean bookings, at most MAX_BOXES of them."""
    rest = [row for row in range(1, millions.shape[0]) if row not in compared]
    room = MAX_BOXES - len(compared)
    if len(rest) > room:
        rest = [rest[k] for k in np.linspace(0, len(rest) - 1, room).round().astype(int)]
    others = sorted([*compared[1:], *rest], key=lambda row: (-millions[row].mean(), row))
    return [0, *others]
