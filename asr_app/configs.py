"""A configuration to run (``RunRequest``): a model with its own weights, device, precision, batch size and
runtime, as the Transcribe page lists it, and the labels that name configurations by what differs between them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from asr_core.models import TRANSFORMERS
from asr_core.results import Result

from .inputs import model_label

# RunRequest field -> how a configuration's label names it, when the compared rows differ in it
SETTING_TEXT = {"weights": str, "device": str, "precision": str, "runtime": str, "batch_size": lambda b: f"batch {b}"}


@dataclass(frozen=True)
class RunRequest:
    """One configuration to run: a model with its own weights, device, precision, batch size and runtime."""

    model_id: str
    device: str
    precision: str
    weights: str
    batch_size: int = 1
    runtime: str = TRANSFORMERS

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What a loaded model is cached by (load_model's arguments)."""
        return self.model_id, self.device, self.precision, self.weights, self.runtime

    @property
    def settings(self) -> str:
        """'pretrained weights · cpu fp32 · transformers · batch 1'."""
        return f"{self.weights} weights · {self.device} {self.precision} · {self.runtime} · batch {self.batch_size}"


def config_of(r: Result) -> RunRequest:
    """The configuration a result was measured with."""
    return RunRequest(r.model, r.device, r.precision, r.weights, r.batch_size, r.runtime)


def config_labels(configs: Sequence[RunRequest]) -> list[str]:
    """Each configuration named by its model and the settings in which the configurations differ:
    'whisper-tiny.en (local) · int8' beside '… · fp32'; only the model's name when only models differ.
    A configuration listed twice gets a number."""
    varying = [f for f in SETTING_TEXT if len({getattr(c, f) for c in configs}) > 1]
    labels = [" · ".join([model_label(c.model_id), *(SETTING_TEXT[f](getattr(c, f)) for f in varying)])
              for c in configs]
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[i] = f"{label} ({seen[label]})"
    return labels


def result_labels(results: Sequence[Result]) -> dict[RunRequest, str]:
    """Configuration -> its label (config_labels) over the configurations of these results, in order."""
    configs = list(dict.fromkeys(config_of(r) for r in results))
    return dict(zip(configs, config_labels(configs)))


