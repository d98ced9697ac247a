"""Seeded synthetic instances of DESIGN §2: accounts clustered around US metros, and their reps.

Presets follow the seeds (`northeast`, `southwest`) and scale to `enterprise` and `xl`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow
from scipy.spatial import cKDTree
from scipy.special import ndtri

from engine.errors import TerrasimError
from engine.io import write_atomic

EARTH_RADIUS_KM = 6371.0
KM_PER_DEGREE = np.pi * EARTH_RADIUS_KM / 180.0

SEGMENTS = ("healthcare", "manufacturing", "technology", "financial", "retail", "public")
# Relative potential and hours per account by segment (healthcare and public sector buy slowly
# and need more touches per dollar; technology and finance buy bigger).
_SEGMENT_POTENTIAL = np.array([1.1, 1.0, 1.25, 1.3, 0.8, 0.9])
_SEGMENT_WORKLOAD = np.array([1.3, 1.0, 0.85, 1.1, 0.9, 1.25])
_WORKLOAD_ELASTICITY = 0.6  # hours ~ potential ** 0.6: big accounts need more, not pro rata
_WORKLOAD_NOISE = 0.35  # sigma of the lognormal factor on workload
_URBAN_WEIGHT_POWER = 0.75  # account density of a metro ~ population ** 0.75
_RURAL_WEIGHT_POWER = 0.5
_RURAL_SIGMA_KM = 90.0
_ASSIGN_DISTANCE_KM = 60.0  # today's owner: preference falls by a factor e per 60 km
_CANDIDATE_REPS = 12  # nearest reps considered for today's owner before widening the search
_BALANCE_ROUNDS = 30  # price-adjustment rounds that steer today's territories to their targets
_CHUNK = 1 << 17  # accounts per block in the nearest-rep search (bounds memory at xl)
_FULL_TIME_HOURS = (1600.0, 1900.0)
_PART_TIME_FTE = (0.5, 0.8)
_TENURE_MONTHS = (6.0, 84.0)  # seeds: "rep tenure ranges from 6 months to 7 years"
_SKILLED_SHARE = 0.4  # generalists who list one or two segments as skills
_MAX_ACCOUNT_SHARE = 0.5  # no account needs more than half of the smallest rep's hours

# name, state, lat, lon, metro population in millions (approximate; US Census MSA order of size)
METROS = (
    ("Portland", "ME", 43.661, -70.255, 0.56),
    ("Bangor", "ME", 44.801, -68.778, 0.15),
    ("Lewiston", "ME", 44.100, -70.215, 0.11),
    ("Manchester", "NH", 42.991, -71.464, 0.42),
    ("Concord", "NH", 43.208, -71.538, 0.15),
    ("Burlington", "VT", 44.476, -73.212, 0.23),
    ("Rutland", "VT", 43.611, -72.973, 0.06),
    ("Boston", "MA", 42.360, -71.059, 4.9),
    ("Worcester", "MA", 42.263, -71.802, 0.98),
    ("Springfield", "MA", 42.102, -72.590, 0.70),
    ("Providence", "RI", 41.824, -71.413, 1.68),
    ("Hartford", "CT", 41.764, -72.685, 1.2),
    ("New Haven", "CT", 41.308, -72.928, 0.86),
    ("Bridgeport", "CT", 41.187, -73.195, 0.95),
    ("New York", "NY", 40.713, -74.006, 12.0),
    ("Albany", "NY", 42.653, -73.757, 0.9),
    ("Buffalo", "NY", 42.886, -78.878, 1.17),
    ("Rochester", "NY", 43.157, -77.616, 1.09),
    ("Syracuse", "NY", 43.049, -76.147, 0.66),
    ("Newark", "NJ", 40.736, -74.172, 4.0),
    ("Trenton", "NJ", 40.221, -74.756, 0.39),
    ("Camden", "NJ", 39.926, -75.120, 1.2),
    ("Atlantic City", "NJ", 39.364, -74.423, 0.27),
    ("Philadelphia", "PA", 39.953, -75.165, 4.2),
    ("Pittsburgh", "PA", 40.441, -79.996, 2.4),
    ("Harrisburg", "PA", 40.274, -76.885, 0.6),
    ("Baltimore", "MD", 39.290, -76.612, 2.8),
    ("Washington", "DC", 38.907, -77.037, 6.3),
    ("Richmond", "VA", 37.541, -77.436, 1.3),
    ("Virginia Beach", "VA", 36.853, -75.978, 1.8),
    ("Charlotte", "NC", 35.227, -80.843, 2.7),
    ("Raleigh", "NC", 35.780, -78.639, 1.4),
    ("Columbia", "SC", 34.000, -81.035, 0.83),
    ("Charleston", "SC", 32.777, -79.931, 0.8),
    ("Atlanta", "GA", 33.749, -84.388, 6.1),
    ("Savannah", "GA", 32.081, -81.091, 0.4),
    ("Jacksonville", "FL", 30.332, -81.656, 1.6),
    ("Orlando", "FL", 28.538, -81.379, 2.7),
    ("Tampa", "FL", 27.951, -82.457, 3.2),
    ("Miami", "FL", 25.762, -80.192, 6.1),
    ("Birmingham", "AL", 33.519, -86.810, 1.1),
    ("Jackson", "MS", 32.299, -90.185, 0.59),
    ("New Orleans", "LA", 29.951, -90.072, 1.3),
    ("Baton Rouge", "LA", 30.451, -91.187, 0.87),
    ("Little Rock", "AR", 34.746, -92.290, 0.75),
    ("Nashville", "TN", 36.163, -86.781, 2.0),
    ("Memphis", "TN", 35.150, -90.049, 1.3),
    ("Louisville", "KY", 38.253, -85.759, 1.3),
    ("Columbus", "OH", 39.961, -82.999, 2.1),
    ("Cleveland", "OH", 41.499, -81.694, 2.1),
    ("Cincinnati", "OH", 39.103, -84.512, 2.3),
    ("Detroit", "MI", 42.331, -83.046, 4.3),
    ("Grand Rapids", "MI", 42.963, -85.668, 1.1),
    ("Indianapolis", "IN", 39.768, -86.158, 2.1),
    ("Chicago", "IL", 41.878, -87.630, 9.4),
    ("Milwaukee", "WI", 43.039, -87.907, 1.57),
    ("Madison", "WI", 43.073, -89.401, 0.68),
    ("Minneapolis", "MN", 44.978, -93.265, 3.7),
    ("Des Moines", "IA", 41.587, -93.625, 0.7),
    ("St. Louis", "MO", 38.627, -90.199, 2.8),
    ("Kansas City", "MO", 39.100, -94.579, 2.2),
    ("Omaha", "NE", 41.257, -95.935, 0.97),
    ("Wichita", "KS", 37.687, -97.330, 0.65),
    ("Oklahoma City", "OK", 35.468, -97.516, 1.4),
    ("Tulsa", "OK", 36.154, -95.993, 1.0),
    ("Dallas", "TX", 32.777, -96.797, 7.6),
    ("Houston", "TX", 29.760, -95.370, 7.1),
    ("Austin", "TX", 30.267, -97.743, 2.3),
    ("San Antonio", "TX", 29.424, -98.494, 2.6),
    ("El Paso", "TX", 31.762, -106.485, 0.87),
    ("Denver", "CO", 39.739, -104.990, 3.0),
    ("Colorado Springs", "CO", 38.834, -104.821, 0.76),
    ("Phoenix", "AZ", 33.448, -112.074, 4.9),
    ("Tucson", "AZ", 32.222, -110.975, 1.04),
    ("Flagstaff", "AZ", 35.198, -111.651, 0.15),
    ("Yuma", "AZ", 32.693, -114.628, 0.2),
    ("Albuquerque", "NM", 35.084, -106.650, 0.92),
    ("Santa Fe", "NM", 35.687, -105.938, 0.15),
    ("Las Cruces", "NM", 32.312, -106.778, 0.22),
    ("Las Vegas", "NV", 36.170, -115.140, 2.27),
    ("Reno", "NV", 39.530, -119.814, 0.49),
    ("Salt Lake City", "UT", 40.761, -111.891, 1.26),
    ("Provo", "UT", 40.234, -111.659, 0.67),
    ("Ogden", "UT", 41.223, -111.974, 0.69),
    ("St. George", "UT", 37.096, -113.568, 0.19),
    ("Boise", "ID", 43.615, -116.202, 0.8),
    ("Seattle", "WA", 47.606, -122.332, 4.0),
    ("Spokane", "WA", 47.659, -117.426, 0.6),
    ("Portland", "OR", 45.515, -122.679, 2.5),
    ("Eugene", "OR", 44.052, -123.087, 0.38),
    ("Sacramento", "CA", 38.582, -121.494, 2.4),
    ("San Francisco", "CA", 37.775, -122.419, 4.7),
    ("San Jose", "CA", 37.339, -121.895, 2.0),
    ("Fresno", "CA", 36.738, -119.787, 1.0),
    ("Los Angeles", "CA", 34.052, -118.244, 13.0),
    ("Riverside", "CA", 33.953, -117.396, 4.6),
    ("San Diego", "CA", 32.716, -117.161, 3.3),
)
US_STATES = tuple(dict.fromkeys(state for _, state, *_ in METROS))

_NAME_WORDS = (
    "Summit Cedar Harbor Granite Pioneer Riverside Northstar Bluewater Keystone Lakeside "
    "Ironwood Meridian Silverline Oakridge Redrock Pinecrest Highland Crescent Evergreen Liberty "
    "Frontier Beacon Sterling Canyon Prairie Coastal Union Atlas Apex Horizon Maple Willow "
    "Falcon Copper Juniper Mesa Sierra Bayview Hudson O'Hara"
).split()
# One row per segment, in SEGMENTS order.
_SEGMENT_WORDS = (
    (" Health", " Medical", " Clinics", " Care", " Pharma", " Diagnostics"),
    (" Manufacturing", " Industries", " Fabrication", " Machine Works", " Plastics", " Components"),
    (" Software", " Systems", " Data", " Networks", " Analytics", " Labs"),
    (" Financial", " Capital", " Bank", " Credit Union", " Insurance", " Advisors"),
    (" Retail", " Stores", " Outfitters", " Market", " Goods", " Supply"),
    (" County", " City Services", " School District", " Transit", " Utilities", " Water Authority"),
)
_NAME_SUFFIXES = (" Inc", " LLC", " Group", ", Inc.", " & Co", " Partners", " Corp", "")
_FIRST_NAMES = (
    "Avery Jordan Taylor Morgan Casey Riley Jamie Alex Sam Drew Maria James Priya Wei Fatima "
    "Carlos Emily Michael Sarah David Aisha Kenji Olivia Noah Grace Ethan Sofia Lucas Hannah Omar"
).split()
_LAST_NAMES = (
    "Chen Patel Garcia Smith Johnson Nguyen Williams Brown Kim Rodriguez Martinez Lee Walker "
    "Hall Young King Wright Lopez Hill Scott Green Adams Baker Nelson Carter Mitchell Perez "
    "Roberts Turner Phillips O'Brien"
).split()

ACCOUNT_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("name", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("region", pa.string()),
        ("segment", pa.string()),
        ("potential", pa.float64()),
        ("workload", pa.float64()),
        ("current_rep", pa.string()),
        ("relationship_years", pa.float64()),
        ("locked", pa.bool_()),
        ("barred_reps", pa.string()),
    ]
)
REP_SCHEMA = pa.schema(
    [
        ("rep_id", pa.string()),
        ("name", pa.string()),
        ("home_lat", pa.float64()),
        ("home_lon", pa.float64()),
        ("capacity", pa.float64()),
        ("tenure_months", pa.float64()),
        ("skills", pa.string()),
        ("specialist", pa.bool_()),
        ("regions", pa.string()),
        ("status", pa.string()),
    ]
)
FORMATS = {"csv": ".csv", "parquet": ".parquet", "arrow": ".arrow"}


@dataclass(frozen=True)
class Preset:
    """The shape of a synthetic instance.

    Attributes
    ----------
    n_accounts, n_reps : int
        Sizes.
    regions : tuple of str
        State codes; accounts sit around the metros of these states (`METROS`).
    segment_mix : tuple of float
        Share of accounts per segment, in `SEGMENTS` order (sums to 1).
    n_specialists : int
        Reps that may hold only their skill segment.
    specialist_skill : str or None
        The specialists' segment; None draws each one's segment from `segment_mix`.
    potential_median, potential_sigma : float
        Lognormal potential ($/year): median and sigma of its logarithm.
    lock_threshold : float or None
        Assigned accounts with potential above it are locked (protected relationships).
    lock_share : float
        Further share of all accounts locked, favouring long relationships and big accounts.
    n_new_reps : int
        Open reqs (status "new"): no accounts and no tenure today.
    utilisation : float
        Total workload / total capacity (all reps, open reqs included).
    assignment_skew : float
        Sigma of the lognormal factor on each rep's share of today's potential: how uneven
        today's territories are.
    unassigned_share, barred_share : float
        Share of accounts with no current rep; share that bar one nearby rep.
    rural_share : float
        Share of accounts scattered widely around a metro rather than inside it.
    part_time_share : float
        Share of reps at 0.5–0.8 FTE.
    any_region_share : float
        Share of reps with empty `regions` (may cover any state).
    reach_km : float
        A rep may cover its home state and every state with a metro within this distance.
    """

    n_accounts: int
    n_reps: int
    regions: tuple[str, ...]
    segment_mix: tuple[float, ...] = (0.18, 0.22, 0.2, 0.15, 0.15, 0.1)
    n_specialists: int = 0
    specialist_skill: str | None = None
    potential_median: float = 50_000.0
    potential_sigma: float = 1.2
    lock_threshold: float | None = None
    lock_share: float = 0.03
    n_new_reps: int = 0
    utilisation: float = 0.82
    assignment_skew: float = 0.3
    unassigned_share: float = 0.01
    barred_share: float = 0.005
    rural_share: float = 0.12
    part_time_share: float = 0.08
    any_region_share: float = 0.15
    reach_km: float = 350.0


PRESETS: dict[str, Preset] = {
    # Seeds: "15 reps covering 850 accounts across the Northeast US ... 8 states".
    "northeast": Preset(
        n_accounts=850,
        n_reps=15,
        regions=("ME", "NH", "VT", "MA", "RI", "CT", "NY", "NJ"),
        potential_median=45_000.0,
        potential_sigma=1.1,
    ),
    # Seeds: 450 accounts, 12 reps, AZ/NM/NV/UT; manufacturing 40%, healthcare 35%,
    # technology 25%; 3 healthcare specialists; accounts over $200K cannot be reassigned.
    "southwest": Preset(
        n_accounts=450,
        n_reps=12,
        regions=("AZ", "NM", "NV", "UT"),
        segment_mix=(0.35, 0.4, 0.25, 0.0, 0.0, 0.0),
        n_specialists=3,
        specialist_skill="healthcare",
        potential_median=55_000.0,
        potential_sigma=1.1,
        lock_threshold=200_000.0,
        lock_share=0.0,
    ),
    "enterprise": Preset(
        n_accounts=100_000,
        n_reps=500,
        regions=US_STATES,
        n_specialists=50,
        n_new_reps=3,
        lock_share=0.02,
    ),
    "xl": Preset(
        n_accounts=1_000_000,
        n_reps=2_000,
        regions=US_STATES,
        n_specialists=200,
        n_new_reps=6,
        lock_share=0.02,
    ),
}


def generate_instance(
    preset: str, seed: int = 0, n_accounts: int | None = None, n_reps: int | None = None
) -> tuple[pa.Table, pa.Table]:
    """Generate a synthetic instance: the accounts and reps tables of DESIGN §2.

    Parameters
    ----------
    preset : str
        A key of `PRESETS`.
    seed : int
        Seed of `numpy.random.default_rng`; the same preset, sizes and seed give identical
        tables.
    n_accounts, n_reps : int, optional
        Override the preset's sizes. With `n_reps` overridden, the preset's specialists and
        open reqs scale in proportion (at most a quarter and a tenth of the reps).

    Returns
    -------
    accounts : pyarrow.Table
        n_accounts rows with the columns of `ACCOUNT_SCHEMA`.
    reps : pyarrow.Table
        n_reps rows with the columns of `REP_SCHEMA`.

    Raises
    ------
    TerrasimError
        An unknown preset or a size below 1.
    """
    spec = _resolve(preset, n_accounts, n_reps)
    rng = np.random.default_rng(seed)
    metros = _Metros(spec.regions)
    reps = _generate_reps(rng, spec, metros)
    accounts = _generate_accounts(rng, spec, metros, reps)
    metadata = {
        b"terrasim.generator": json.dumps(
            {"preset": preset, "seed": seed, "n_accounts": spec.n_accounts, "n_reps": spec.n_reps}
        ).encode()
    }
    return (
        _accounts_table(rng, accounts, reps, metros).replace_schema_metadata(metadata),
        _reps_table(rng, reps, metros).replace_schema_metadata(metadata),
    )


def write_instance(
    accounts: pa.Table, reps: pa.Table, out_dir: str | Path, fmt: str = "parquet"
) -> tuple[Path, Path]:
    """Write `accounts.<ext>` and `reps.<ext>` into `out_dir`, each atomically.

    Parameters
    ----------
    accounts, reps : pyarrow.Table
        The tables, as `generate_instance` returns them.
    out_dir : str or Path
        Folder to write into; created if missing.
    fmt : {"csv", "parquet", "arrow"}
        File format; "arrow" is an Arrow IPC file with zstd compression.

    Returns
    -------
    tuple of Path
        The accounts and reps files.

    Raises
    ------
    TerrasimError
        An unknown format.
    """
    if fmt not in FORMATS:
        raise TerrasimError(f"unknown format '{fmt}'; one of {sorted(FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, table in (("accounts", accounts), ("reps", reps)):
        path = out_dir / f"{stem}{FORMATS[fmt]}"
        write_atomic(path, lambda tmp, table=table: _write_table(table, tmp, fmt))
        paths.append(path)
    return paths[0], paths[1]


def _write_table(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "csv":
        pacsv.write_csv(table, path)
    elif fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
    else:
        options = ipc.IpcWriteOptions(compression="zstd")
        with ipc.new_file(path, table.schema, options=options) as writer:
            writer.write_table(table)


def _resolve(preset: str, n_accounts: int | None, n_reps: int | None) -> Preset:
    if preset not in PRESETS:
        raise TerrasimError(f"unknown preset '{preset}'; one of {sorted(PRESETS)}")
    spec = PRESETS[preset]
    if n_accounts is not None:
        if int(n_accounts) < 1:
            raise TerrasimError(f"n_accounts must be at least 1, got {n_accounts}")
        spec = dataclasses.replace(spec, n_accounts=int(n_accounts))
    if n_reps is not None and int(n_reps) != spec.n_reps:
        n_reps = int(n_reps)
        if n_reps < 1:
            raise TerrasimError(f"n_reps must be at least 1, got {n_reps}")
        scale = n_reps / spec.n_reps
        spec = dataclasses.replace(
            spec,
            n_reps=n_reps,
            n_specialists=min(round(spec.n_specialists * scale), n_reps // 4),
            n_new_reps=min(round(spec.n_new_reps * scale), n_reps // 10),
        )
    return spec


class _Metros:
    """The metros of a preset's states, as arrays, with the shares accounts fall into."""

    def __init__(self, states: tuple[str, ...]) -> None:
        rows = [m for m in METROS if m[1] in states]
        self.states = tuple(s for s in states if any(m[1] == s for m in rows))
        missing = sorted(set(states) - set(self.states))
        if missing:
            raise TerrasimError(f"no metro known in region(s) {missing}")
        code = {s: k for k, s in enumerate(self.states)}
        self.state = np.array([code[m[1]] for m in rows], dtype=np.int64)
        self.lat = np.array([m[2] for m in rows])
        self.lon = np.array([m[3] for m in rows])
        pop = np.array([m[4] for m in rows])
        self.sigma_km = np.clip(14.0 * pop**0.4, 6.0, 45.0)
        self.urban_p = pop**_URBAN_WEIGHT_POWER / (pop**_URBAN_WEIGHT_POWER).sum()
        self.rural_p = pop**_RURAL_WEIGHT_POWER / (pop**_RURAL_WEIGHT_POWER).sum()
        self.pop = pop


