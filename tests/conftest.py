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
