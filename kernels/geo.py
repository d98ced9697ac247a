"""Great-circle distances between accounts and rep homes (DESIGN §3).

Locations travel as unit vectors, so one distance is a chord length and one asin.
"""

import numpy as np

from kernels.jit import njit


def unit_vectors(lat_deg, lon_deg):
    """Unit vectors of points given in degrees.

    Parameters
    ----------
    lat_deg, lon_deg : array_like, shape (n,)
        Latitude and longitude in degrees.

    Returns
    -------
    ndarray of float64, shape (n, 3)
        C-contiguous (x, y, z) on the unit sphere.
    """
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    xyz = np.empty((lat.shape[0], 3))
    cos_lat = np.cos(lat)
    xyz[:, 0] = cos_lat * np.cos(lon)
    xyz[:, 1] = cos_lat * np.sin(lon)
    xyz[:, 2] = np.sin(lat)
    return xyz


@njit(inline="always")
def account_rep_distance(i, j, account_xyz, rep_xyz, distance):
    """Distance d(i, j) in km from account i to the home of rep j.

    ``distance.matrix[i, j]`` when the instance gives a matrix (shape[0] > 0);
    otherwise ``circuity · 2R · asin(|u_i − v_j| / 2)``, which equals the haversine
    distance on a sphere of radius R, times circuity.

    Parameters
    ----------
    i, j : int64
        Account and rep index.
    account_xyz : float64[n_accounts, 3]
    rep_xyz : float64[n_reps, 3]
    distance : DistanceArrays

    Returns
    -------
    float64
    """
    if distance.matrix.shape[0] > 0:
        return distance.matrix[i, j]
    dx = account_xyz[i, 0] - rep_xyz[j, 0]
    dy = account_xyz[i, 1] - rep_xyz[j, 1]
    dz = account_xyz[i, 2] - rep_xyz[j, 2]
    # Rounding can push the half chord of antipodal points a hair above 1.
    half_chord = min(0.5 * np.sqrt(dx * dx + dy * dy + dz * dz), 1.0)
    return distance.circuity * 2.0 * distance.radius_km * np.arcsin(half_chord)
