"""Concurrency (issue "two runs writing to one results folder at once lose nothing"), at the CLI level and in real
processes: ``train-intermediate`` runs into one parent folder (different and equal ``--output`` names) and two
``adapterx run`` on one ``--run-dir`` (the store-level test with two writers is tests/test_results.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from conftest import REPO, store_contents

from ._cli import spawn

TIMEOUT = 240


def _finish(procs: list) -> list[tuple[int, str, str]]:
    out = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=TIMEOUT)
            out.append((p.returncode, stdout, stderr))
    finally:
        for p in procs:  # only on a timeout or an error above: do not leave our processes running
            if p.poll() is None:
                p.kill()
                p.communicate()
    return out


def _train(out: Path, cwd: Path, seed: int) -> object:
    return spawn(["train-intermediate", "stsb", "--model", "tiny", "--max-steps", "2", "--batch-size", "8",
                  "--seed", seed, "--output", out, "--json", "-q"], cwd)


def _complete(run: Path) -> dict:
    assert {p.name for p in run.iterdir()} >= {"run.json", "metrics.json", "module"}, list(run.iterdir())
    assert (run / "module" / "adapter.safetensors").is_file()
    json.loads((run / "metrics.json").read_text())
    return json.loads((run / "run.json").read_text())


def test_three_trainings_into_one_parent_folder_at_once(tmp_path, tiny):  # noqa: ANN001
    """Seeds 1 -> runs/a, 2 -> runs/b, 3 -> runs/a, all at once (one batch of processes to keep the test short):
    the two different names both succeed; of the two on one name, one wins and the other exits 2 saying so."""
    parent = tmp_path / "runs"
    a, b = parent / "a", parent / "b"
    results = _finish([_train(o, tmp_path, seed) for o, seed in ((a, 1), (b, 2), (a, 3))])
    rc_b, out_b, err_b = results[1]
    assert rc_b == 0, err_b[-3000:]
    assert _complete(b)["seed"] == 2 and json.loads(out_b)["output"] == str(b)

    on_a = [results[0], results[2]]
    assert sorted(rc for rc, _, _ in on_a) == [0, 2], [(rc, err[-2000:]) for rc, _, err in on_a]
    (_, winner, _), = [r for r in on_a if r[0] == 0]
    (_, _, loser_err), = [r for r in on_a if r[0] == 2]
    err = loser_err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and str(a) in err, err
    # runs/a is the winner's whole run, not a mix of both.
    assert _complete(a)["seed"] == json.loads(winner)["run"]["seed"]
    left = [p.name for p in parent.iterdir() if p.name not in ("a", "b")]
    assert all(".a.partial-" in name and name in err for name in left), (
        f"only the loser's partial folder may stay, and only if its message names it: {left}")


KNOBS = [
    "--set", "methods=[{name: lora, rank: 4, alpha: 8, lr: 0.01}]",
    "--set", "intermediates=[none]",
    "--set", "targets=[xnli]",
    "--set", "seeds=[1, 2, 3, 4]",
    "--set", "training.target.max_steps=2",
    "--set", "eval.languages=[en, sw]",
    "--set", "data.max_eval_examples=32",
]
N_CELLS, N_LANGS = 4, 2


def test_two_grid_runs_on_one_run_dir_record_every_cell_exactly_once(tmp_path, tiny):  # noqa: ANN001
    run_dir = tmp_path / "grid"
    args = ["run", REPO / "recipes" / "smoke-tiny.yaml", "--run-dir", run_dir, *KNOBS, "--json"]
    results = _finish([spawn(args, tmp_path), spawn(args, tmp_path)])
    for rc, _, stderr in results:
        assert rc == 0, stderr[-3000:]
    summaries = [json.loads(stdout) for _, stdout, _ in results]
    assert all(s["n_cells"] == N_CELLS and s["n_failed"] == 0 for s in summaries), summaries
    ran = Counter(o["cell_hash"] for s in summaries for o in s["outcomes"] if o["status"] == "done")
    assert len(ran) == N_CELLS and set(ran.values()) == {1}, f"every cell trained exactly once: {ran}"

    cells, pairs, stats, failures = store_contents(run_dir)
    assert sorted(cells) == sorted(ran) and len(set(cells)) == len(cells) == N_CELLS
    assert len(pairs) == len(set(pairs)) == N_CELLS * N_LANGS and sorted(stats) == sorted(pairs)
    assert failures == 0
    for h in ran:
        assert (run_dir / "cells" / h / "record.json.gz").is_file()
        assert json.loads((run_dir / "cells" / h / "run" / "run.json").read_text())["task"] == "xnli"
    assert not list(run_dir.glob("cells/*/.*partial*")) and not list(run_dir.glob("cells/*/.*.tmp"))
    assert len((run_dir / "runs.jsonl").read_text().splitlines()) == 2
