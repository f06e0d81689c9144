"""The app's model allow-list: listed models load, anything typed is refused in one sentence, downloads capped."""
from __future__ import annotations

import pytest

from asr_app import model_access
from asr_core import checkpoints
from asr_core.errors import ModelError
from asr_core.models import REGISTRY

REFUSED = ("That model is not one this app may load: choose one of the listed models, or ask the operator to add "
           "its folder to ASR_MODEL_FOLDERS.")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository beside ../shared/models/tiny, an operator's model folder and a server folder with a config.json."""
    for var in (model_access.MODEL_FOLDERS_ENV, model_access.ANY_MODEL_ENV, model_access.MAX_DOWNLOAD_ENV):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "repo"
    root.mkdir()
    for ckpt in (tmp_path / "shared" / "models" / "tiny", tmp_path / "teacher" / "set" / "fine-tuned",
                 tmp_path / "private" / "secret-model"):
        ckpt.mkdir(parents=True)
        (ckpt / "config.json").write_text('{"model_type": "whisper"}')
    (tmp_path / "teacher" / "notes").mkdir()
    monkeypatch.setenv(model_access.MODEL_FOLDERS_ENV, str(tmp_path / "teacher"))
    return root


def test_the_picker_lists_the_registry_and_the_allowed_checkpoints(repo, tmp_path):
    shared, teacher = (tmp_path / "shared" / "models" / "tiny").resolve(), (tmp_path / "teacher").resolve()
    assert model_access.model_roots(repo) == [shared.parent, teacher]
    assert model_access.local_checkpoints(repo) == [str(shared), str(teacher / "set" / "fine-tuned")]
    assert model_access.model_options(repo) == [*REGISTRY, str(shared), str(teacher / "set" / "fine-tuned")]


def test_listed_models_are_allowed_by_id_or_path(repo, tmp_path):
    assert model_access.allowed_model("openai/whisper-tiny", repo) == "openai/whisper-tiny"
    fine = str((tmp_path / "teacher" / "set" / "fine-tuned").resolve())
    assert model_access.allowed_model(fine, repo) == fine
    assert model_access.allowed_model("../shared/models/tiny", repo) == str((tmp_path / "shared/models/tiny").resolve())


@pytest.mark.parametrize("typed", ["/root/.ssh", "/nonexistent", "../private/secret-model", "../teacher/notes",
                                   "../teacher", "someone/any-whisper", "/", "x" * 300, "a\0b", "../teacher/../private"])
def test_anything_else_gets_one_sentence_that_echoes_nothing(repo, typed):
    with pytest.raises(ModelError) as err:
        model_access.allowed_model(typed, repo)
    assert str(err.value) == REFUSED  # the same for a missing folder, a checkpoint outside, a hub id, a long name
    assert model_access.typed_model(f"  {typed}  ", repo) == ("", REFUSED)


def test_a_link_out_of_a_model_folder_is_not_listed_or_allowed(repo, tmp_path):
    (tmp_path / "teacher" / "link").symlink_to(tmp_path / "private", target_is_directory=True)
    assert all("secret-model" not in m for m in model_access.local_checkpoints(repo))
    with pytest.raises(ModelError, match="^That model is not one"):
        model_access.allowed_model(str(tmp_path / "teacher" / "link" / "secret-model"), repo)


def test_the_operator_may_open_the_box_on_a_private_machine(repo, monkeypatch):
    monkeypatch.setenv(model_access.ANY_MODEL_ENV, "1")
    assert model_access.any_model_allowed()
    assert model_access.typed_model("someone/any-whisper", repo) == ("someone/any-whisper", "")
    model, refused = model_access.typed_model("x" * 300, repo)  # still one sentence, never OSError
    assert model == "" and refused.startswith("That model name (300 characters) cannot name a folder")
    monkeypatch.setenv(model_access.ANY_MODEL_ENV, "yes")  # not 1: closed (and explained in the log once)
    assert not model_access.any_model_allowed()


def test_a_hub_download_over_the_cap_is_refused_before_anything_loads(repo, monkeypatch):
    asked = []
    monkeypatch.setattr(checkpoints, "needs_download", lambda m: True)
    monkeypatch.setattr(checkpoints, "download_bytes", lambda m: asked.append(m) or 3_100_000_000)
    assert model_access.check_loadable("openai/whisper-medium", "pretrained", repo) == "openai/whisper-medium"
    monkeypatch.setenv(model_access.MAX_DOWNLOAD_ENV, "500")
    with pytest.raises(ModelError) as err:
        model_access.check_loadable("openai/whisper-medium", "pretrained", repo)
    assert str(err.value) == ("openai/whisper-medium would download 3,100 MB from the model hub, over this app's "
                              "limit of 500 MB: choose a smaller model, or ask the operator to fetch it first "
                              "(`asr-profile prefetch --models openai/whisper-medium`) or to raise "
                              "ASR_MAX_DOWNLOAD_MB.")
    assert model_access.check_loadable("openai/whisper-medium", "synthetic", repo) == "openai/whisper-medium"
    assert asked == ["openai/whisper-medium", "openai/whisper-medium"]  # synthetic weights download nothing
    with pytest.raises(ModelError, match="^That model is not one"):
        model_access.check_loadable("/root/.ssh", "synthetic", repo)


def test_the_cap_goes_through_the_real_hub_size_reader(repo, monkeypatch):
    """The hub edge faked at HfApi.model_info: checkpoints.download_bytes sums the files as it would for real."""
    import huggingface_hub
    from types import SimpleNamespace
    files = [SimpleNamespace(rfilename="model.safetensors", size=900 * 10**6),
             SimpleNamespace(rfilename="config.json", size=2_000)]
    hub = SimpleNamespace(model_info=lambda repo_id, files_metadata, timeout: SimpleNamespace(siblings=files))
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: hub)
    monkeypatch.setattr(checkpoints, "needs_download", lambda m: True)
    monkeypatch.setenv(model_access.MAX_DOWNLOAD_ENV, "800")
    with pytest.raises(ModelError, match="would download 900 MB from the model hub, over this app's limit of 800 MB"):
        model_access.check_loadable("openai/whisper-small", "pretrained", repo)
    monkeypatch.setenv(model_access.MAX_DOWNLOAD_ENV, "nonsense")  # the default applies (explained once in the log)
    assert model_access.max_download_bytes() == model_access.DEFAULT_MAX_DOWNLOAD_MB * 10**6
    assert model_access.check_loadable("openai/whisper-small", "pretrained", repo) == "openai/whisper-small"
