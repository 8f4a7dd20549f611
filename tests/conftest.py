"""Session setup shared by every test module."""

from __future__ import annotations

import datetime
import os
from pathlib import Path


def _arviz_stamp_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("arviz", "arviz"))


def pytest_configure(config) -> None:
    """On a fresh machine arviz 0.23 writes a once-a-day stamp file at import through a
    fixed temporary name; two xdist workers importing it at once race on that name and
    one fails with FileNotFoundError. The controller writes today's stamp before any
    worker starts, so the workers only read it."""
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
