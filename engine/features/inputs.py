"""Input checks shared by the feature functions: arrays in, clear errors out."""
from __future__ import annotations

from typing import Union

import numpy as np
import pandas as pd

ArrayLike = Union[np.ndarray, pd.Series]


def as_array(x: ArrayLike, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """A 1-D float64 numpy view (or copy) of `x`; NaN/inf rejected unless `allow_nan`."""
    arr = x.to_numpy(dtype=np.float64) if isinstance(x, pd.Series) else np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        i = int(np.argmax(bad))
        expected = "finite numbers or NaN" if allow_nan else "finite numbers"
        raise ValueError(f"{name}[{i}] = {float(arr[i])!r}; expected {expected}")
    return arr


def check_period(n: int, name: str, minimum: int = 2) -> int:
    """`n` as an int, at least `minimum`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name} = {n!r}; expected an integer >= {minimum}")
    return int(n)


def check_same_length(**arrays: np.ndarray) -> int:
    """The common length of the named arrays."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"inputs differ in length ({described}); expected equal lengths")
    return next(iter(lengths.values()), 0)


def nan_array(n: int) -> np.ndarray:
    return np.full(n, np.nan)
