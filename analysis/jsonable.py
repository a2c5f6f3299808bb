"""Numbers made ready for JSON: numpy scalars as plain Python, NaN and infinities as None."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def finite(value: Any) -> Any:
    """Numbers as plain floats, NaN and infinities as None; anything else unchanged."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