@dataclass
class _Reps:
    lat: np.ndarray
    lon: np.ndarray
    capacity: np.ndarray
    tenure_months: np.ndarray
    skill: np.ndarray  # bool[n_reps, n_segments]
    specialist: np.ndarray  # bool
    region_ok: np.ndarray  # bool[n_reps, n_states]
    any_region: np.ndarray  # bool: `regions` left empty
    new: np.ndarray  # bool: open req


@dataclass
class _Accounts:
    metro: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    segment: np.ndarray
    potential: np.ndarray
    workload: np.ndarray
    current_rep: np.ndarray  # int64, -1 unassigned
    relationship_years: np.ndarray
    locked: np.ndarray
    barred_rep: np.ndarray  # int64, -1 none


def _generate_reps(rng: np.random.Generator, spec: Preset, metros: _Metros) -> _Reps:
    n = spec.n_reps
    share = (1.0 - spec.rural_share) * metros.urban_p + spec.rural_share * metros.rural_p
    # Reps follow the expected accounts: states first (one each while there are enough reps),
    # then metros within a state.
    n_states = len(metros.states)
    state_share = np.bincount(metros.state, weights=share, minlength=n_states)
    per_state = _apportion(state_share, n, minimum=1 if n >= n_states else 0)
    home_metro = []
    for s in range(n_states):
        in_state = np.flatnonzero(metros.state == s)
        seats = _apportion(share[in_state], int(per_state[s]), minimum=0)
        home_metro.append(np.repeat(in_state, seats))
    home_metro = rng.permutation(np.concatenate(home_metro))

    jitter = rng.normal(size=(2, n)) * 0.3 * metros.sigma_km[home_metro]
    lat, lon = _offset(metros.lat[home_metro], metros.lon[home_metro], jitter)

    capacity = rng.uniform(*_FULL_TIME_HOURS, size=n)
    part_time = rng.random(n) < spec.part_time_share
    capacity = np.where(part_time, capacity * rng.uniform(*_PART_TIME_FTE, size=n), capacity)
    capacity = np.round(capacity, -1)

    new = np.zeros(n, dtype=bool)
    new[rng.choice(n, size=spec.n_new_reps, replace=False)] = True
    tenure = np.round(np.exp(rng.uniform(*np.log(_TENURE_MONTHS), size=n)))
    tenure[new] = 0.0

    mix = np.asarray(spec.segment_mix, dtype=np.float64)
    mix = mix / mix.sum()
    # Specialists sit where there is business for them: chosen in proportion to metro size.
    weight = np.where(new, 0.0, metros.pop[home_metro])
    specialist = np.zeros(n, dtype=bool)
    n_spec = min(spec.n_specialists, int((weight > 0).sum()))
    if n_spec:
        specialist[rng.choice(n, size=n_spec, replace=False, p=weight / weight.sum())] = True
    skill = np.zeros((n, len(SEGMENTS)), dtype=bool)
    offered = int((mix > 0).sum())
    for j in range(n):  # loops over reps only: cheap even at 2,000 reps
        if specialist[j]:
            if spec.specialist_skill is not None:
                skill[j, SEGMENTS.index(spec.specialist_skill)] = True
            else:
                skill[j, rng.choice(len(SEGMENTS), p=mix)] = True
        elif rng.random() < _SKILLED_SHARE:
            k = min(int(rng.integers(1, 3)), offered)
            skill[j, rng.choice(len(SEGMENTS), size=k, replace=False, p=mix)] = True

    km = _haversine_km(lat[:, None], lon[:, None], metros.lat[None, :], metros.lon[None, :])
    reachable = km <= spec.reach_km
    region_ok = np.zeros((n, n_states), dtype=bool)
    for s in range(n_states):
        region_ok[:, s] = reachable[:, metros.state == s].any(axis=1)
    region_ok[np.arange(n), metros.state[home_metro]] = True
    any_region = rng.random(n) < spec.any_region_share
    region_ok[any_region] = True
    return _Reps(lat, lon, capacity, tenure, skill, specialist, region_ok, any_region, new)


