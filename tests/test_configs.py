"""The configurations compared in one run, named by the model and what differs between them."""
from __future__ import annotations

import dataclasses

from asr_app import configs

TINY = "openai/whisper-tiny"


def test_config_labels_name_the_model_and_what_differs():
    a = configs.RunRequest(TINY, "cpu", "fp32", "synthetic")
    local = configs.RunRequest("/x/models/whisper-tiny.en", "cpu", "fp32", "pretrained")
    assert configs.config_labels([a]) == [TINY]
    assert configs.config_labels([a, dataclasses.replace(a, model_id="openai/whisper-base")]) == [
        TINY, "openai/whisper-base"]
    assert configs.config_labels([a, local]) == [f"{TINY} · synthetic", "whisper-tiny.en (local) · pretrained"]
    int8 = dataclasses.replace(a, precision="int8", runtime="ctranslate2")
    assert configs.config_labels([a, int8]) == [f"{TINY} · fp32 · transformers", f"{TINY} · int8 · ctranslate2"]
    assert configs.config_labels([a, dataclasses.replace(a, batch_size=8), a]) == [
        f"{TINY} · batch 1", f"{TINY} · batch 8", f"{TINY} · batch 1 (2)"]
    assert a.settings == "synthetic weights · cpu fp32 · transformers · batch 1"

