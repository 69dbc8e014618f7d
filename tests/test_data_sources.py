"""The Hugging Face data sources: one pinned registry, loading through local stand-in repositories shaped as the
real ones (tests/hf_standins.py; no network), `adapterx data download` writing XTREME's layout that --data-dir reads
back to the same examples, `adapterx data check`, run.json data revisions, and the bad-input errors."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import hf_standins
import pytest
from conftest import run_cli

from adapterx.data import layout
from adapterx.workflows import download as dl
from adapterx.data.hf_load import LOCAL_ROOT_ENV, HFRead
from adapterx.data.hf_sources import DATASETS, EXPORT_REF, get_dataset, resolve_revision
from adapterx.data.sources import DataOptions, load_split, start_read_log
from adapterx.errors import ConfigError, DataError
from adapterx.tasks import get_task, task_names

HEX40 = set("0123456789abcdef")


@pytest.fixture(scope="session")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every stand-in repository, built once; datasets caches into the session's temp folder."""
    cache = tmp_path_factory.mktemp("hf-datasets-cache")
    os.environ["HF_DATASETS_CACHE"] = str(cache)
    import datasets

    datasets.config.HF_DATASETS_CACHE = cache  # the library read the variable at import, maybe before this
    return hf_standins.build(tmp_path_factory.mktemp("hf-root"))


@pytest.fixture
def hf_root(standins: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(LOCAL_ROOT_ENV, str(standins))
    return standins


def _hf_tasks() -> list[str]:
    return [n for n in task_names() if get_task(n).hf]


# --------------------------------------------------------------------------------------------------------------
# the registry


def test_every_task_source_names_a_registered_dataset_and_split():
    for name in _hf_tasks():
        task = get_task(name)
        for src in task.hf if isinstance(task.hf, tuple) else (task.hf,):
            for split, (key, theirs) in src.splits.items():
                ds = get_dataset(key)
                assert theirs in ds.splits, (name, split, key, theirs)
                assert ds.columns and ds.read_from.startswith("https://huggingface.co/datasets/")


def test_no_source_is_a_script_only_main_branch():
    """Repositories whose main branch is a loading script (read on the Hub) are read at a revision without it."""
    script_main = {"RobZamp/sick", "allenai/social_i_qa", "Rowan/hellaswag", "aps/super_glue"}
    for ds in DATASETS.values():
        assert ds.repo not in ("facebook/mlqa", "allenai/cosmos_qa", "google/xquad"), ds.key
        if ds.repo in script_main:
            assert ds.revision != "main", ds.key
        assert (ds.files == "export") == (ds.revision == EXPORT_REF), ds.key
        assert ds.revision in ("main", EXPORT_REF) or ds.revision.startswith("refs/pr/") or (
            len(ds.revision) == 40 and set(ds.revision) <= HEX40), ds.key


def test_configs_follow_the_repositories_names():
    assert get_dataset("semrel").config_for("es") == "esp" and get_dataset("semrel").config_for("en") == "eng"
    assert get_dataset("semrel").config_for("rw") == "kin"
    assert get_dataset("xtreme/mlqa").config_for("de") == "MLQA.de.de"
    assert get_dataset("xtreme/xquad").config_for("zh") == "XQuAD.zh"
    assert get_dataset("xtreme/udpos").config_for("yo") == "udpos.Yoruba"
    assert get_dataset("stsb_multi_mt").splits == ("train", "dev", "test")
    assert get_dataset("glue/qqp").columns[:2] == ("question1", "question2")
    with pytest.raises(DataError, match="has no language 'en'"):
        get_dataset("xcopa").config_for("en")  # XCOPA has no English: English COPA is SuperGLUE's


def test_data_revision_overrides():
    xnli = get_dataset("xnli")
    assert resolve_revision(xnli) == xnli.revision
    assert resolve_revision(xnli, ("abc",)) == "abc"
    assert resolve_revision(xnli, ("google/xtreme=v1", "facebook/xnli=v2")) == "v2"
    panx = get_dataset("xtreme/panx")
    assert resolve_revision(panx, ("facebook/xnli=v2",)) == panx.revision
    with pytest.raises(ConfigError, match="REPO=REV"):
        resolve_revision(xnli, ("a", "b"))


# --------------------------------------------------------------------------------------------------------------
# loading through the stand-ins


@pytest.mark.parametrize("name", _hf_tasks())
def test_hf_path_loads_every_task(hf_root: Path, name: str):
    task = get_task(name)
    opts = DataOptions(data="hf")
    for split in ("train", "dev"):
        ex, prov = load_split(task, split, "en", opts)
        assert ex and prov.size == len(ex) and prov.source.startswith("hf:")
        for read in prov.hf:
            assert read["revision"] and read["fingerprint"] and read["local"]
            assert read["repo"] in prov.source


def test_hf_rows_become_the_task_examples(hf_root: Path):
    ex, prov = load_split(get_task("xnli"), "test", "sw", DataOptions(data="hf"))
    assert ex[1].text_a == 'sw-test premise 1, with "quotes"' and ex[1].label == "neutral"
    assert prov.hf[0]["config"] == "sw" and prov.hf[0]["revision"] == get_dataset("xnli").revision
    tags, _ = load_split(get_task("panx"), "dev", "de", DataOptions(data="hf"))
    assert tags[1].tags == ("B-PER", "O", "I-PER")
    qa, _ = load_split(get_task("tydiqa"), "dev", "sw", DataOptions(data="hf"))
    assert qa and all(q.id.startswith("swahili-") for q in qa)
    sem, _ = load_split(get_task("semrel"), "dev", "en", DataOptions(data="hf"))
    assert [e.label for e in sem] == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])  # 0-1 scaled to 0-5
    anli, prov = load_split(get_task("anli"), "train", "en", DataOptions(data="hf"))
    assert len(prov.hf) == 5 and len(anli) == 3 * 3 + 6 + 6  # SNLI's no-gold row is dropped