def _generate_accounts(
    rng: np.random.Generator, spec: Preset, metros: _Metros, reps: _Reps
) -> _Accounts:
    n = spec.n_accounts
    rural = rng.random(n) < spec.rural_share
    metro = np.where(
        rural,
        rng.choice(metros.lat.size, size=n, p=metros.rural_p),
        rng.choice(metros.lat.size, size=n, p=metros.urban_p),
    )
    sigma = np.where(rural, _RURAL_SIGMA_KM, metros.sigma_km[metro])
    lat, lon = _offset(metros.lat[metro], metros.lon[metro], rng.normal(size=(2, n)) * sigma)
    del sigma, rural

    mix = np.asarray(spec.segment_mix, dtype=np.float64)
    segment = rng.choice(len(SEGMENTS), size=n, p=mix / mix.sum())
    potential = (
        spec.potential_median
        * _SEGMENT_POTENTIAL[segment]
        * np.exp(spec.potential_sigma * rng.standard_normal(n))
    )
    potential = np.maximum(np.round(potential, -2), 100.0)
    workload = (
        (potential / spec.potential_median) ** _WORKLOAD_ELASTICITY
        * _SEGMENT_WORKLOAD[segment]
        * np.exp(_WORKLOAD_NOISE * rng.standard_normal(n))
    )
    workload = np.round(
        _scale_capped(
            workload,
            spec.utilisation * reps.capacity.sum(),
            _MAX_ACCOUNT_SHARE * reps.capacity.min(),
        ),
        2,
    )

    region = metros.state[metro]
    _cover_workload(reps, metros, region, segment, workload)
    current_rep = _assign_today(rng, spec, lat, lon, region, segment, potential, reps)

    # Whitespace: a few accounts nobody holds; never the protected ones.
    open_ok = current_rep >= 0
    if spec.lock_threshold is not None:
        open_ok &= potential <= spec.lock_threshold
    candidates = np.flatnonzero(open_ok)
    n_open = min(round(spec.unassigned_share * n), candidates.size)
    current_rep[rng.choice(candidates, size=n_open, replace=False)] = -1

    assigned = current_rep >= 0
    tenure_years = reps.tenure_months[np.maximum(current_rep, 0)] / 12.0
    # Floor to the hundredth so a relationship never outlasts the rep's tenure.
    relationship = np.floor(tenure_years * rng.beta(2.0, 1.3, size=n) * 100.0) / 100.0
    relationship = np.where(assigned, relationship, 0.0)

    by_potential = np.argsort(-potential, kind="stable")
    priority = by_potential[:0]
    if spec.lock_threshold is not None:
        priority = by_potential[(assigned & (potential > spec.lock_threshold))[by_potential]]
    locked = np.zeros(n, dtype=bool)
    locked[priority] = True
    n_lock = round(spec.lock_share * n)
    if n_lock:
        # Protected relationships: long-held and larger accounts, drawn without replacement.
        with np.errstate(divide="ignore"):
            key = np.log(relationship * np.sqrt(potential)) + rng.gumbel(size=n)
        key[~assigned | locked] = -np.inf
        n_lock = min(n_lock, int(np.isfinite(key).sum()))
        if n_lock:
            chosen = np.argpartition(-key, n_lock - 1)[:n_lock]
            chosen = chosen[np.argsort(-key[chosen], kind="stable")]
            room = np.isin(
                chosen, _within_room(chosen, current_rep, workload, locked, reps.capacity)
            )
            priority = np.concatenate([priority, chosen[room]])
    # Locks that would leave some account without a rep with room are dropped, last first.
    locked[:] = False
    n_states = len(metros.states)
    locked[_keep_placeable(priority, reps, n_states, region, segment, workload, current_rep)] = True

    barred_rep = _bar_reps(rng, spec, lat, lon, current_rep, reps)
    return _Accounts(
        metro,
        lat,
        lon,
        segment,
        potential,
        workload,
        current_rep,
        relationship,
        locked,
        barred_rep,
    )


