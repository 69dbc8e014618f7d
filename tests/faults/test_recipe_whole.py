"""A recipe is checked whole before any cell runs (issue 28, class 2).

One mechanism: :func:`adapterx.grid.recipe_check.check_recipe` (with the schema's own resolvers: language names,
seeds, grid size), called by ``run`` and ``run --dry-run`` when the grid is planned, before the run folder exists.
Each case is refused by both commands with one line naming the recipe key, exit 2, and nothing written; the cell
function is the fake of tests/test_results.py, so a case the check missed would show up as a finished run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import import_fake_cell_module
from xtreme_files import write_task

from ._cli import ax, one_line_error

FAKE = "adapterx_test_fake:fake_run_cell"
BASE: dict[str, Any] = {"name": "w", "backbones": ["tiny"], "methods": ["full"], "intermediates": ["none"],
                        "targets": ["xnli"], "seeds": [1]}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``eval``: xnli test files for en and de, English train and dev; ``file``: a regular file."""
    tmp = tmp_path_factory.mktemp("roots")
    write_task(tmp / "eval", "xnli", "en", "train")
    write_task(tmp / "eval", "xnli", "en", "dev")
    write_task(tmp / "eval", "xnli", "en", "test")
    write_task(tmp / "eval", "xnli", "de", "test")
    (tmp / "file").write_text("not a folder\n")
    return {"eval": tmp / "eval", "file": tmp / "file"}


def _recipe(tmp_path: Path, **change: Any) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**BASE, **change}))
    return path


def _refused(recipe: Path, tmp_path: Path, *needles: str) -> None:
    """``run --dry-run`` and ``run`` both refuse with one line naming ``needles``; no run folder appears."""
    import_fake_cell_module()
    for extra in (["--dry-run", "--no-calibrate"], ["--cell-fn", FAKE]):
        run_dir = tmp_path / "run"
        one_line_error(ax("run", recipe, "--run-dir", run_dir, *extra), *needles)
        assert not run_dir.exists(), extra


CASES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    # the examples
    "data root absent": ({"data": {"root": "/nonexistent/xtreme"}}, ("data.root", "/nonexistent/xtreme", "does not exist")),
    # found here
    "unknown language": ({"eval": {"languages": ["en", "klingon"]}}, ("eval.languages[1]", "klingon")),
    "language of no target": ({"eval": {"languages": ["en", "yo"]}}, ("eval.languages[1]", "yo is not a language of any target")),
    "seed beyond numpy's range": ({"seeds": [1, 2**40]}, ("seeds[1]", "less than or equal to 4294967295")),
    "negative seed": ({"seeds": [-3]}, ("seeds[0]", "greater than or equal to 0")),
    "grid over the limit": ({"seeds": list(range(5001)), "targets": ["xnli", "panx"]}, ("10,002 cells", "limit of 10,000")),
    "length beyond the backbone": ({"training": {"target": {"max_length": 100000}}}, ("training.target.max_length", "tiny")),
    "per-task length beyond the backbone": ({"training": {"per_task": {"xnli": {"max_length": 100000}}}},
                                            ("training.per_task.xnli.max_length",)),
    "LoRA rank above the hidden size": ({"methods": [{"name": "lora", "rank": 100000}]}, ("methods[0]", "hidden size")),
    "xtreme source without a root": ({"data": {"source": "xtreme"}}, ("data.root", "needed with data.source: xtreme")),
    "backbone folder missing": ({"backbones": ["./no-such-model"]}, ("backbones[0]", "no-such-model")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_any_cell(case, tmp_path):
    change, needles = CASES[case]
    _refused(_recipe(tmp_path, **change), tmp_path, *needles)


def test_root_that_is_a_file(roots, tmp_path):
    _refused(_recipe(tmp_path, data={"root": str(roots["file"])}), tmp_path, "data.root", "is a file")


def test_root_without_the_targets_evaluation_files(roots, tmp_path):
    _refused(_recipe(tmp_path, targets=["panx"], data={"root": str(roots["eval"])}), tmp_path, "data.root", "panx")


def test_root_without_a_language_the_recipe_evaluates(roots, tmp_path):
    _refused(_recipe(tmp_path, data={"root": str(roots["eval"])}, eval={"languages": ["en", "sw"]}), tmp_path,
             "eval.languages", "'sw' is not available")


def test_xtreme_source_whose_root_lacks_training_files(roots, tmp_path):
    _refused(_recipe(tmp_path, targets=["panx"], data={"source": "xtreme", "root": str(roots["eval"])}), tmp_path,
             "data.root", "no English train file of panx")


def test_built_in_model_with_evaluation_files_only(roots, tmp_path):
    """A built-in model would train on synthetic data and be scored on real files: the cell refuses that mix at
    its start (an intermediate stsb has no files in the folder), so planning the grid does."""
    _refused(_recipe(tmp_path, intermediates=["stsb"], data={"root": str(roots["eval"])}), tmp_path,
             "data.root", "stsb")


def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    """The issue's example: 8 KB of aliases standing for 10^8 values took 15 s and 540 MB, and `run` hung."""
    lines = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 8)]
    body = yaml.safe_dump({k: v for k, v in BASE.items() if k != "seeds"})
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text("\n".join(lines) + "\n" + body + "seeds: *l7\n")
    assert recipe.stat().st_size < 8192
    _refused(recipe, tmp_path, str(recipe), "more than 100,000 values")


def test_language_names_resolve_as_on_the_command_line(tmp_path):
    """The issue's example: `eval.languages: [en, swahili]` evaluated en and silently dropped swahili."""
    from adapterx.grid.recipe import expand, load_recipe

    recipe = _recipe(tmp_path, eval={"languages": ["en", "swahili", "SWH"]}, targets=["xnli", "panx"])
    cells = expand(load_recipe(recipe))
    # every spelling is its code, a language named twice (Swahili, swh) is evaluated once
    assert {tuple(c["eval"]["languages"]) for c in cells} == {("en", "sw")}
    res = ax("run", recipe, "--run-dir", tmp_path / "run", "--dry-run", "--no-calibrate", "--json")
    assert res.exit_code == 0, res.stderr
