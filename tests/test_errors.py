"""Bad input is one line (exit 2); a bug in gpg-vl keeps its traceback, even when it is a
ValueError, KeyError or OSError (those used to be reported as "bad input")."""
from __future__ import annotations

import pytest

from gpg_vl import cli, errors
from gpg_vl.config import ConfigError
from gpg_vl.data.images import ImageLoadError
from gpg_vl.data.long_prompts import PromptTooLongError
from gpg_vl.data.schema import SchemaError
from gpg_vl.models.loading import ModelLoadError


def test_user_errors_are_the_projects_own_classes():
    assert errors.USER_ERRORS == (errors.UserError,)
    for cls in (ConfigError, SchemaError, ImageLoadError, PromptTooLongError, ModelLoadError,
                errors.DataError, errors.MissingInputError):
        assert issubclass(cls, errors.UserError), cls
    for builtin in (ValueError, KeyError, OSError, FileNotFoundError):
        assert not issubclass(builtin, errors.UserError)


def test_bad_input_is_one_line(tmp_path, capsys):
    assert cli.main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpg-vl train: error: config file not found") and err.count("\n") == 1
    assert cli.main(["train", "algorithm.name=grpo", "algorithm.adv_scale=std"]) == 2
    assert "'algorithm.adv_scale' is not an option of algorithm 'grpo'" in capsys.readouterr().err
    assert cli.main(["train", "rewards=[{name: x"]) == 2  # an override whose value is not YAML
    assert "override 'rewards=[{name: x'" in capsys.readouterr().err
    assert cli.main(["train", "--deepspeed", str(tmp_path / "ds.json")]) == 2
    assert "no such DeepSpeed config file" in capsys.readouterr().err


@pytest.mark.parametrize("bug", [ValueError("a trainer bug"), KeyError("a trainer bug"), OSError("a trainer bug")])
def test_a_bug_keeps_its_traceback(bug, monkeypatch):
    import gpg_vl.trainer.loop as loop

    def train(cfg):
        raise bug

    monkeypatch.setattr(loop, "train", train)
    with pytest.raises(type(bug), match="a trainer bug"):
        cli.main(["train"])