def test_languages_and_splits_the_sources_lack(hf_root: Path):
    with pytest.raises(DataError, match="cambridgeltl/xcopa has no language 'en'"):
        load_split(get_task("xcopa"), "test", "en", DataOptions(data="hf"))
    with pytest.raises(DataError, match="no validation split"):  # udpos.Yoruba is test-only, as on the Hub
        load_split(get_task("udpos"), "dev", "yo", DataOptions(data="hf"))
    with pytest.raises(DataError, match="no labelled examples"):  # SemRel's Spanish test scores are withheld
        load_split(get_task("semrel"), "test", "es", DataOptions(data="hf"))


def test_offline_without_local_copies_is_one_clear_error(standins: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(LOCAL_ROOT_ENV, raising=False)
    with pytest.raises(DataError, match="cannot reach the Hugging Face Hub") as err:
        load_split(get_task("xnli"), "test", "sw", DataOptions(data="hf"))
    assert "\n" not in str(err.value)


def test_read_log_records_every_split_with_its_revision(hf_root: Path):
    log = start_read_log()
    opts = DataOptions(data="hf", data_revisions=("facebook/xnli=feedbeef",))
    load_split(get_task("xnli"), "train", "en", opts)
    load_split(get_task("xnli"), "test", "sw", opts)
    assert [(e["split"], e["lang"]) for e in log] == [("train", "en"), ("test", "sw")]
    assert log[0]["hf"][0]["repo"] == "nyu-mll/glue" and log[0]["hf"][0]["revision"] == get_dataset("glue/mnli").revision
    assert log[1]["hf"][0]["revision"] == "feedbeef"


# --------------------------------------------------------------------------------------------------------------
# download -> --data-dir gives the HF path's examples


def _downloadable() -> list[str]:
    return [n for n in _hf_tasks() if n in dl.downloadable()]


LANGS = {"xnli": ("sw",), "pawsx": ("de",), "xcopa": ("sw",), "udpos": ("de",), "panx": ("sw",), "xquad": ("de",),
         "mlqa": ("de",), "tydiqa": ("sw",), "stsb-multi": ("de",)}


@pytest.mark.parametrize("name", _downloadable())
def test_download_reads_back_as_the_hf_path(hf_root: Path, tmp_path: Path, name: str):
    task = get_task(name)
    langs = LANGS.get(name)
    report = dl.download([name], tmp_path, langs)
    written = [f for f in report.files if f.status == "written"]
    assert written and all((tmp_path / f.path).is_file() for f in written)
    hf_opts, dir_opts = DataOptions(data="hf"), DataOptions(data=str(tmp_path), data_dir=tmp_path)
    for f in written:
        for_eval = f.split == task.eval_split and f.lang != "en"
        want, _ = load_split(task, f.split, f.lang, hf_opts)
        got, prov = load_split(task, f.split, f.lang, dir_opts, for_eval=for_eval)
        assert prov.source.startswith("dir:")
        assert got == want, (f.path, got[:1], want[:1])
    manifest = json.loads((tmp_path / dl.MANIFEST).read_text())
    assert {f.path for f in written} <= set(manifest["files"])
    assert all(entry["hf"][0]["revision"] for entry in manifest["files"].values())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".adapterx-")]