def _cover_workload(
    reps: _Reps, metros: _Metros, region: np.ndarray, segment: np.ndarray, workload: np.ndarray
) -> None:
    """Widen reps' regions until the reps can hold all the workload within capacity.

    While some workload cannot be placed (`_unplaced`), the generalist nearest to the state
    with the largest shortfall adds that state to its regions (it "also covers" a
    neighbour). Few reps over many states need this; the presets' own sizes rarely do.
    """
    n_states, n_reps = len(metros.states), reps.lat.size
    km = _haversine_km(
        reps.lat[:, None], reps.lon[:, None], metros.lat[None, :], metros.lon[None, :]
    )
    km_to_state = np.stack([km[:, metros.state == s].min(axis=1) for s in range(n_states)], axis=1)
    free = np.full(workload.size, -1)
    for _ in range(n_reps * n_states):  # each round widens one rep by one state
        short = _unplaced(reps, n_states, region, segment, workload, free)
        if not short.any():
            return
        state = int(np.argmax(short.reshape(n_states, len(SEGMENTS)).sum(axis=1)))
        outside = np.flatnonzero(~reps.region_ok[:, state] & ~reps.specialist)
        if outside.size == 0:
            return  # every generalist covers it already: nothing left to widen
        reps.region_ok[outside[np.argmin(km_to_state[outside, state])], state] = True


