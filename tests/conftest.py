"""Session setup shared by every test module."""

from __future__ import annotations

import datetime
import os
import shutil
import sys
import tempfile
from pathlib import Path

_CACHE_ROOT = "SIM_TEST_XLA_CACHE_ROOT"


def _arviz_stamp_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("arviz", "arviz"))


def _share_compilations(config) -> None:
    """An XLA compilation cache for the run: many tests compile the same small programs
    again (every sampler run builds new closures, so jit's in-memory cache misses, but the
    compiled HLO is identical; e.g. the NUTS kill-and-resume test 70 s -> 46 s). Each
    xdist worker has its own folder (JAX writes entries without a lock, so workers do not
    read each other's half-written files); the CLI tests' subprocesses inherit their
    worker's through the environment. The folders are new for each run and removed at
    its end (:func:`pytest_unconfigure`). A ``JAX_COMPILATION_CACHE_DIR`` set by the
    caller is used as it is and kept; ``SIM_TEST_XLA_CACHE=0`` turns the cache off."""
    if os.environ.get("SIM_TEST_XLA_CACHE") == "0":
        return
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker is None:  # the controller (or a run without xdist) makes the root
        if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
            return
        root = tempfile.mkdtemp(prefix="xla_cache_")
        config._xla_cache_dir = root
        os.environ[_CACHE_ROOT] = root
    root = os.environ.get(_CACHE_ROOT)
    if root is None:
        return
    folder = os.path.join(root, worker or "main")
    os.makedirs(folder, exist_ok=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    if "jax" in sys.modules:  # imported already (a plugin): set it before the first compile
        import jax

        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def pytest_unconfigure(config) -> None:
    root = getattr(config, "_xla_cache_dir", None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def pytest_configure(config) -> None:
    """On a fresh machine arviz 0.23 writes a once-a-day stamp file at import through a
    fixed temporary name; two xdist workers importing it at once race on that name and
    one fails with FileNotFoundError. The controller writes today's stamp before any
    worker starts, so the workers only read it."""
    _share_compilations(config)
    if hasattr(config, "workerinput"):  # an xdist worker: the controller did it
        return
    try:
        folder = _arviz_stamp_dir()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"daily_warning.{os.getpid()}.tmp"
        tmp.write_text(datetime.date.today().isoformat())
        tmp.replace(folder / "daily_warning")
    except (ImportError, OSError):
        pass  # no platformdirs or a read-only home: arviz then warns, nothing else


def _hypothesis_profiles() -> None:
    """Property tests draw the same examples on every run by default ("ci": derandomized),
    so a red CI is reproducible and a green one is not luck; run with
    ``HYPOTHESIS_PROFILE=explore`` to draw new examples when hunting for bugs."""
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("ci", derandomize=True, database=None)
    settings.register_profile("explore", derandomize=False)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


_hypothesis_profiles()
