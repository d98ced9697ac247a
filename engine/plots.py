"""The figures of the run report (DESIGN §6) as PNG bytes: frontier, map, stress, scenarios, staff.

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
    homes_shown: Sequence[np.ndarray] | None = None,
) -> bytes:
    """Accounts coloured by their rep, one panel per design, rep homes as stars.

    Parameters
    ----------
    lat, lon : float64[n_points], the accounts to draw (already sampled)
    designs : (title, int64[n_points] rep index or -1) per panel, e.g. today and recommended
    home_lat, home_lon : float64[n_reps]
    rep_ids : n_reps labels written beside the homes when there are few reps
    homes_shown : bool[n_reps] per panel, the reps of that panel's organisation (a rep hired
        later has no home today, one who left none after); by default every rep in every panel
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
        shown = [np.ones(n_reps, dtype=bool)] * n if homes_shown is None else homes_shown
        for ax, (title, reps), homes in zip(axes[0], designs, shown, strict=True):
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
                home_lon[homes],
                home_lat[homes],
                s=home_size,
                marker="*",
                color=colours[homes],
                edgecolors="black",
                linewidths=0.8,
                zorder=3,
            )
            if n_reps <= MAX_HOME_LABELS:
                for j in np.flatnonzero(homes):
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


def scenarios_figure(
    labels: Sequence[str],
    mean: np.ndarray,
    p5: np.ndarray,
    p95: np.ndarray,
    prob_beat_today: np.ndarray,
    feasible: np.ndarray,
    recommended: int | None,
) -> bytes:
    """The scenario comparison: expected bookings with their p5-p95 range, and P(beats today).

    Parameters
    ----------
    labels : n_designs names, row 0 today's design
    mean, p5, p95 : float64[n_designs], total bookings over the horizon
    prob_beat_today : float64[n_designs], share of scenarios that book more than today's design
    feasible : bool[n_designs]; infeasible designs are drawn hollow
    recommended : row of the recommended scenario, or None
    """
    n = len(labels)
    y = np.arange(n)[::-1]  # first row on top
    colours = [
        TODAY_COLOUR if k == 0 else RECOMMENDED_COLOUR if k == recommended else "#555555"
        for k in range(n)
    ]
    with matplotlib.rc_context(STYLE):
        figure = new_figure(10.0, 1.3 + 0.42 * n)
        grid = figure.add_gridspec(1, 2, width_ratios=[2.4, 1.0])
        bookings, beats = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
        for k in range(n):
            bookings.plot(
                [p5[k] / 1e6, p95[k] / 1e6],
                [y[k], y[k]],
                color=colours[k],
                linewidth=2.5,
                alpha=0.5,
            )
            bookings.scatter(
                [mean[k] / 1e6],
                [y[k]],
                s=80 if k == recommended else 45,
                marker="*" if k == recommended else "o",
                color=colours[k] if feasible[k] else "white",
                edgecolors=colours[k],
                linewidths=1.2,
                zorder=3,
            )
        bookings.axvline(mean[0] / 1e6, color=TODAY_COLOUR, linestyle="--", linewidth=0.8)
        bookings.set_yticks(y, [str(label) for label in labels])
        bookings.set_title("total bookings over the horizon ($M)")
        bookings.set_xlabel(
            "dot: mean (hollow: breaks a hard rule); bar: p5-p95; dashed: today's mean"
        )
        bookings.grid(axis="x", alpha=0.3)
        beats.barh(y[1:], prob_beat_today[1:], color=colours[1:], alpha=0.7, height=0.6)
        beats.axvline(0.5, color="black", linestyle=":", linewidth=0.8)
        beats.set_xlim(0.0, 1.0)
        beats.set_ylim(bookings.get_ylim())
        beats.set_yticks(y, [""] * n)
        beats.set_title("P(beats today)")
        beats.set_xlabel("share of scenarios")
        beats.grid(axis="x", alpha=0.3)
        for tick, colour in zip(bookings.get_yticklabels(), colours, strict=True):
            tick.set_color(colour if colour != "#555555" else "black")
        figure.tight_layout()
        return png_bytes(figure)


def headcount_figure(
    headcount: np.ndarray,
    curve: dict[str, np.ndarray],
    over_capacity: np.ndarray,
    best: int | None,
    today: tuple[int, float] | None,
) -> bytes:
    """The headcount curve: bookings, attainment spread and capacity utilisation per headcount.

    Parameters
    ----------
    headcount : int64[n_plans], ascending
    curve : float64[n_plans] per name: expected_bookings, p5_bookings, p95_bookings,
        attainment_spread, capacity_utilisation, utilisation_max (columns of headcount.arrow)
    over_capacity : bool[n_plans], plans whose design leaves some territory over capacity; the
        largest such headcount is marked in every panel
    best : row of the headcount with the highest expected bookings, or None
    today : (headcount, expected bookings) of today's design with today's reps, or None
    """
    x = np.asarray(headcount, dtype=np.float64)
    over = np.flatnonzero(over_capacity)
    with matplotlib.rc_context(STYLE):
        figure = new_figure(13.0, 3.8)
        bookings, spread, load = figure.subplots(1, 3)
        mean = curve["expected_bookings"] / 1e6
        bookings.fill_between(
            x,
            curve["p5_bookings"] / 1e6,
            curve["p95_bookings"] / 1e6,
            color=TODAY_COLOUR,
            alpha=0.18,
            linewidth=0,
            label="p5-p95",
        )
        bookings.plot(x, curve["p5_bookings"] / 1e6, color=TODAY_COLOUR, linestyle="--", label="p5")
        bookings.plot(x, mean, color=TODAY_COLOUR, marker="o", label="expected")
        if today is not None:
            bookings.scatter(
                [today[0]],
                [today[1] / 1e6],
                s=60,
                marker="s",
                color="black",
                zorder=3,
                label="today's design",
            )
        if best is not None:
            bookings.scatter(
                [x[best]],
                [mean[best]],
                s=180,
                marker="*",
                color=RECOMMENDED_COLOUR,
                zorder=4,
                label="most bookings",
            )
        bookings.set_ylabel("bookings over the horizon ($M)")
        spread.plot(x, curve["attainment_spread"], color=TODAY_COLOUR, marker="o")
        spread.set_ylabel("attainment spread (max - min over reps)")
        load.plot(
            x, 100 * curve["capacity_utilisation"], color=TODAY_COLOUR, marker="o", label="all reps"
        )
        load.plot(
            x,
            100 * curve["utilisation_max"],
            color="#888888",
            marker="^",
            label="busiest territory",
        )
        load.axhline(100.0, color="black", linestyle=":", linewidth=0.8)
        if over.size:
            load.scatter(
                x[over],
                100 * curve["utilisation_max"][over],
                s=90,
                facecolors="none",
                edgecolors=RECOMMENDED_COLOUR,
                linewidths=1.5,
                zorder=3,
                label="over capacity",
            )
        load.set_ylabel("capacity utilisation (%)")
        for ax in (bookings, spread, load):
            if over.size:
                ax.axvline(x[over].max(), color=RECOMMENDED_COLOUR, linestyle="--", linewidth=0.9)
            ax.set_xlabel("headcount (reps)")
            ax.set_xticks(x, [str(int(h)) for h in x])
            ax.grid(alpha=0.3)
        bookings.legend(fontsize=7, loc="best")
        load.legend(fontsize=7, loc="best")
        if over.size:
            spread.set_title(
                f"dashed red: over capacity at {int(x[over].max())} reps", color=RECOMMENDED_COLOUR
            )
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
