"""End-to-end CLI runs of train-intermediate / train-target / eval on the tiny model, and their error paths."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli


@pytest.mark.parametrize("method", ["adapter", "lora", "full"])
def test_train_intermediate_stsb_writes_a_self_describing_run(method, tmp_path):
    out = tmp_path / "run"
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--method", method, "--max-steps", "6",
                  "--batch-size", "8", "--output", str(out), "-q")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "English dev" in res.stdout and "trainable params" in res.stdout
    run = json.loads((out / "run.json").read_text())
    for key in ("adapterx_version", "backbone", "method", "chain", "seed", "data", "hyperparameters", "wall_time_s", "params"):
        assert key in run
    assert run["method"]["name"] == method and run["chain"] == ["stsb"]
    assert run["backbone"]["id"] == "tiny" and len(run["backbone"]["sha256"]) == 64
    assert run["data"]["source"] == "synthetic" and run["data"]["train_size"] == 512
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["dev"]) == {"spearman", "pearson"} and len(metrics["loss_curve"]) == 6
    native = {"adapter": "adapter_config.json", "lora": "adapter_model.safetensors", "full": "model.safetensors"}[method]
    assert (out / "module" / native).is_file()
    assert not list((out / "module").glob("*.bin")), "weights must be safetensors only"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no partial folder left behind"


def test_houlsby_and_lora_options_are_recorded(tmp_path):
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--adapter-config", "houlsby", "--reduction-factor", "8",
                  "--max-steps", "2", "--output", str(tmp_path / "h"), "-q")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "h" / "run.json").read_text())["method"] == {
        "name": "adapter", "config": "double_seq_bn", "reduction_factor": 8, "non_linearity": "relu"}
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--method", "lora", "--lora-rank", "4", "--lora-alpha", "8",
                  "--lora-targets", "query,key,value", "--max-steps", "2", "--output", str(tmp_path / "l"), "-q")
    assert res.exit_code == 0, res.stderr
    m = json.loads((tmp_path / "l" / "run.json").read_text())["method"]
    assert m["r"] == 4 and m["alpha"] == 8 and m["target_modules"] == ["query", "key", "value"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train-intermediate", "stbs", "--model", "tiny"], "Did you mean 'stsb'"),
        (["train-intermediate", "stsb", "--model", "tiny", "--method", "lorra"], "Did you mean 'lora'"),
        (["train-intermediate", "stsb", "--model", "tiny", "--lora-rank", "4"], "--lora-rank applies to --method lora"),
        (["train-intermediate", "stsb", "--model", "tiny", "--method", "lora", "--lora-rank", "0"], "--lora-rank"),
        (["train-intermediate", "stsb", "--model", "tiny", "--data", "/no/such/file.csv"], "no such file"),
        (["train-intermediate", "stsb", "--model", "tiny", "--output", "/proc/forbidden/run"], "cannot write there"),
        (["train-intermediate", "stsb", "--model", "/no/such/model-folder/", "--data", "synthetic"], "cannot load backbone"),
        (["train-target", "xnli", "--model", "tiny", "--langs", "xx"], "xx"),
        (["train-target", "tydiqa", "--model", "tiny", "--max-length", "64", "--doc-stride", "60"], "--doc-stride 60 is too large"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    res = run_cli(*args, "--output", str(tmp_path / "o")) if "--output" not in args and args[0].startswith("train") else run_cli(*args)
    assert res.exit_code == 2, res.stdout + res.stderr
    err = res.stderr.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_offline_hub_id_says_so_and_suggests_tiny(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = run_cli("train-intermediate", "stsb", "--model", "xlm-roberta-base", "--data", "synthetic")
    assert res.exit_code == 2
    assert "offline" in res.stderr and "--model tiny" in res.stderr


def test_malformed_row_names_file_and_line(tmp_path):
    bad = tmp_path / "stsb-en-train.csv"
    bad.write_text('"a cat sits","a cat sat",4.0\n"a dog","the dog",not-a-number\n', encoding="utf-8")
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--data", str(bad), "--output", str(tmp_path / "o"))
    assert res.exit_code == 2
    assert f"{bad}:2" in res.stderr


def test_real_stsb_csv_trains_and_evaluates(shared_data, tmp_path):
    train = shared_data / "stsb" / "stsb-en-train.csv"
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--data", str(train), "--max-steps", "4",
                  "--batch-size", "8", "--output", str(tmp_path / "r"), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["run"]["data"]["train_size"] == 5749 and out["run"]["data"]["dev_size"] == 1500
    assert out["run"]["data"]["dev_source"].endswith("stsb-en-dev.csv")
    assert -100 <= out["metrics"]["dev"]["spearman"] <= 100


def test_train_target_then_eval_the_run(tmp_path):
    out = tmp_path / "xnli"
    res = run_cli("train-target", "xnli", "--model", "tiny", "--max-steps", "6", "--batch-size", "8", "--langs", "en,sw,de",
                  "--output", str(out), "--json", "-q", "--save-predictions", str(tmp_path / "p"))
    assert res.exit_code == 0, res.stderr
    ev = json.loads(res.stdout)["metrics"]["eval"]["xnli"]
    assert set(ev["scores"]) == {"en", "sw", "de"}
    assert ev["low_resource_average"] == pytest.approx(ev["scores"]["sw"]["accuracy"], abs=1e-3)
    lines = (tmp_path / "p" / "xnli" / "sw.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"id": "0", "prediction": json.loads(lines[0])["prediction"]}
    assert {json.loads(x)["prediction"] for x in lines} <= {"entailment", "neutral", "contradiction"}
    # The same module through `adapterx eval` gives the same scores.
    res = run_cli("eval", "xnli", "--module", str(out), "--langs", "en,sw,de", "--json")
    assert res.exit_code == 0, res.stderr
    again = json.loads(res.stdout)
    assert again["scores"] == ev["scores"]
    assert set(again) >= {"task", "metric", "scores", "average", "low_resource_average", "high_resource_average"}


def test_bf16_regression_keeps_its_ranks(tmp_path):
    # Under bf16 autocast regression outputs used to collapse into ties (Spearman NaN); they are kept in fp32.
    scores = {}
    for prec in ("fp32", "bf16"):
        res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--method", "full", "--max-steps", "40",
                      "--output", str(tmp_path / prec), "--json", "-q", *(["--bf16"] if prec == "bf16" else []))
        assert res.exit_code == 0, res.stderr
        scores[prec] = json.loads(res.stdout)["metrics"]["dev"]["spearman"]
    assert scores["bf16"] == pytest.approx(scores["fp32"], abs=5.0), scores


def test_undefined_scores_are_json_null():
    from adapterx.evaluate.zero_shot import EvalReport, LanguageResult

    rep = EvalReport("stsb-multi", "spearman", "correlation")
    rep.langs["de"] = LanguageResult({"spearman": float("nan"), "pearson": float("nan")}, [], [], [], 3)
    rep.langs["fr"] = LanguageResult({"spearman": 10.0, "pearson": 12.0}, [], [], [], 3)
    out = rep.to_json()
    assert out["scores"]["de"] == {"spearman": None, "pearson": None}
    assert out["average"] == 10.0
    json.dumps(out, allow_nan=False)  # strict JSON


# --------------------------------------------------------------------------------------------------------------
# Every TrainConfig field is a flag of every training command and reaches the request the command makes.

TRAIN_VALUES = {
    "lr": 0.5, "batch_size": 8, "grad_accum": 2, "epochs": 1.5, "max_steps": 7, "warmup_ratio": 0.3,
    "weight_decay": 0.1, "max_grad_norm": 0.5, "eval_steps": 5, "max_length": 64, "doc_stride": 16, "seed": 7,
    "bf16": True, "gradient_checkpointing": True, "device": "cpu", "early_stopping_patience": 2,
    "group_by_length": False, "compile": True,
}

# command line (QA tasks, so that --doc-stride applies), the workflow function it calls, the request's TrainConfig
TRAINING_COMMANDS = {
    "train-intermediate": (["squad"], "adapterx.workflows.train.train_run", lambda req: req.train),
    "train-target": (["tydiqa"], "adapterx.workflows.train.train_run", lambda req: req.train),
    "stack": (["squad", "tydiqa"], "adapterx.workflows.stack.stack_run", lambda req: req.target.train),
    "fuse": (["squad", "--target", "tydiqa"], "adapterx.workflows.stack.stack_run", lambda req: req.target.train),
    "train-language": (["sw"], "adapterx.workflows.language.train_language", lambda req: req.train),
}


class _Captured(Exception):
    pass


def _flags(values):
    out = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + flag[2:])
        else:
            out += [flag, str(value)]
    return out


@pytest.mark.parametrize("command", sorted(TRAINING_COMMANDS))
def test_every_train_config_field_is_a_flag_of_every_training_command(command, monkeypatch):
    import importlib

    import typer.main

    from adapterx.engine.loop import TrainConfig
    from cli.main import app

    assert set(TRAIN_VALUES) == set(TrainConfig.model_fields), "a new TrainConfig field: give it a value here"
    click_cmd = typer.main.get_command(app).commands[command]
    names = {opt for p in click_cmd.params for opt in (*p.opts, *p.secondary_opts)}
    for field in TrainConfig.model_fields:
        assert "--" + field.replace("_", "-") in names, f"{command} has no --{field.replace('_', '-')}"

    args, target, train_of = TRAINING_COMMANDS[command]
    seen = []

    def capture(req, **_kw):  # noqa: ANN001, ANN003, ANN202
        seen.append(train_of(req))
        raise _Captured

    module, _, fn = target.rpartition(".")
    monkeypatch.setattr(importlib.import_module(module), fn, capture)
    values = dict(TRAIN_VALUES)
    if command == "train-language":  # masked language modelling has no windows: the flag exists but is refused
        res = run_cli(command, *args, "--model", "tiny", "--doc-stride", "16")
        assert res.exit_code == 2 and "--doc-stride applies to tasks of kind span_qa" in res.stderr, res.stderr
        values.pop("doc_stride")
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, [command, *args, "--model", "tiny", *_flags(values)])
    assert isinstance(res.exception, _Captured), (res.exit_code, res.stderr, res.exception)
    cfg = seen[0]
    for name, value in values.items():
        assert getattr(cfg, name) == value, f"{command} --{name.replace('_', '-')} {value} became {getattr(cfg, name)}"