def test_default_languages_skip_what_the_source_lacks(hf_root: Path, tmp_path: Path):
    report = dl.download(["xcopa"], tmp_path)
    status = {(f.split, f.lang): f.status for f in report.files}
    assert status[("test", "en")] == "skipped"  # XCOPA has no English config
    assert status[("train", "en")] == status[("dev", "en")] == "written"
    assert all(status[("test", lang)] == "written" for lang in get_dataset("xcopa").languages)
    assert (tmp_path / "xcopa/en-copa/train-en.jsonl").is_file() and (tmp_path / "xcopa/qu/test.qu.jsonl").is_file()


def test_existing_files_are_kept_unless_force(hf_root: Path, tmp_path: Path):
    dl.download(["panx"], tmp_path, ("sw",))
    target = tmp_path / "panx/dev-sw.tsv"
    target.write_text("mine\tO\n", encoding="utf-8")
    again = dl.download(["panx"], tmp_path, ("sw",))
    assert {f.status for f in again.files} == {"kept"} and target.read_text() == "mine\tO\n"
    forced = dl.download(["panx"], tmp_path, ("sw",), force=True)
    assert {f.status for f in forced.files} == {"written"} and target.read_text() != "mine\tO\n"


def test_a_failed_download_leaves_no_half_written_files(hf_root: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    calls = []
    panx = layout.LAYOUTS["panx"]
    real = panx.targets["dev"].writer

    def flaky(examples, path):
        calls.append(path)
        if len(calls) == 3:  # the task's third file: the first two are complete in the scratch folder
            path.write_text("half", encoding="utf-8")
            raise OSError("disk full")
        real(examples, path)

    flaky_targets = {s: dataclasses.replace(t, writer=flaky) for s, t in panx.targets.items()}
    monkeypatch.setitem(layout.LAYOUTS, "panx", dataclasses.replace(panx, targets=flaky_targets))
    with pytest.raises(OSError, match="disk full"):
        dl.download(["panx"], tmp_path, ("sw",))
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".tsv"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".adapterx-")]


# --------------------------------------------------------------------------------------------------------------
# data check


def test_check_streams_every_config_and_split(hf_root: Path):
    rows = dl.check(["xcopa", "sickr", "hellaswag", "tydiqa"])
    assert rows and all(r.ok for r in rows), [r for r in rows if not r.ok]
    assert {(r.task, r.lang, r.status) for r in rows if r.status == "absent"} == {("xcopa", "en", "absent")}
    assert {r.repo for r in rows if r.task == "xcopa"} == {"aps/super_glue", "cambridgeltl/xcopa"}