def _unplaced(
    reps: _Reps,
    n_states: int,
    region: np.ndarray,
    segment: np.ndarray,
    workload: np.ndarray,
    fixed_rep: np.ndarray,
) -> np.ndarray:
    """Workload of each (state, segment) group that the reps cannot hold within capacity.

    A max-flow from the groups to the reps that may hold them, in tenths of an hour, capacity
    without slack. Accounts with `fixed_rep` >= 0 (locked) are not in any group: their
    workload is taken off their rep's capacity first. Groups are indexed
    state * len(SEGMENTS) + segment; all zeros means everything fits.
    """
    n_segments, n_reps = len(SEGMENTS), reps.lat.size
    n_groups = n_states * n_segments
    group_state, group_segment = np.divmod(np.arange(n_groups), n_segments)
    free = fixed_rep < 0
    demand = np.bincount(
        region[free] * n_segments + segment[free], weights=workload[free], minlength=n_groups
    )
    demand = np.ceil(demand * 10.0).astype(np.int64)  # tenths of an hour: integer flows
    room = reps.capacity - np.bincount(fixed_rep[~free], weights=workload[~free], minlength=n_reps)
    if (room < 0).any():  # a rep's fixed workload alone breaks its capacity
        return np.maximum(demand, 1)
    supply = np.floor(room * 10.0).astype(np.int64)
    may_hold = ~reps.specialist[:, None] | reps.skill  # [n_reps, n_segments]
    ok = reps.region_ok[:, group_state] & may_hold[:, group_segment] & (demand > 0)
    rep_of_edge, group_of_edge = np.nonzero(ok)
    source, sink = 0, n_groups + n_reps + 1
    tails = np.concatenate(
        [np.zeros(n_groups, np.int64), 1 + group_of_edge, 1 + n_groups + np.arange(n_reps)]
    )
    heads = np.concatenate(
        [1 + np.arange(n_groups), 1 + n_groups + rep_of_edge, np.full(n_reps, sink)]
    )
    capacity = np.concatenate([demand, demand[group_of_edge], supply]).astype(np.int32)
    graph = csr_array((capacity, (tails, heads)), shape=(sink + 1, sink + 1))
    result = maximum_flow(graph, source, sink)
    if result.flow_value >= demand.sum():
        return np.zeros(n_groups, dtype=np.int64)
    placed = result.flow.tocsr()[[source], 1 : n_groups + 1].toarray().ravel()
    return demand - placed


