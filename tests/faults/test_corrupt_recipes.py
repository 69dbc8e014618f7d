"""Corrupted recipes: a wrong type or an unknown key is refused by ``adapterx run R --dry-run`` with one line that
names the file and the path inside it, exit 2, and nothing written."""

from __future__ import annotations

import pytest

from ._cli import ax, one_line_error

BASE = """name: faulty
backbones: [tiny]
intermediates: [none]
targets: [xnli]
data: {source: synthetic}
"""


@pytest.mark.parametrize(
    ("body", "path", "hint"),
    [
        ("methods: [lora]\nseeds: one\n", "seeds:", "valid"),
        ('methods: [{name: lora, rank: "x"}]\nseeds: [1]\n', "methods[0].rank:", "integer"),
        ("methods: [adapter, {name: lora, rank: 4, alpha: many}]\nseeds: [1]\n", "methods[1].alpha:", "valid integer"),
        ("methods: [lora]\nseeds: [1]\nbogus_key: 3\n", "bogus_key:", "unknown key"),
        ("methods: [lora]\nseeds: [1]\ntraining: {target: {max_stepz: 3}}\n", "training.target.max_stepz:", "max_steps"),
        ("methods: [lora]\nseeds: [1]\ntraining: {target: {max_steps: lots}}\n", "training.target.max_steps:", "integer"),
        ("methods: [{name: lora, rnak: 4}]\nseeds: [1]\n", "methods[0].rnak", "rank"),
    ],
)
def test_bad_recipe_names_the_file_and_the_path(body, path, hint, tmp_path):
    recipe = tmp_path / "bad-recipe.yaml"
    recipe.write_text(BASE + body, encoding="utf-8")
    run_dir = tmp_path / "rd"
    res = ax("run", recipe, "--dry-run", "--run-dir", run_dir)
    one_line_error(res, "bad-recipe.yaml", path, hint)
    assert not run_dir.exists()


def test_bad_set_override_names_the_path(tmp_path):
    recipe = tmp_path / "ok.yaml"
    recipe.write_text(BASE + "methods: [lora]\nseeds: [1]\n", encoding="utf-8")
    res = ax("run", recipe, "--dry-run", "--run-dir", tmp_path / "rd", "--set", "seeds=one")
    one_line_error(res, "seeds")
    assert not (tmp_path / "rd").exists()


@pytest.mark.parametrize(("text", "needle"), [("name: [unclosed\n", "broken.yaml:2:1"), ("", "empty"),
                                              ("- just\n- a list\n", "mapping")])
def test_unparseable_or_empty_recipe_is_one_line(text, needle, tmp_path):
    recipe = tmp_path / "broken.yaml"
    recipe.write_text(text, encoding="utf-8")
    res = ax("run", recipe, "--dry-run", "--run-dir", tmp_path / "rd")
    one_line_error(res, "broken.yaml", needle)
    assert not (tmp_path / "rd").exists()


def test_latin1_recipe_is_one_line_naming_the_file(tmp_path):
    recipe = tmp_path / "latin1.yaml"
    recipe.write_bytes((BASE + "description: Caf\xe9 cr\xe8me\nmethods: [lora]\nseeds: [1]\n").encode("latin-1"))
    res = ax("run", recipe, "--dry-run", "--run-dir", tmp_path / "rd")
    one_line_error(res, "latin1.yaml", "UTF-8")
    assert not (tmp_path / "rd").exists()
