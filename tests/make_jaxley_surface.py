"""Regenerate tests/data/jaxley_surface.json from an installed jaxley (run by hand).

The snapshot lists, for each public namespace of Jaxley 0.14 that ``sim`` mirrors,
the public names defined by jaxley and the parameter names of every callable, so
``tests/test_jaxley_surface.py`` can check our surface without jaxley installed.

    python -m tests.make_jaxley_surface
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

NAMESPACES = (
    "",
    ".channels",
    ".synapses",
    ".pumps",
    ".connect",
    ".optimize",
    ".optimize.transforms",
    ".optimize.utils",
    ".io",
    ".io.graph",
    ".morphology",
    ".utils.dynamics",
)
CLASSES = ("Compartment", "Branch", "Cell", "Network")
OUT = Path(__file__).parent / "data" / "jaxley_surface.json"


def parameters(obj) -> list[list] | None:
    """``[[name, kind, has_default], ...]`` of a callable (without self/cls)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return [
        [p.name, p.kind.name, p.default is not inspect.Parameter.empty]
        for p in sig.parameters.values()
        if p.name not in ("self", "cls")
    ]


def describe(obj) -> dict:
    if inspect.isclass(obj):
        return {"kind": "class", "params": parameters(obj.__init__)}
    if callable(obj):
        return {"kind": "function", "params": parameters(obj)}
    return {"kind": "value", "params": None}


def own_names(module, package: str) -> list[str]:
    """Public names a namespace defines (a package: also what it re-exports from jaxley)."""
    is_package = hasattr(module, "__path__")
    names = []
    for name in dir(module):
        obj = getattr(module, name)
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        origin = getattr(obj, "__module__", None) if callable(obj) or inspect.isclass(obj) else None
        if origin is None and not (callable(obj) or inspect.isclass(obj)):
            names.append(name)  # a plain value
            continue
        origin = origin or ""
        if not origin.startswith(package):
            continue  # third-party helpers (numpy, typing, warnings, ...)
        if not is_package and origin != module.__name__:
            continue  # incidental imports of a plain module
        names.append(name)
    return names


def class_members(cls) -> dict:
    out = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        obj = inspect.getattr_static(cls, name)
        if isinstance(obj, property):
            out[name] = {"kind": "property", "params": None}
        elif callable(getattr(cls, name)):
            out[name] = {"kind": "method", "params": parameters(getattr(cls, name))}
        else:
            out[name] = {"kind": "value", "params": None}
    return out


def snapshot(package: str = "jaxley") -> dict:
    lib = importlib.import_module(package)
    spaces = {}
    for sub in NAMESPACES:
        mod = importlib.import_module(package + sub)
        spaces[sub] = {n: describe(getattr(mod, n)) for n in own_names(mod, package)}
    classes = {"Module": class_members(importlib.import_module(package + ".modules.base").Module)}
    for name in CLASSES:
        classes[name] = class_members(getattr(lib, name))
    return {"version": lib.__version__, "namespaces": spaces, "classes": classes}


if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(snapshot(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")
