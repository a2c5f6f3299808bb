"""Extreme scenario probabilities over a fixed-moment set, by many small warm-started LPs.

The set is {pi >= 0 : sum pi = 1, sum_k t_ik pi_k = m_i, sum_k t_ik t_jk pi_k = m_ij}. Maximising
(or minimising) the probability of state k over it is one LP per state. Flipping the events that
occur in k (t -> 1 - t for those events) maps state k to state 0 and the moments to new moments by
a linear rule, while the constraint matrix stays the same. So every LP becomes "maximise x_0" with
only the right-hand side changed, and the dual simplex restarts from the previous optimal basis in
a handful of pivots instead of hundreds.

scipy's `linprog` cannot keep a model between calls, so this uses the HiGHS object bundled inside
scipy (`scipy.optimize._highspy`, a private module) when it is there, and falls back to `linprog`
(same answers, slower) when it is not.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import numpy.typing as npt
import scipy

from analysis.scenarios._common import FloatArray, pair_indices

#: probabilities below this are treated as zero when certifying that a minimum is 0
ZERO = 1e-12
#: the most states for which the warm-started full LPs are used (column generation beyond)
WARM_LIMIT = 4096
#: columns brought into the restricted LP per round of column generation
ENTERING = 512


def _bundled_highs() -> Any | None:
    """scipy's private HiGHS bindings, or None when this scipy does not ship them."""
    try:
        from scipy.optimize._highspy import _core
    except ImportError:
        return None
    needed = ("_Highs", "HighsLp", "MatrixFormat", "HighsModelStatus", "kHighsInf")
    if not all(hasattr(_core, name) for name in needed):
        return None
    return _core


def moment_features(bits: npt.NDArray[np.uint8]) -> FloatArray:
    """Feature matrix (d x states): rows t_i, then t_i t_j for i < j in row order."""
    n = bits.shape[1]
    rows, cols = pair_indices(n)
    t = bits.astype(np.float64)
    return np.ascontiguousarray(np.vstack([t.T, (t[:, rows] * t[:, cols]).T]))


def flip_moments(moments: FloatArray, n: int, flip: npt.NDArray[np.bool_]) -> FloatArray:
    """Moments of t' = t XOR flip, from the moments of t (same layout as moment_features)."""
    rows, cols = pair_indices(n)
    m1 = moments[:n]
    pair = np.zeros((n, n))
    pair[rows, cols] = moments[n:]
    pair = pair + pair.T
    offset = flip.astype(np.float64)
    sign = 1.0 - 2.0 * offset
    m1_flipped = offset + sign * m1
    pair_flipped = (
        np.outer(offset, offset)
        + np.outer(offset, sign * m1)
        + np.outer(sign * m1, offset)
        + np.outer(sign, sign) * pair
    )
    return np.concatenate([m1_flipped, pair_flipped[rows, cols]])


