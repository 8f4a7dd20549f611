"""Results as ArviZ 1.x trees: an ``xarray.DataTree`` with one child per group.

ArviZ 1 (``arviz-base`` / ``arviz-stats``) replaced ``az.InferenceData`` with
``xarray.DataTree``: ``tree.posterior`` is a child node, ``tree.attrs`` the root's
attributes, and a netcdf file holds one HDF5 group per child, which legacy
``arviz.from_netcdf`` (0.x) also reads. This module is the one place that builds,
queries, writes and reads those trees, so the rest of ``inference`` never depends on
how a group is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import xarray as xr

#: Group names in the order ArviZ's schema lists them (files keep this order).
GROUP_ORDER = (
    "posterior",
    "posterior_predictive",
    "log_likelihood",
    "sample_stats",
    "observed_data",
    "constant_data",
)

_ENGINE = "h5netcdf"


def make_tree(groups: Mapping[str, xr.Dataset], attrs: Mapping | None = None) -> xr.DataTree:
    """A DataTree with the non-empty `groups` as children and `attrs` on the root."""
    bad = [name for name, ds in groups.items() if not isinstance(ds, xr.Dataset)]
    if bad:
        raise TypeError(f"make_tree: groups {bad} are not xarray.Dataset objects.")
    order = {name: k for k, name in enumerate(GROUP_ORDER)}
    names = sorted(groups, key=lambda n: order.get(n, len(order)))
    tree = xr.DataTree.from_dict({name: groups[name] for name in names})
    tree.attrs.update(dict(attrs or {}))
    return tree


def has_group(tree: xr.DataTree, name: str) -> bool:
    """Whether `tree` has the group `name`."""
    return name in tree.children


def group_names(tree: xr.DataTree) -> list[str]:
    """The groups (child names) of `tree`."""
    return list(tree.children)


def group(tree: xr.DataTree, name: str) -> xr.Dataset:
    """Group `name` as a plain ``xarray.Dataset`` (its own variables and coordinates)."""
    if not has_group(tree, name):
        raise KeyError(f"no group {name!r} in the results (groups: {group_names(tree)}).")
    return tree[name].to_dataset()


def subset(tree: xr.DataTree, var_names: list[str], name: str = "posterior") -> xr.DataTree:
    """A tree with only the variables `var_names` of group `name` (and the root attrs)."""
    return make_tree({name: group(tree, name)[var_names]}, tree.attrs)


def write_netcdf(tree: xr.DataTree, path: str | Path) -> None:
    """Write `tree` to `path` (one HDF5 group per child; see the module docstring)."""
    tree.to_netcdf(str(path), engine=_ENGINE)


def read_netcdf(path: str | Path) -> xr.DataTree:
    """Read a results file into memory (the file is closed on return).

    Reads files written by :func:`write_netcdf` and by legacy ``az.InferenceData.
    to_netcdf``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No results file at {path}; check the path.")
    with xr.open_datatree(str(path), engine=_ENGINE) as tree:
        return tree.load().copy()
