"""asr-cost-explorer: what speech recognition costs, measured honestly.

Public API: ``load_model`` and ``transcribe`` (plus the ``Result`` record they produce).
"""
from .models import load_model
from .results import Result
from .runners import RunOptions, transcribe

__all__ = ["load_model", "transcribe", "RunOptions", "Result"]