def _keep_placeable(
    priority: np.ndarray,
    reps: _Reps,
    n_states: int,
    region: np.ndarray,
    segment: np.ndarray,
    workload: np.ndarray,
    current_rep: np.ndarray,
) -> np.ndarray:
    """The longest prefix of `priority` (accounts to lock) that leaves the instance feasible.

    Each lock fixes workload to one rep, so enough of them can leave the other accounts no
    room even when every rep alone stays within capacity. More locks only remove choices,
    so feasibility is monotone in the prefix: bisect on it.
    """

    def fits(k: int) -> bool:
        fixed = np.full(workload.size, -1)
        fixed[priority[:k]] = current_rep[priority[:k]]
        return not _unplaced(reps, n_states, region, segment, workload, fixed).any()

    if fits(priority.size):
        return priority
    low, high = 0, priority.size  # fits(low) assumed, not fits(high)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return priority[:low]


def _scale_capped(raw: np.ndarray, total: float, limit: float) -> np.ndarray:
    """Scale raw workloads to sum to `total`, no account above `limit` hours.

    An account that alone outgrows a rep could never be placed within capacity; capped
    accounts stay at the limit and the others scale up to make the total.
    """
    if raw.size * limit <= total:
        return np.full(raw.size, limit)
    capped = np.zeros(raw.size, dtype=bool)
    while True:
        scale = (total - limit * capped.sum()) / raw[~capped].sum()
        over = ~capped & (raw * scale > limit)
        if not over.any():
            return np.where(capped, limit, raw * scale)
        capped |= over


