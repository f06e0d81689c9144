"""The errors that are the user's to fix, gathered once: bad audio, a model or option that cannot run,
a device out of memory, an unusable clip source, a sweep grid or output that cannot be used, a country, price or
instance the per-hour cost cannot use, or a missing file.

Each says in one sentence what was wrong and what to do. The CLI prints it and exits 2; the app shows it
and keeps earlier results. Anything else is a bug, and keeps its traceback.
"""
from __future__ import annotations

from .audio import AudioError
from .measure import ResourceError
from .models import ModelError
from .prices import CostError
from .segments import ClipSourceError
from .sweep import SweepError

USER_ERRORS: tuple[type[BaseException], ...] = (AudioError, ModelError, ResourceError, ClipSourceError,
                                               SweepError, CostError, FileNotFoundError)

__all__ = ["USER_ERRORS", "AudioError", "ModelError", "ResourceError", "ClipSourceError", "SweepError", "CostError"]
