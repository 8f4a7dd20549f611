"""Small JAX helpers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
from jax import lax


def nested_checkpoint_scan(f: Callable, init, xs, nested_lengths: Sequence[int]):
    """``lax.scan(f, init, xs)`` with gradient checkpointing at every nesting level.

    ``xs`` leaves must have leading dimension ``prod(nested_lengths)``. With one
    level this is a plain scan; with ``[a, b]`` the outer scan of length ``a`` only
    stores ``a`` carries and recomputes each inner scan of length ``b`` on the
    backward pass, trading compute for memory.
    """
    lengths = [int(n) for n in nested_lengths]
    if any(n < 1 for n in lengths):
        raise ValueError(f"checkpoint lengths must be positive integers, got {lengths}.")
    if len(lengths) == 1:
        return lax.scan(f, init, xs, length=lengths[0])
    outer, inner = lengths[0], math.prod(lengths[1:])
    chunks = jax.tree_util.tree_map(lambda x: x.reshape(outer, inner, *x.shape[1:]), xs)

    @jax.checkpoint
    def chunk(carry, x_chunk):
        return nested_checkpoint_scan(f, carry, x_chunk, lengths[1:])

    carry, ys = lax.scan(chunk, init, chunks, length=outer)
    ys = jax.tree_util.tree_map(lambda y: y.reshape(outer * inner, *y.shape[2:]), ys)
    return carry, ys