def _within_room(
    chosen: np.ndarray,
    current_rep: np.ndarray,
    workload: np.ndarray,
    locked: np.ndarray,
    capacity: np.ndarray,
) -> np.ndarray:
    """The chosen accounts (in priority order) whose locks keep each rep within capacity.

    Locked workload is fixed to its rep: a rep whose locks alone exceed its capacity would
    make the hard capacity rule infeasible.
    """
    room = capacity - np.bincount(
        current_rep[locked], weights=workload[locked], minlength=capacity.size
    )
    owner = current_rep[chosen]
    order = np.lexsort((np.arange(chosen.size), owner))  # by rep, then priority
    owner, hours = owner[order], workload[chosen][order]
    running = np.cumsum(hours)
    first = np.r_[True, owner[1:] != owner[:-1]]
    before_rep = np.maximum.accumulate(np.where(first, running - hours, 0.0))
    return chosen[order][running - before_rep <= room[owner]]


def _assign_today(
    rng: np.random.Generator,
    spec: Preset,
    lat: np.ndarray,
    lon: np.ndarray,
    region: np.ndarray,
    segment: np.ndarray,
    potential: np.ndarray,
    reps: _Reps,
) -> np.ndarray:
    """Today's owner of each account: a nearby eligible rep, with deliberately uneven totals.

    Every rep gets a target share of the potential, capacity times a lognormal factor (senior
    reps tend to hold more). An account goes to the one of its nearest reps that may hold it
    (regions, specialist skills; not an open req) with the best appeal + skill bonus -
    km / 60 + Gumbel noise; a few rounds of price adjustment move each rep's appeal until
    its potential approaches its target. Accounts without an eligible rep among the nearest
    12 widen the search; accounts that no rep may hold stay unassigned (-1).
    """
    n, n_reps = lat.size, reps.lat.size
    holdable = ~reps.new[:, None] & (~reps.specialist[:, None] | reps.skill)
    log_skill = (np.log(2.0) * reps.skill).astype(np.float32)
    tree = cKDTree(_unit_vectors(reps.lat, reps.lon))
    groups = []  # (rows, candidate reps, fixed part of their score); -inf = may not hold
    pending, k = np.arange(n), min(_CANDIDATE_REPS, n_reps)
    while pending.size:
        cand = np.empty((pending.size, k), dtype=np.int32)
        fixed = np.empty((pending.size, k), dtype=np.float32)
        block = max(1024, _CHUNK * _CANDIDATE_REPS // k)  # bounded memory at any k
        for start in range(0, pending.size, block):
            rows = pending[start : start + block]
            chord, near = tree.query(_unit_vectors(lat[rows], lon[rows]), k=k)
            chord, near = chord.reshape(rows.size, k), near.reshape(rows.size, k)
            seg = segment[rows, None]
            score = (
                log_skill[near, seg]
                - _chord_to_km(chord) / _ASSIGN_DISTANCE_KM
                + rng.gumbel(size=near.shape)
            )
            score[~(reps.region_ok[near, region[rows, None]] & holdable[near, seg])] = -np.inf
            cand[start : start + rows.size], fixed[start : start + rows.size] = near, score
        eligible = np.isfinite(fixed).any(axis=1)
        groups.append((pending[eligible], cand[eligible], fixed[eligible]))
        pending = pending[~eligible] if k < n_reps else pending[:0]
        k = min(4 * k, n_reps)

    def owners(log_appeal: np.ndarray) -> np.ndarray:
        owner = np.full(n, -1, dtype=np.int64)
        for rows, cand, fixed in groups:
            best = np.argmax(fixed + log_appeal[cand], axis=1)
            owner[rows] = cand[np.arange(rows.size), best]
        return owner

    target = _uneven_targets(rng, spec, reps) * potential.sum()
    active = target > 0
    log_appeal = np.zeros(n_reps, dtype=np.float32)
    best_owner, best_miss = None, np.inf
    for step in np.geomspace(0.5, 0.05, _BALANCE_ROUNDS):  # damped: big accounts are lumpy
        owner = owners(log_appeal)
        held = np.bincount(owner[owner >= 0], weights=potential[owner >= 0], minlength=n_reps)
        gap = np.log(target[active]) - np.log(np.maximum(held[active], 1.0))
        miss = float(np.mean(gap**2))
        if miss < best_miss:  # one big account flipping can undo a round: keep the best
            best_owner, best_miss = owner, miss
        log_appeal[active] = np.clip(log_appeal[active] + step * gap, -6.0, 6.0)
    return best_owner


def _uneven_targets(rng: np.random.Generator, spec: Preset, reps: _Reps) -> np.ndarray:
    """Each rep's share of today's potential: capacity times a lognormal factor, 0 for reqs.

    The factors are evenly spaced lognormal quantiles, so the spread is the same for every
    seed (12 reps at the default skew span about 3x, as the seeds' $2.3M-$6.8M); seniority,
    with noise, decides who holds the big territories.
    """
    n = reps.lat.size
    held = np.flatnonzero(~reps.new)
    z = ndtri((np.arange(held.size) + 0.5) / held.size)
    seniority = 0.5 * np.log(np.maximum(reps.tenure_months[held], 1.0)) + rng.normal(size=held.size)
    factor = np.zeros(n)
    factor[held[np.argsort(seniority)]] = np.exp(spec.assignment_skew * z)
    share = reps.capacity * factor
    return share / share.sum()


def _bar_reps(
    rng: np.random.Generator,
    spec: Preset,
    lat: np.ndarray,
    lon: np.ndarray,
    current_rep: np.ndarray,
    reps: _Reps,
) -> np.ndarray:
    """One barred rep for a few held accounts: a nearby rep other than the owner."""
    n, n_reps = lat.size, reps.lat.size
    barred = np.full(n, -1, dtype=np.int64)
    held = np.flatnonzero(current_rep >= 0)
    n_bar = min(round(spec.barred_share * n), held.size)
    if n_reps < 2 or n_bar == 0:
        return barred
    rows = np.sort(rng.choice(held, size=n_bar, replace=False))
    k = min(4, n_reps)
    tree = cKDTree(_unit_vectors(reps.lat, reps.lon))
    _, cand = tree.query(_unit_vectors(lat[rows], lon[rows]), k=k)
    cand = cand.reshape(rows.size, k)
    pick = rng.integers(0, k, size=rows.size)
    choice = cand[np.arange(rows.size), pick]
    # Never bar the owner: take the next candidate instead (k >= 2 and candidates are distinct).
    clash = choice == current_rep[rows]
    choice[clash] = cand[np.flatnonzero(clash), (pick[clash] + 1) % k]
    barred[rows] = choice
    return barred


def _accounts_table(
    rng: np.random.Generator, accounts: _Accounts, reps: _Reps, metros: _Metros
) -> pa.Table:
    n, n_reps = accounts.lat.size, reps.lat.size
    rep_ids_or_empty = pa.concat_arrays([_ids("R", n_reps, 4), pa.array([""])])
    words = pa.array(_NAME_WORDS)
    segment_words = pa.array([w for row in _SEGMENT_WORDS for w in row])
    suffixes = pa.array(_NAME_SUFFIXES)
    name = pc.binary_join_element_wise(
        words.take(rng.integers(0, len(_NAME_WORDS), size=n)),
        segment_words.take(
            accounts.segment * len(_SEGMENT_WORDS[0])
            + rng.integers(0, len(_SEGMENT_WORDS[0]), size=n)
        ),
        suffixes.take(rng.integers(0, len(_NAME_SUFFIXES), size=n)),
        "",
    )
    columns = {
        "account_id": _ids("A", n, 7),
        "name": name,
        "lat": np.round(accounts.lat, 5),
        "lon": np.round(accounts.lon, 5),
        "region": pa.array(metros.states).take(metros.state[accounts.metro]),
        "segment": pa.array(SEGMENTS).take(accounts.segment),
        "potential": accounts.potential,
        "workload": accounts.workload,
        "current_rep": rep_ids_or_empty.take(
            np.where(accounts.current_rep < 0, n_reps, accounts.current_rep)
        ),
        "relationship_years": accounts.relationship_years,
        "locked": accounts.locked,
        "barred_reps": rep_ids_or_empty.take(
            np.where(accounts.barred_rep < 0, n_reps, accounts.barred_rep)
        ),
    }
    return pa.table(columns, schema=ACCOUNT_SCHEMA)


def _reps_table(rng: np.random.Generator, reps: _Reps, metros: _Metros) -> pa.Table:
    n = reps.lat.size
    first = pa.array(_FIRST_NAMES).take(rng.integers(0, len(_FIRST_NAMES), size=n))
    last = pa.array(_LAST_NAMES).take(rng.integers(0, len(_LAST_NAMES), size=n))
    skills = [";".join(SEGMENTS[s] for s in np.flatnonzero(row)) for row in reps.skill]
    regions = [
        "" if anywhere else ";".join(metros.states[s] for s in np.flatnonzero(row))
        for row, anywhere in zip(reps.region_ok, reps.any_region, strict=True)
    ]
    columns = {
        "rep_id": _ids("R", n, 4),
        "name": pc.binary_join_element_wise(first, last, " "),
        "home_lat": np.round(reps.lat, 5),
        "home_lon": np.round(reps.lon, 5),
        "capacity": reps.capacity,
        "tenure_months": reps.tenure_months,
        "skills": skills,
        "specialist": reps.specialist,
        "regions": regions,
        "status": np.where(reps.new, "new", "active").tolist(),
    }
    return pa.table(columns, schema=REP_SCHEMA)


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    """'A0000001'-style ids, zero-padded to at least `width` digits, built without a Python loop."""
    digits = pc.cast(pa.array(np.arange(1, n + 1)), pa.string())
    digits = pc.utf8_lpad(digits, width=max(width, len(str(n))), padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _apportion(shares: np.ndarray, n: int, minimum: int) -> np.ndarray:
    """Split n seats in proportion to shares (Webster's highest averages), `minimum` each."""
    seats = np.full(shares.size, minimum, dtype=np.int64)
    for _ in range(n - int(seats.sum())):
        seats[np.argmax(shares / (seats + 0.5))] += 1
    return seats


def _offset(lat: np.ndarray, lon: np.ndarray, km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move points north by km[1] and east by km[0] (local flat approximation)."""
    new_lat = np.clip(lat + km[1] / KM_PER_DEGREE, -89.9, 89.9)
    new_lon = lon + km[0] / (KM_PER_DEGREE * np.cos(np.radians(lat)))
    return new_lat, (new_lon + 180.0) % 360.0 - 180.0


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def _chord_to_km(chord: np.ndarray) -> np.ndarray:
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.minimum(chord / 2.0, 1.0))


def _haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi, dlam = phi2 - phi1, np.radians(lon2 - lon1)
    h = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
