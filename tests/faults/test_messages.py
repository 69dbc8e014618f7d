"""Messages a person can act on (issue 27, class 7).

Where each lives: the console every command prints through (cli/common.py:console: non-TTY output is never cut),
the one "did you mean" (adapterx/registry.py:suggest), --resume's applicability and note (cli/options.py:Given.check),
and the Hub read (adapterx/data/hf_load.py:_offline_once: the Hub is asked once; unreachable, reads fail at once).
"""

from __future__ import annotations

import pytest

from ._cli import ax, one_line_error


class _Stop(Exception):
    pass


@pytest.fixture
def captured_train(monkeypatch: pytest.MonkeyPatch) -> list:
    """The training workflow records its request and stops (the message under test comes before it)."""
    import adapterx.workflows.train

    seen: list = []

    def stop(req, **_kw):  # noqa: ANN001, ANN003, ANN202
        seen.append(req)
        raise _Stop

    monkeypatch.setattr(adapterx.workflows.train, "train_run", stop)
    return seen


def test_resume_without_a_checkpoint_says_so_in_one_line(captured_train, tmp_path):
    out = tmp_path / "run"
    res = ax("train-intermediate", "stsb", "--model", "tiny", "--resume", "--output", out, "-q")
    assert isinstance(res.exception, _Stop) and captured_train[0].resume
    notes = [ln for ln in res.stderr.splitlines() if "--resume" in ln]
    assert len(notes) == 1 and "no checkpoint" in notes[0] and "from the start" in notes[0], res.stderr
    assert str(out) in notes[0]


def test_resume_with_a_checkpoint_says_nothing(captured_train, tmp_path):
    from adapterx.engine.rundir import checkpoint_path

    out = tmp_path / "run"
    checkpoint_path(out).parent.mkdir()
    checkpoint_path(out).write_bytes(b"state")
    res = ax("train-intermediate", "stsb", "--model", "tiny", "--resume", "--output", out, "-q")
    assert isinstance(res.exception, _Stop) and "no checkpoint" not in res.stderr


def test_task_names_are_not_cut_in_a_pipe(monkeypatch):
    """`adapterx tasks | cat`: names were cut to 'intermedia…' at 80 columns."""
    monkeypatch.delenv("COLUMNS", raising=False)
    res = ax("tasks")
    assert res.exit_code == 0, res.stderr
    from adapterx.tasks import get_task, task_names

    for name in task_names():
        assert f" {name} " in res.stdout, f"{name!r} cut"
        assert get_task(name).description[:60] in res.stdout
    assert "…" not in res.stdout and "intermediate" in res.stdout


def test_a_long_path_in_a_summary_is_printed_whole(monkeypatch, capsys):
    """A run's summary names its output folder: a path past 80 columns used to end in '…' in a log."""
    monkeypatch.delenv("COLUMNS", raising=False)
    from cli.render import summary_table

    path = "/scratch/" + "/".join(["a-rather-long-folder-name"] * 8) + "/tydiqa.intermediate-stsb-20261206"
    summary_table("stsb: adapter on tiny", [("output", path), ("data", "synthetic")])
    out = capsys.readouterr().out
    assert path in out and "…" not in out


def test_columns_from_the_environment_are_honoured(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")
    from cli.common import console

    assert console().width == 200


@pytest.mark.parametrize(("typed", "choices", "hint"), [
    ("stsb", ["stsb", "mnli"], None),  # a choice refused for another reason: no hint of itself
    ("stsb ", ["stsb", "mnli"], None),  # the word typed, spaces aside
    ("LoRA", ["lora", "ia3"], "lora"),  # a case slip: the registered spelling
    ("stbs", ["stsb", "mnli"], "stsb"),
])
def test_did_you_mean_never_suggests_the_word_typed(typed, choices, hint):
    from adapterx.registry import suggest

    msg = suggest(typed, choices, "task")
    assert f"Did you mean {typed.strip()!r}" not in msg and f"Did you mean {typed!r}" not in msg, msg
    if hint:
        assert f"Did you mean {hint!r}" in msg, msg
    else:
        assert "Did you mean" not in msg, msg


def test_a_case_slip_in_a_task_name_suggests_its_spelling(tmp_path):
    res = ax("train-intermediate", "STSB", "--model", "tiny", "--output", tmp_path / "o")
    one_line_error(res, "Did you mean 'stsb'")
    assert not (tmp_path / "o").exists()


@pytest.fixture
def hub_probe(monkeypatch: pytest.MonkeyPatch) -> list:
    """The Hub is unreachable (a closed local port stands in for it), asked afresh; counts the probes."""
    from adapterx.data import hf_load

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "ADAPTERX_HF_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(hf_load, "_HUB_DOWN", [])
    probes: list = []
    real = hf_load.hub_reachable

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        probes.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hf_load, "hub_reachable", counting)
    yield probes
    import datasets.config
    import huggingface_hub.constants

    # the session runs offline (tests/conftest.py): leave the libraries so
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
    huggingface_hub.constants.HF_HUB_OFFLINE = True


def test_offline_a_hub_read_fails_once_in_one_line_naming_the_local_options(hub_probe, tmp_path, train_calls):
    res = ax("train-target", "xnli", "--model", "tiny", "--data", "hf", "--langs", "en", "--output", tmp_path / "o")
    err = one_line_error(res, "cannot reach the Hugging Face Hub", "does not answer", "--data-dir", "--eval-file")
    assert "Retrying" not in err and not train_calls
    assert hub_probe == [1]
    # a second read in the same process does not ask again
    res = ax("train-target", "pawsx", "--model", "tiny", "--data", "hf", "--langs", "en", "--output", tmp_path / "p")
    one_line_error(res, "--data-dir")
    assert hub_probe == [1]
    assert not (tmp_path / "o").exists() and not (tmp_path / "p").exists()


@pytest.mark.parametrize(("args", "needles"), [
    (["train-intermediate", "stsb", "--seed", "abc"], ["'--seed'", "valid integer"]),
    (["train-intermediate", "stsb", "--max-step", "3"], ["No such option: --max-step", "--max-steps"]),
    (["stack", "--model", "tiny"], ["Missing argument"]),
    (["trian-target", "xnli"], ["No such command", "adapterx --help"]),
])
def test_a_usage_error_is_one_line_naming_the_help(args, needles):
    """typer's own rendering of these was a framed panel of five lines or more."""
    err = one_line_error(ax(*args), *needles)
    assert "--help" in err
