"""Static index sets over arrays: everything, a contiguous range, or explicit positions.

Traced code reads and writes subsets of per-compartment arrays all the time
(the compartments of a mechanism, the recorded ones, ...). Most such subsets are
*everything* or a contiguous range once compartments are laid out sensibly, and
then a gather or scatter is a no-op or a slice; only genuinely scattered subsets
pay for an indexed gather. ``Index`` makes that choice once, at compile time.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Index"]


@dataclass(frozen=True, eq=False)
class Index:
    """A static subset of ``range(size)``, in a fixed order.

    Attributes:
        positions: The selected positions, ``int64``.
        size: Length of the arrays this index selects from.
    """

    positions: np.ndarray
    size: int

    @classmethod
    def of(cls, positions, size: int) -> Index:
        """An index over arrays of length ``size`` selecting ``positions`` (in order)."""
        return cls(np.asarray(positions, dtype=np.int64).reshape(-1), int(size))

    @classmethod
    def full(cls, size: int) -> Index:
        return cls(np.arange(size, dtype=np.int64), int(size))

    def __len__(self) -> int:
        return int(self.positions.size)

    @property
    def is_full(self) -> bool:
        """Selects every position, in order (gathers and scatters are identities)."""
        return len(self) == self.size and bool(np.all(self.positions == np.arange(self.size)))

    @property
    def as_slice(self) -> slice | None:
        """The equivalent slice when the positions are a contiguous increasing run."""
        p = self.positions
        if p.size and np.all(np.diff(p) == 1):
            return slice(int(p[0]), int(p[-1]) + 1)
        if p.size == 0:
            return slice(0, 0)
        return None

    def gather(self, x: jax.Array) -> jax.Array:
        """``x[positions]`` along the first axis (a slice or no-op where possible)."""
        if self.is_full:
            return x
        sl = self.as_slice
        return x[sl] if sl is not None else x[self.positions]

    def add_into(self, total: jax.Array, values: jax.Array) -> jax.Array:
        """``total`` (length ``size``) with ``values`` added at the positions."""
        if self.is_full:
            return total + values
        sl = self.as_slice
        if sl is not None:
            return total.at[sl].add(values)
        return total.at[self.positions].add(values)

    def expand(self, values: jax.Array, fill: float) -> jax.Array:
        """An array of length ``size`` holding ``values`` at the positions, ``fill`` elsewhere."""
        if self.is_full:
            return values
        out = jnp.full((self.size, *values.shape[1:]), fill, values.dtype)
        sl = self.as_slice
        return out.at[sl if sl is not None else self.positions].set(values)

    def within(self, outer: Index) -> Index:
        """This index expressed in positions of the arrays that ``outer`` gathers.

        Every position of ``self`` must be selected by ``outer`` (both over the same
        arrays); the result selects from ``outer.gather(x)``.
        """
        lookup = np.full(self.size, -1, dtype=np.int64)
        lookup[outer.positions] = np.arange(len(outer))
        local = lookup[self.positions]
        if np.any(local < 0):
            raise ValueError("Index.within: positions missing from the outer index.")
        return Index.of(local, len(outer))