def test_check_reports_a_missing_column(standins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hf_standins.card_repo(tmp_path, "nyu-mll/glue", {"qqp": {s: [{"q1": "a", "q2": "b", "label": 1}]
                                                             for s in ("train", "validation", "test")}})
    monkeypatch.setenv(LOCAL_ROOT_ENV, str(tmp_path))
    result = run_cli("data", "check", "qqp", "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["broken"] == 2 and "missing column(s) question1, question2" in out["rows"][0]["reason"]


# --------------------------------------------------------------------------------------------------------------
# the CLI: end to end on the tiny model, and bad input


def test_download_then_train_and_evaluate_from_the_folder(hf_root: Path, tmp_path: Path):
    data = tmp_path / "download"
    result = run_cli("data", "download", "xnli", "tydiqa", "panx", "--to", str(data), "--langs", "sw", "--quiet")
    assert result.exit_code == 0, result.output
    for rel in ("xnli/train-en.tsv", "xnli/dev-en.tsv", "xnli/test-sw.tsv", "panx/dev-sw.tsv",
                "tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json",
                "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-swahili.json"):
        assert (data / rel).is_file(), rel
    for task in ("xnli", "panx"):
        out = tmp_path / f"run-{task}"
        result = run_cli("train-target", task, "--model", "tiny", "--data", str(data), "--data-dir", str(data),
                         "--langs", "sw", "--max-steps", "2", "--batch-size", "4", "--output", str(out), "--json", "-q")
        assert result.exit_code == 0, result.output
        run = json.loads((out / "run.json").read_text())
        metrics = json.loads((out / "metrics.json").read_text())
        assert run["data"]["source"].startswith("dir:") and "sw" in metrics["eval"][task]["scores"]
        assert {(r["split"], r["lang"]) for r in run["data_reads"]} >= {("train", "en"), ("dev", "en")}


def test_run_json_records_the_data_revision_of_every_split(hf_root: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = run_cli("train-target", "xnli", "--model", "tiny", "--data", "hf", "--langs", "sw,de", "--max-steps", "2",
                     "--batch-size", "4", "--output", str(out), "--data-revision", "facebook/xnli=0123abcd",
                     "--json", "-q")
    assert result.exit_code == 0, result.output
    reads = json.loads((out / "run.json").read_text())["data_reads"]
    assert {(r["split"], r["lang"]) for r in reads} == {("train", "en"), ("dev", "en"), ("test", "sw"), ("test", "de")}
    for r in reads:
        (hf,) = r["hf"]
        assert hf["fingerprint"] and hf["revision"]
        assert hf["revision"] == (get_dataset("glue/mnli").revision if hf["repo"] == "nyu-mll/glue" else "0123abcd")


@pytest.mark.parametrize("args, message", [
    (("data", "download", "xnlii", "--to", "{tmp}/d"), "unknown task 'xnlii'"),
    (("data", "download", "mnli", "--to", "{tmp}/d"), "no XTREME download layout"),
    (("data", "download", "xcopa", "--to", "{tmp}/d", "--langs", "en"), "cambridgeltl/xcopa has no language 'en'"),
    (("data", "download", "xnli", "--to", "{tmp}/d", "--langs", "xx"), "not a language of xnli"),
    (("data", "download", "xnli", "--to", "{tmp}/file/d", "--langs", "sw"), "cannot write there"),
    (("data", "check", "ccg"), "no Hugging Face data set"),
])
def test_bad_input_is_one_line_and_exit_2(hf_root: Path, tmp_path: Path, args: tuple, message: str):
    (tmp_path / "file").write_text("not a folder")
    result = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize("args", [("data", "download", "xnli", "--to", "{tmp}/d"), ("data", "check", "xnli")])
def test_no_network_is_one_line_and_exit_2(standins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           args: tuple):
    monkeypatch.delenv(LOCAL_ROOT_ENV, raising=False)  # conftest sets HF_HUB_OFFLINE: no Hub
    result = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no network" in lines[0]
    assert not (tmp_path / "d").exists()  # nothing is created before the check


def test_hfread_source_string_is_unchanged():
    read = HFRead("google/xtreme", "PAN-X.sw", "validation", "main", None, "f00")
    assert read.source == "hf:google/xtreme/PAN-X.sw:validation"
