"""The errors that are the user's to fix, defined once on the ground floor: bad audio, a model or option that
cannot run, a device out of memory, an unusable clip source, a sweep grid or output that cannot be used, a sweep
file that cannot be read, a country, price or instance the per-hour cost cannot use, or a missing file.

Each says in one sentence what was wrong and what to do. The CLI prints it and exits 2; the app shows it
and keeps earlier results. Anything else is a bug, and keeps its traceback. The modules that raise them
(``audio``, ``models``, ``measure``, ``segments``, ``sweep``, ``sweep_table``, ``prices``, ``hourly``) import them from here.
"""
from __future__ import annotations


class AudioError(ValueError):
    """Input audio that cannot be used; the message names the file and what to do."""


class ModelError(ValueError):
    """A model that cannot be loaded or run as asked; the message says what to do."""


class ResourceError(RuntimeError):
    """The run did not fit the device (out of memory); the message suggests a smaller batch."""


class ClipSourceError(ValueError):
    """A clip source that cannot be used; the message says what was wrong and what to do."""


class SweepError(ValueError):
    """A grid, sweep file or provenance file the sweep cannot use, or an output it cannot write."""


class SweepFileError(ValueError):
    """A sweep file that cannot be read or lacks needed columns; the message names the file."""


class CostError(ValueError):
    """A country, price, instance or lifetime that cannot be used; the message is one sentence saying what to do."""


USER_ERRORS: tuple[type[BaseException], ...] = (AudioError, ModelError, ResourceError, ClipSourceError,
                                               SweepError, CostError, FileNotFoundError)
