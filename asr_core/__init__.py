"""asr-cost-explorer: what speech recognition costs, measured honestly.

Public API: ``load_model`` and ``transcribe`` (plus ``RunOptions`` and the ``Result`` record they produce).
``asr_core.runs`` is the run the CLI, the sweep and the app share: a ``Request`` (clips, noise, batch) measured.
"""
from .measure import RunOptions, transcribe
from .results import Result
from .runtimes import load_model

__all__ = ["load_model", "transcribe", "RunOptions", "Result"]
