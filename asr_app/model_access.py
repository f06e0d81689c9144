"""Which models the app may load: an allow-list, as for sample folders (``inputs.py``), and a cap on hub downloads.

A visitor chooses among the registry's hub ids and the local checkpoints (folders holding a ``config.json``) found
under the allowed model folders: ``../shared/models`` when present and the folders the operator names in
``$ASR_MODEL_FOLDERS`` (``os.pathsep``-separated, as ``$ASR_SAMPLE_FOLDERS``). Nothing typed is loaded unless the
operator sets ``ASR_ALLOW_ANY_MODEL=1`` (a private machine): any other name gets MODEL_REFUSED, the same sentence
whether it names a missing folder, a folder without a checkpoint or anything else, and the name is never echoed,
so the model box tells a visitor nothing about the server's folders.

A model the app would download from the hub is refused when its files add up to more than ``$ASR_MAX_DOWNLOAD_MB``
(read from the hub's file list before anything is downloaded). The CLI, run by the machine's own user, takes any
hub id or folder.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from asr_core import checkpoints
from asr_core.errors import ModelError
from asr_core.models import CONFIG_FILE, REGISTRY, check_model_id

from .inputs import SHARED_DIR, explain_once, found_folders, operator_folders, real_folder

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = "models"  # under SHARED_DIR: checkpoint folders beside the repository
MODEL_FOLDERS_ENV = "ASR_MODEL_FOLDERS"  # more folders that hold checkpoints, os.pathsep-separated
ANY_MODEL_ENV = "ASR_ALLOW_ANY_MODEL"  # "1": the model box takes any hub id or folder (a private machine)
MAX_DOWNLOAD_ENV = "ASR_MAX_DOWNLOAD_MB"  # the most one model may download from the hub, in MB (10^6 bytes)
# Above the registry's largest checkpoint: whisper-medium's 769 M parameters in fp32 are about 3,076 MB.
DEFAULT_MAX_DOWNLOAD_MB = 4000
MB = 10**6
MAX_MODEL_FOLDERS = 50  # local checkpoints listed at most, over all model folders
MAX_MODEL_DEPTH = 2  # how far below a model folder checkpoints are looked for
MODEL_REFUSED = (f"That model is not one this app may load: choose one of the listed models, or ask the operator "
                 f"to add its folder to {MODEL_FOLDERS_ENV}.")
PICKER_HELP = (f"The registry's models and the local checkpoints in the folders the operator allowed "
               f"({MODEL_FOLDERS_ENV}); a download from the model hub is capped in size ({MAX_DOWNLOAD_ENV}).")


def any_model_allowed() -> bool:
    """Whether the operator opened the model box to any hub id or folder (ASR_ALLOW_ANY_MODEL=1)."""
    value = os.environ.get(ANY_MODEL_ENV, "").strip()
    if value not in ("", "0", "1"):
        explain_once(f"{ANY_MODEL_ENV}={value!r} is neither 1 nor 0, so the model box stays closed: set it to 1 to "
                     f"take any model.")
    return value == "1"


def model_roots(root: str | os.PathLike = REPO_ROOT) -> list[Path]:
    """The folders local checkpoints may come from, resolved: ../shared/models and $ASR_MODEL_FOLDERS."""
    roots = [real_folder(Path(root) / SHARED_DIR / SHARED_MODELS), *operator_folders(MODEL_FOLDERS_ENV, root)]
    return list(dict.fromkeys(r for r in roots if r is not None))


def local_checkpoints(root: str | os.PathLike = REPO_ROOT) -> list[str]:
    """Checkpoint folders (with a config.json) under the model roots, resolved, bounded in depth and count."""
    found = (f for r in model_roots(root) for f in found_folders(r, _is_checkpoint, MAX_MODEL_DEPTH, MAX_MODEL_FOLDERS))
    return [str(f) for f in list(dict.fromkeys(found))[:MAX_MODEL_FOLDERS]]


def model_options(root: str | os.PathLike = REPO_ROOT) -> list[str]:
    """What the model picker lists: registry ids, then the local checkpoints."""
    return [*REGISTRY, *local_checkpoints(root)]


def allowed_model(model_id: str, root: str | os.PathLike = REPO_ROOT) -> str:
    """The model to load for a name the app was given: a registry id as it is, a listed checkpoint by its real
    path, anything (a name a folder or hub id can have) when the operator allows it; else ModelError(MODEL_REFUSED)."""
    if model_id in REGISTRY:
        return model_id
    if any_model_allowed():
        check_model_id(model_id)
        return model_id
    real = real_folder(Path(root) / model_id)  # None for names no folder can have: the same refusal
    if real is not None and str(real) in local_checkpoints(root):
        return str(real)
    raise ModelError(MODEL_REFUSED)


def typed_model(text: str, root: str | os.PathLike = REPO_ROOT) -> tuple[str, str]:
    """(the model to add, "") for what was typed in the model box, or ("", the one sentence refusing it)."""
    text = text.strip()
    if not text:
        return "", ""
    try:
        return allowed_model(text, root), ""
    except ModelError as exc:
        return "", str(exc)


def max_download_bytes() -> int:
    """$ASR_MAX_DOWNLOAD_MB in bytes (DEFAULT_MAX_DOWNLOAD_MB when unset; a value that is not a number ≥ 0 is
    explained once in the log and the default used)."""
    value = os.environ.get(MAX_DOWNLOAD_ENV, "").strip()
    try:
        mb = float(value) if value else DEFAULT_MAX_DOWNLOAD_MB
    except ValueError:
        mb = math.nan
    if not 0 <= mb < math.inf:
        explain_once(f"{MAX_DOWNLOAD_ENV}={value!r} is not a number of MB, so the default "
                     f"{DEFAULT_MAX_DOWNLOAD_MB} MB applies.")
        mb = DEFAULT_MAX_DOWNLOAD_MB
    return int(mb * MB)


def check_loadable(model_id: str, weights: str, root: str | os.PathLike = REPO_ROOT) -> str:
    """The model the app may load (allowed_model), refused in one sentence when its pretrained weights would be a
    hub download over max_download_bytes; checked before anything is loaded or downloaded."""
    model_id = allowed_model(model_id, root)
    if weights == "pretrained" and checkpoints.needs_download(model_id):
        size, cap = checkpoints.download_bytes(model_id), max_download_bytes()
        if size > cap:
            raise ModelError(f"{model_id} would download {size / MB:,.0f} MB from the model hub, over this app's "
                             f"limit of {cap / MB:,.0f} MB: choose a smaller model, or ask the operator to fetch it "
                             f"first (`asr-profile prefetch --models {model_id}`) or to raise {MAX_DOWNLOAD_ENV}.")
    return model_id


def _is_checkpoint(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file()
