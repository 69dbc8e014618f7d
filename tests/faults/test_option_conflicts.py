"""Options that conflict, repeat, or do not apply (issue 27, class 3): one line, exit 2, nothing written.

One mechanism serves every case: an option declares where it applies (task kinds, data sources, methods, ...) and
its range beside its definition (cli/options.py ``declare``; TrainConfig fields in ``json_schema_extra``), and
``cli/options.py:Given.check`` refuses a given option that does not apply; a key given twice is refused where the
method string is read (``cli/options.py:method_spec``). No case here trains: the refusal comes first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import ax, one_line_error

TINY = ("--model", "tiny", "--max-steps", "1", "-q")


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> list:
    """Fail the test if any workflow starts (the option must be refused before)."""
    import adapterx.workflows.language
    import adapterx.workflows.multitask
    import adapterx.workflows.stack
    import adapterx.workflows.train

    calls: list = []

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        raise AssertionError("the workflow started before the options were checked")

    for mod, name in ((adapterx.workflows.train, "train_run"), (adapterx.workflows.stack, "stack_run"),
                      (adapterx.workflows.language, "train_language"),
                      (adapterx.workflows.multitask, "train_multitask")):
        monkeypatch.setattr(mod, name, refuse)
    return calls


CASES = [
    # the examples
    (["train-intermediate", "stsb", "--doc-stride", "32"], ["--doc-stride applies to tasks of kind span_qa", "stsb"]),
    (["train-intermediate", "stsb", "--method", "lora:r=4,r=8"], ["r is given twice"]),
    (["train-intermediate", "stsb", "--method", "lora:r=4", "--lora-rank", "8"], ["--lora-rank 8", "both set r"]),
    (["train-intermediate", "stsb", "--seed", "99999999999999999999"], ["--seed", "4294967295"]),
    (["train-intermediate", "stsb", "--data", "synthetic", "--train-file", "x.csv"],
     ["--train-file applies to", "not --data synthetic"]),
    (["train-intermediate", "stsb", "--multi-task"], ["--multi-task applies to a task with member tasks"]),
    (["train-intermediate", "stsb", "--temperature", "2"], ["--temperature applies to several tasks"]),
    # found here
    (["train-target", "xnli", "--doc-stride", "32"], ["--doc-stride", "xnli (kind classification)"]),
    (["train-language", "sw", "--doc-stride", "32"], ["--doc-stride", "masked language modelling"]),
    (["stack", "stsb", "xnli", "--lora-mode", "merge"], ["--lora-mode applies to --method lora", "--method adapter"]),
    (["stack", "stsb", "xnli", "--doc-stride", "32"], ["--doc-stride", "stsb (kind regression) and xnli"]),
    (["fuse", "stsb", "--target", "xnli", "--intermediate-steps", "0"], ["--intermediate-steps 0", ">= 1"]),
    (["train-intermediate", "stsb", "mnli", "--temperature", "0"], ["--temperature 0.0", "> 0"]),
    (["train-intermediate", "stsb", "--seed", "-1"], ["--seed -1"]),
    (["train-intermediate", "stsb", "--data", "synthetic", "--dev-file", "dev.csv"], ["--dev-file applies to"]),
    (["train-intermediate", "stsb", "--data", "train.csv", "--train-file", "other.csv"],
     ["--train-file applies to", "not --data train.csv"]),
    (["train-intermediate", "stsb", "--data", "synthetic", "--data-revision", "main"], ["--data-revision applies to"]),
    (["train-intermediate", "stsb", "--resume"], ["--resume applies to a run with --output"]),
    (["train-target", "xnli", "--eval-file", "en=a.tsv", "--eval-file", "en=b.tsv"], ["language 'en' is given twice"]),
    (["train-language", "sw", "--text", "synthetic", "--text-config", "swh"], ["--text-config applies to --text with"]),
    (["train-target", "xnli", "--method", "adapter:config=double_seq_bn", "--adapter-config", "houlsby"],
     ["--adapter-config houlsby", "both set config"]),
    (["train-intermediate", "stsb", "--warmup-ratio", "1.5"], ["--warmup-ratio 1.5", "less than 1"]),
    # an option of one value given twice (click kept the last one silently)
    (["train-target", "xnli", "--method", "adapter", "--method", "lora"], ["--method given twice"]),
    (["stack", "stsb", "xnli", "--lr", "1e-3", "--lr=1e-4"], ["--lr given twice"]),
    (["train-intermediate", "stsb", "--group-by-length", "--no-group-by-length"],
     ["given twice (as --group-by-length and --no-group-by-length)"]),
]


@pytest.mark.parametrize(("args", "needles"), CASES, ids=[" ".join(a[:1] + a[2:]) for a, _ in CASES])
def test_an_option_that_does_not_fit_is_refused_before_any_work(args, needles, no_work, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    extra = [] if "--resume" in args else ["--output", out]
    res = ax(*args, *TINY, *extra)
    one_line_error(res, *needles)
    assert not no_work
    assert list(tmp_path.iterdir()) == [], "nothing is written"


def test_multi_task_applies_where_a_task_expands(monkeypatch, tmp_path):
    """`sts-all --multi-task` is valid: its members reach the multi-task workflow as separate tasks."""
    import adapterx.workflows.multitask

    seen = []

    def capture(req, **_kw):  # noqa: ANN001, ANN003, ANN202
        seen.append(req)
        raise KeyboardInterrupt  # stop before any training (the CLI maps it to exit 130)

    monkeypatch.setattr(adapterx.workflows.multitask, "train_multitask", capture)
    res = ax("train-intermediate", "sts-all", "--multi-task", "--temperature", "2", *TINY, "--output", tmp_path / "r")
    assert res.exit_code == 130, (res.stderr, res.exception)
    assert len(seen[0].tasks) > 1 and "stsb" in seen[0].tasks and seen[0].temperature == 2.0


def test_every_declared_option_names_known_context():
    """Each declaration names a context key the check knows how to word (a typo would never refuse anything)."""
    from cli.options import CONTEXT_KEYS, declarations

    declared = declarations()
    assert "doc_stride" in declared and "train_file" in declared
    for name, applies in declared.items():
        assert set(applies) <= set(CONTEXT_KEYS), (name, applies)


def test_a_module_reference_is_no_task_of_the_context(tmp_path, no_work):
    """stack's intermediates may be module references: they are not looked up as tasks (no 'unknown task')."""
    res = ax("stack", str(tmp_path / "some-run"), "xnli", "--doc-stride", "32", *TINY, "--output", tmp_path / "o")
    one_line_error(res, "--doc-stride", "xnli (kind classification)")
    assert not Path(tmp_path / "o").exists()


def test_a_built_in_model_never_mixes_synthetic_training_with_real_evaluation(tmp_path, monkeypatch):
    """``train-target panx --model tiny --data-dir DIR``: where DIR holds no PAN-X training files, training would fall
    back to synthetic data and score it on DIR's real files (a chance-level zero-shot result, reported as one);
    refused in one line unless ``--data synthetic`` says so. Where DIR holds them, they are the training data."""
    from tests.xtreme_files import write_task

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    write_task(data, "panx", "sw", split="dev")
    for command in (["train-target", "panx"], ["stack", "stsb", "panx"]):
        res = ax(*command, *TINY, "--data-dir", data, "--langs", "sw")
        one_line_error(res, "--data-dir names real data", "no panx training files", "--data synthetic")
    res = ax("train-target", "panx", *TINY, "--dev-file", data / "panx" / "dev-sw.tsv")
    one_line_error(res, "--dev-file names real data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"], "nothing is written"