class ExtremeProbabilities:
    """min and max of each state's probability over the fixed-moment set (see module doc)."""

    def __init__(
        self,
        n: int,
        features: FloatArray,
        moments: FloatArray,
        support: npt.NDArray[np.bool_] | None = None,
        rows: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        self.n = n
        self.states = features.shape[1]
        self.moments = moments
        #: which moments are constraints (all by default); a free pair moment adds no row
        self.rows = np.ones(features.shape[0], dtype=bool) if rows is None else rows
        features = features[self.rows]
        self.matrix = scipy.sparse.csc_matrix(np.vstack([features, np.ones((1, self.states))]))
        self.rhs = np.append(moments[self.rows], 1.0)
        self.index = np.arange(self.states, dtype=np.int64)
        self._core = _bundled_highs()
        self._models: dict[int, Any] = {}
        self.warm_solves = 0
        self.cold_solves = 0
        # When the optimum sits on a small face, every other state is 0 in every feasible pi:
        # LPs over the face's states alone are small and much faster than warm-started full
        # ones (whose many forced zeros make them highly degenerate).
        self.columns: npt.NDArray[np.int64] | None = None
        if support is not None and 2 * int(support.sum()) <= self.states:
            self.columns = np.flatnonzero(support).astype(np.int64)
            self.matrix = self.matrix[:, self.columns]
        # Beyond WARM_LIMIT states even warm-started LPs take seconds each; column generation
        # over a pool of useful states (the dense matrix prices all columns at once) is faster.
        self.dense = (
            np.vstack([features, np.ones((1, self.states))])
            if self.columns is None and self.states > WARM_LIMIT
            else None
        )
        self.pool = np.zeros(0, dtype=np.int64)

    def seed_pool(self, states: npt.ArrayLike) -> None:
        """States to start column generation with (e.g. a known feasible pi's support)."""
        self.pool = np.union1d(self.pool, np.asarray(states, dtype=np.int64))

    def extreme(self, state: int, sense: int) -> tuple[float, FloatArray]:
        """(max if sense = +1 else min of pi_state, an optimal pi in state order)."""
        if self.columns is not None:
            self.cold_solves += 1
            return self._cold(state, sense)
        if self.dense is not None:
            self.cold_solves += 1
            return self._generate_columns(state, sense)
        if self._core is not None:
            found = self._warm(state, sense)
            if found is not None:
                self.warm_solves += 1
                return found
        self.cold_solves += 1
        return self._cold(state, sense)

    def _generate_columns(
        self, state: int, sense: int, mask: npt.NDArray[np.bool_] | None = None
    ) -> tuple[float, FloatArray]:
        """Column generation: LPs over a growing pool until no state's reduced cost improves.

        The pool must hold a feasible pi's support (seed_pool) so that every restricted LP is
        feasible; the optimum is exact when no column outside the pool has negative reduced
        cost c_j - a_j' y, with y the restricted LP's duals.
        """
        dense = self.dense
        if dense is None:
            raise RuntimeError("column generation needs the dense constraint matrix")
        if mask is None:
            mask = np.zeros(self.states, dtype=bool)
            mask[state] = True
        full_cost = np.where(mask, -float(sense), 0.0)
        columns = np.union1d(self.pool, np.flatnonzero(mask)[:ENTERING])
        tolerance = 1e-9
        while True:
            cost = full_cost[columns]
            result = scipy.optimize.linprog(
                cost,
                A_eq=dense[:, columns],
                b_eq=self.rhs,
                bounds=(0.0, None),
                method="highs-ds",
                options={"presolve": False},
            )
            if result.status != 0 or result.x is None or result.fun is None:
                raise RuntimeError(f"scenario bound LP failed: {result.message}")
            duals = np.asarray(result.eqlin.marginals, dtype=np.float64)
            reduced = full_cost - dense.T @ duals
            reduced[columns] = np.inf
            entering = np.flatnonzero(reduced < -tolerance)
            if entering.size == 0:
                break
            best = entering[np.argsort(reduced[entering])[:ENTERING]]
            columns = np.union1d(columns, best)
        x = np.clip(np.asarray(result.x, dtype=np.float64), 0.0, None)
        # the optimal support joins the pool: the next LPs are likely to need it too
        self.pool = np.union1d(self.pool, columns[x > ZERO])
        pi = np.zeros(self.states)
        pi[columns] = x
        return float(np.clip(-sense * float(result.fun), 0.0, 1.0)), pi

    def _flipped_rhs(self, state: int) -> FloatArray:
        flip = ((state >> np.arange(self.n)) & 1).astype(bool)
        # flipping maps a pair's moment to one of the same pair and the two marginals, so the
        # constrained rows stay constrained
        return np.append(flip_moments(self.moments, self.n, flip)[self.rows], 1.0)

    def _new_model(self, cost: FloatArray) -> Any:
        """A HiGHS model of the set (the original right-hand side) with these costs, no
        presolve (it would discard the basis between solves)."""
        core = self._core
        if core is None:
            raise RuntimeError("the bundled HiGHS is not available")
        model = core._Highs()
        model.setOptionValue("output_flag", False)
        model.setOptionValue("presolve", "off")
        columns = self.matrix.shape[1]
        lp = core.HighsLp()
        lp.num_col_ = columns
        lp.num_row_ = self.matrix.shape[0]
        lp.col_cost_ = cost
        lp.col_lower_ = np.zeros(columns)
        lp.col_upper_ = np.full(columns, core.kHighsInf)
        lp.row_lower_ = self.rhs.copy()
        lp.row_upper_ = self.rhs.copy()
        lp.a_matrix_.format_ = core.MatrixFormat.kColwise
        lp.a_matrix_.start_ = self.matrix.indptr
        lp.a_matrix_.index_ = self.matrix.indices
        lp.a_matrix_.value_ = self.matrix.data
        lp.a_matrix_.num_col_ = columns
        lp.a_matrix_.num_row_ = self.matrix.shape[0]
        model.passModel(lp)
        return model

    def _model(self, sense: int) -> Any:
        model = self._models.get(sense)
        if model is None:
            cost = np.zeros(self.states)
            cost[0] = -float(sense)  # HiGHS minimises: maximise x_0 by minimising -x_0
            model = self._models[sense] = self._new_model(cost)
        return model

    def _warm(self, state: int, sense: int) -> tuple[float, FloatArray] | None:
        core = self._core
        if core is None:
            return None
        try:
            model = self._model(sense)
            rhs = self._flipped_rhs(state)
            for row, value in enumerate(rhs.tolist()):
                model.changeRowBounds(row, value, value)
            model.run()
            if model.getModelStatus() != core.HighsModelStatus.kOptimal:
                return None
            x = np.asarray(model.getSolution().col_value, dtype=np.float64)
        except (AttributeError, RuntimeError, TypeError, ValueError):
            # the private bindings changed shape: stop using them and solve cold from now on
            self._core = None
            return None
        pi = np.clip(x[self.index ^ state], 0.0, None)
        return float(np.clip(x[0], 0.0, 1.0)), pi

    def _cold(self, state: int, sense: int) -> tuple[float, FloatArray]:
        mask = np.zeros(self.states, dtype=bool)
        mask[state] = True
        return self._solve(mask, sense)

    def extreme_of_set(self, mask: npt.NDArray[np.bool_], sense: int) -> float:
        """max (sense = +1) or min of the total probability of the states in mask."""
        if self.dense is not None:
            value, _ = self._generate_columns(-1, sense, mask)
        else:
            value, _ = self._solve(mask, sense)
        return value

    def _set_model(self) -> Any:
        """A HiGHS model of the set itself, kept between solves: only its costs change from one
        LP to the next, so each solve starts from the last optimal basis, and none pays
        `linprog`'s checks and conversions again."""
        model = self._models.get(0)
        if model is None:
            model = self._models[0] = self._new_model(np.zeros(self.matrix.shape[1]))
        return model

    def _solve_kept(self, chosen: npt.NDArray[np.bool_], sense: int) -> FloatArray | None:
        """An optimal x for the costs of `chosen` on the kept model, or None to solve cold."""
        core = self._core
        if core is None:
            return None
        try:
            model = self._set_model()
            columns = chosen.shape[0]
            model.changeColsCost(
                columns,
                np.arange(columns, dtype=np.int32),
                np.where(chosen, -float(sense), 0.0),
            )
            model.run()
            if model.getModelStatus() != core.HighsModelStatus.kOptimal:
                return None
            return np.asarray(model.getSolution().col_value, dtype=np.float64)
        except (AttributeError, RuntimeError, TypeError, ValueError):
            # the private bindings changed shape: stop using them and solve cold from now on
            self._core = None
            return None

    def _solve(self, mask: npt.NDArray[np.bool_], sense: int) -> tuple[float, FloatArray]:
        """Optimise the total probability of the states in mask; (value, pi in state order)."""
        chosen = mask if self.columns is None else mask[self.columns]
        if not chosen.any():
            # the states lie off the face: 0 in every feasible pi (any feasible pi will do)
            chosen = np.zeros_like(chosen)
        kept = self._solve_kept(chosen, sense)
        if kept is not None:
            x = np.clip(kept, 0.0, None)
            value = float(np.clip(x[chosen].sum(), 0.0, 1.0))
            if self.columns is None:
                return value, x
            pi = np.zeros(self.states)
            pi[self.columns] = x
            return value, pi
        cost = np.where(chosen, -float(sense), 0.0)
        result = scipy.optimize.linprog(
            cost,
            A_eq=cast(Any, self.matrix),  # the stubs do not list sparse matrices
            b_eq=self.rhs,
            bounds=(0.0, None),
            method="highs-ds",
            options={"presolve": False},
        )
        if result.status != 0 or result.x is None or result.fun is None:
            raise RuntimeError(f"scenario bound LP failed: {result.message}")
        value = float(np.clip(-sense * float(result.fun), 0.0, 1.0))
        x = np.clip(np.asarray(result.x, dtype=np.float64), 0.0, None)
        if self.columns is None:
            return value, x
        pi = np.zeros(self.states)
        pi[self.columns] = x
        return value, pi
