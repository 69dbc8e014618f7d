"""The results store: one embedded SQLite database per run folder (``RUN/results.sqlite``).

Why SQLite: a grid's cells finish in any order, from several processes at once (local executor, two ``adapterx run``
invocations on the same grid), and an interrupted grid must know exactly which cells are done. SQLite in WAL mode
with a busy timeout gives every writer its own transaction (one per cell, all-or-nothing) without a server.

WAL needs the database on a local disk of the host that writes: over NFS (a slurm cluster's shared home) it is not
safe. So workers on other hosts write ``cells/<hash>/record.json.gz`` instead and the process that owns the run folder
ingests those files (:meth:`ResultsStore.ingest_records`); ``adapterx run`` and ``adapterx report`` both do.

Schema (``meta.schema_version`` = 1)::

    meta(key TEXT PRIMARY KEY, value TEXT)
    cells(cell_hash TEXT PRIMARY KEY, backbone, method, method_name, intermediate, target, seed INTEGER,
          metric, metric_kind, trainable_params INTEGER, train_time_s REAL, eval_json, spec_json,
          provenance_json, run_dir, finished_at)                     -- one row per finished cell: the "done" marker
    results(cell_hash, backbone, method, intermediate, target, seed, lang, metric, score REAL, n_examples INTEGER,
            trainable_params INTEGER, train_time_s REAL, scores_json, spec_json, provenance_json,
            PRIMARY KEY (cell_hash, lang))                           -- one row per cell and language
    example_stats(cell_hash, lang, metric_kind, n INTEGER, stats BLOB,  -- zlib-compressed JSON list of records
                  PRIMARY KEY (cell_hash, lang))
    failures(id INTEGER PRIMARY KEY, cell_hash, spec_json, error, traceback, provenance_json, failed_at)

``method`` is the method's label (the condition's name), ``method_name`` its kind (adapter | lora | full);
``intermediate`` is the chain as text: ``none``, ``stsb`` or ``stsb+mnli``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adapterx.errors import DataError
from adapterx.fsio import atomic_path

SCHEMA_VERSION = 1
DB_NAME = "results.sqlite"
RECORD_NAME = "record.json.gz"
FAILURE_NAME = "failure.json"  # a failed cell's error, written by workers without database access (slurm)
FAILURE_INGESTED = "failure.ingested.json"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    cell_hash TEXT PRIMARY KEY, backbone TEXT NOT NULL, method TEXT NOT NULL, method_name TEXT NOT NULL,
    intermediate TEXT NOT NULL, target TEXT NOT NULL, seed INTEGER NOT NULL, metric TEXT NOT NULL,
    metric_kind TEXT NOT NULL, trainable_params INTEGER, train_time_s REAL, eval_json TEXT NOT NULL,
    spec_json TEXT NOT NULL, provenance_json TEXT NOT NULL, run_dir TEXT, finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    cell_hash TEXT NOT NULL, backbone TEXT NOT NULL, method TEXT NOT NULL, intermediate TEXT NOT NULL,
    target TEXT NOT NULL, seed INTEGER NOT NULL, lang TEXT NOT NULL, metric TEXT NOT NULL, score REAL,
    n_examples INTEGER, trainable_params INTEGER, train_time_s REAL, scores_json TEXT, spec_json TEXT NOT NULL,
    provenance_json TEXT NOT NULL, PRIMARY KEY (cell_hash, lang)
);
CREATE INDEX IF NOT EXISTS results_target ON results (target);
CREATE TABLE IF NOT EXISTS example_stats (
    cell_hash TEXT NOT NULL, lang TEXT NOT NULL, metric_kind TEXT NOT NULL, n INTEGER NOT NULL, stats BLOB NOT NULL,
    PRIMARY KEY (cell_hash, lang)
);
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT, cell_hash TEXT NOT NULL, spec_json TEXT NOT NULL, error TEXT NOT NULL,
    traceback TEXT, provenance_json TEXT, failed_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ResultRow:
    """One cell's score in one language (the unit every report aggregates)."""

    cell_hash: str
    backbone: str
    method: str
    method_name: str
    intermediate: str
    target: str
    seed: int
    lang: str
    metric: str
    metric_kind: str
    score: float | None
    n_examples: int | None
    trainable_params: int | None
    train_time_s: float | None

    @property
    def condition(self) -> str:
        return f"{self.backbone}/{self.method}/{self.intermediate}"


@dataclass(frozen=True)
class CellRecord:
    """Everything recorded for one finished cell: what :meth:`ResultsStore.record_cell` takes."""

    cell_hash: str
    spec: dict[str, Any]
    metric: str
    metric_kind: str
    eval: dict[str, Any]
    scores: dict[str, tuple[float | None, dict[str, Any]]]  # lang -> (report score, all metrics of that language)
    per_example: dict[str, list[dict[str, Any]]]
    trainable_params: int | None
    train_time_s: float | None
    provenance: dict[str, Any]
    run_dir: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "cell_hash": self.cell_hash, "spec": self.spec, "metric": self.metric, "metric_kind": self.metric_kind,
            "eval": self.eval, "scores": {k: list(v) for k, v in self.scores.items()}, "per_example": self.per_example,
            "trainable_params": self.trainable_params, "train_time_s": self.train_time_s,
            "provenance": self.provenance, "run_dir": self.run_dir,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CellRecord:
        return cls(
            cell_hash=d["cell_hash"], spec=d["spec"], metric=d["metric"], metric_kind=d["metric_kind"], eval=d["eval"],
            scores={k: (v[0], v[1]) for k, v in d["scores"].items()}, per_example=d["per_example"],
            trainable_params=d["trainable_params"], train_time_s=d["train_time_s"], provenance=d["provenance"],
            run_dir=d["run_dir"],
        )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def pack_stats(records: list[dict[str, Any]]) -> bytes:
    """Per-example records -> compressed JSON (thousands of small dicts per language compress ~10x)."""
    return zlib.compress(json.dumps(records, separators=(",", ":")).encode("utf-8"), 6)


def unpack_stats(blob: bytes) -> list[dict[str, Any]]:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


def write_record_file(record: CellRecord, cell_dir: Path) -> Path:
    """Write ``cells/<hash>/record.json.gz`` atomically (temp file + rename): a reader never sees half a record."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    final = cell_dir / RECORD_NAME
    with atomic_path(final) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as fh:
        json.dump(record.to_json(), fh, ensure_ascii=False)
    return final


class ResultsStore:
    """Access to ``results.sqlite``; open one per process (connections are not shared across processes)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 120.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        if self.path.exists() and not self.path.is_file():
            raise DataError(f"{self.path} is a folder, not the results database: move it aside (mv {self.path} "
                            f"{self.path}.damaged); `adapterx run` and `adapterx report` rebuild it from "
                            f"{self.path.parent / 'cells'}/*/{RECORD_NAME}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as con:
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                con.execute(stmt)
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        version = self._query("SELECT value FROM meta WHERE key = 'schema_version'")[0][0]
        if int(version) != SCHEMA_VERSION:
            raise DataError(f"{self.path}: results schema version {version}, this adapterx reads {SCHEMA_VERSION}")

    @classmethod
    def for_run(cls, run_dir: str | Path) -> ResultsStore:
        return cls(Path(run_dir) / DB_NAME)

    # -- connections -------------------------------------------------------------------------------------------
    @contextmanager
    def _intact(self) -> Iterator[None]:
        """A damaged database file (cut, overwritten, not SQLite) is one DataError naming it and the way back: every
        finished cell also wrote ``cells/<hash>/record.json.gz``, from which a new database is built."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "malformed" not in str(exc):
                raise  # locks, full disks: not damage to the file
            cells = self.path.parent / "cells"
            raise DataError(f"{self.path} is damaged ({exc}): move it aside (mv {self.path} {self.path}.damaged);"
                            f" `adapterx run` and `adapterx report` rebuild it from {cells}/*/{RECORD_NAME}") from None

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer takes the lock up front instead of
        # upgrading a read lock later (the upgrade is what deadlocks two writers and returns "database is locked").
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        with self._intact():
            try:
                con.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
                try:
                    con.execute("PRAGMA journal_mode = WAL")
                except sqlite3.OperationalError as exc:  # another process is switching the mode right now: WAL soon
                    if "locked" not in str(exc):
                        raise
                con.execute("PRAGMA synchronous = NORMAL")
            except BaseException:
                con.close()
                raise
        return con

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; retried as a whole when SQLite reports a lock it could not wait out."""
        deadline = time.monotonic() + self.timeout_s
        attempt = 0
        while True:
            con = self._connect()
            try:
                with self._intact():
                    con.execute("BEGIN IMMEDIATE")
                break
            except DataError:
                con.close()
                raise
            except sqlite3.OperationalError as exc:
                con.close()
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                attempt += 1
                time.sleep(min(1.0, 0.02 * 2**attempt) * random.random())
        try:
            with self._intact():
                yield con
                con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # a damaged file may refuse the rollback too
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        con = self._connect()
        try:
            with self._intact():
                return con.execute(sql, params).fetchall()
        finally:
            con.close()

    # -- writing -----------------------------------------------------------------------------------------------
    def record_cell(self, record: CellRecord) -> bool:
        """Store a finished cell, its per-language rows and statistics in one transaction.

        Returns False (and changes nothing) when the cell is already recorded: two runners that raced on the same
        cell produced equivalent results, and the first one stays.
        """
        spec = record.spec
        chain = "+".join(spec["intermediate"]) or "none"
        spec_json, prov_json = _dumps(spec), _dumps(record.provenance)
        key = (spec["backbone"], spec["method"]["label"], chain, spec["target"], int(spec["seed"]))
        with self._transaction() as con:
            if con.execute("SELECT 1 FROM cells WHERE cell_hash = ?", (record.cell_hash,)).fetchone():
                return False
            con.execute(
                "INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.cell_hash, key[0], key[1], spec["method"]["name"], key[2], key[3], key[4], record.metric,
                 record.metric_kind, record.trainable_params, record.train_time_s, _dumps(record.eval), spec_json,
                 prov_json, record.run_dir, _now()),
            )
            for lang, (score, all_scores) in record.scores.items():
                recs = record.per_example.get(lang)
                con.execute(
                    "INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (record.cell_hash, *key, lang, record.metric, score, len(recs) if recs is not None else None,
                     record.trainable_params, record.train_time_s, _dumps(all_scores), spec_json, prov_json),
                )
                if recs is not None:
                    con.execute(
                        "INSERT INTO example_stats VALUES (?,?,?,?,?)",
                        (record.cell_hash, lang, record.metric_kind, len(recs), pack_stats(recs)),
                    )
        return True

    def forget_cell(self, cell_hash: str) -> None:
        """Remove a finished cell's rows (its data changed: it runs again) in one transaction."""
        with self._transaction() as con:
            for table in ("cells", "results", "example_stats"):
                con.execute(f"DELETE FROM {table} WHERE cell_hash = ?", (cell_hash,))  # noqa: S608 - fixed names

    def record_failure(self, cell_hash: str, spec: dict[str, Any], error: str, traceback: str | None,
                       provenance: dict[str, Any] | None = None) -> None:
        with self._transaction() as con:
            con.execute(
                "INSERT INTO failures (cell_hash, spec_json, error, traceback, provenance_json, failed_at) "
                "VALUES (?,?,?,?,?,?)",
                (cell_hash, _dumps(spec), error, traceback, _dumps(provenance or {}), _now()),
            )

    def ingest_records(self, run_dir: str | Path) -> int:
        """Record every ``cells/*/record.json.gz`` not yet in the database (written by workers on other hosts)."""
        done = self.done_hashes()
        count = 0
        for path in sorted(Path(run_dir).glob(f"cells/*/{RECORD_NAME}")):
            if path.parent.name in done:
                continue
            try:
                with gzip.open(path, "rt", encoding="utf-8") as fh:
                    record = CellRecord.from_json(json.load(fh))
            except (OSError, ValueError, KeyError) as exc:
                raise DataError(f"{path}: unreadable cell record ({exc}); delete it to rerun that cell") from None
            count += self.record_cell(record)
        self._ingest_failures(Path(run_dir), done)
        return count

    def _ingest_failures(self, run_dir: Path, done: set[str]) -> None:
        """Record the failures that workers wrote as ``cells/*/failure.json`` (then renamed, so once only): a
        ``--no-wait`` grid's report lists its failed cells without a waiting ``adapterx run``."""
        for path in sorted(run_dir.glob(f"cells/*/{FAILURE_NAME}")):
            # Claim the file first (an atomic rename: of two concurrent readers one wins), then record it.
            claimed = path.with_name(f".{FAILURE_NAME}.{os.getpid()}")
            try:
                path.replace(claimed)
            except OSError:
                continue  # taken by a concurrent reader
            try:
                failure = json.loads(claimed.read_text(encoding="utf-8"))
                if path.parent.name not in done:
                    self.record_failure(path.parent.name, failure["spec"], failure["error"], failure.get("traceback"),
                                        failure.get("provenance") or {})
            except (OSError, ValueError, KeyError):  # unreadable: keep it for a look, recorded or not
                pass
            claimed.replace(path.with_name(FAILURE_INGESTED))

    # -- reading -----------------------------------------------------------------------------------------------
    def done_hashes(self) -> set[str]:
        return {r[0] for r in self._query("SELECT cell_hash FROM cells")}

    def has_cell(self, cell_hash: str) -> bool:
        return bool(self._query("SELECT 1 FROM cells WHERE cell_hash = ?", (cell_hash,)))

    def rows(self, target: str | None = None) -> list[ResultRow]:
        sql = (
            "SELECT r.cell_hash, r.backbone, r.method, c.method_name, r.intermediate, r.target, r.seed, r.lang,"
            " r.metric, c.metric_kind, r.score, r.n_examples, r.trainable_params, r.train_time_s"
            " FROM results r JOIN cells c USING (cell_hash)"
        )
        params: tuple[Any, ...] = ()
        if target is not None:
            sql += " WHERE r.target = ?"
            params = (target,)
        sql += " ORDER BY r.target, r.backbone, r.method, r.intermediate, r.seed, r.lang"
        return [ResultRow(*r) for r in self._query(sql, params)]

    def targets(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT target FROM cells ORDER BY target")]

    def example_stats(self, cell_hash: str, lang: str) -> tuple[str, list[dict[str, Any]]] | None:
        got = self._query("SELECT metric_kind, stats FROM example_stats WHERE cell_hash = ? AND lang = ?",
                          (cell_hash, lang))
        return (got[0][0], unpack_stats(got[0][1])) if got else None

    def stats_for_target(self, target: str) -> dict[tuple[str, str], tuple[str, list[dict[str, Any]]]]:
        """All per-example statistics of one target: (cell_hash, lang) -> (metric_kind, records)."""
        got = self._query(
            "SELECT s.cell_hash, s.lang, s.metric_kind, s.stats FROM example_stats s JOIN cells c USING (cell_hash)"
            " WHERE c.target = ?", (target,))
        return {(h, lang): (kind, unpack_stats(blob)) for h, lang, kind, blob in got}

    def cell_specs(self) -> dict[str, dict[str, Any]]:
        return {h: json.loads(s) for h, s in self._query("SELECT cell_hash, spec_json FROM cells")}

    def cell_provenance(self) -> list[tuple[str, dict[str, Any], dict[str, Any], str | None]]:
        """(cell hash, spec, provenance, run dir) of every finished cell, in report order."""
        got = self._query("SELECT cell_hash, spec_json, provenance_json, run_dir FROM cells"
                          " ORDER BY target, backbone, method, intermediate, seed")
        return [(h, json.loads(s), json.loads(p), r) for h, s, p, r in got]

    def slurm_provenance(self, settled: Callable[[str | None], bool]) -> tuple[
            list[tuple[str, dict[str, Any]]], list[tuple[int, str, dict[str, Any]]]]:
        """(cell hash, provenance) of finished cells and (failure id, cell hash, provenance) of failures that ran on Slurm
        and whose recorded Slurm state (None: none yet) is not ``settled``: what
        :func:`adapterx.grid.slurm.annotate_store` completes. Only those rows' provenance is parsed."""
        state = "json_extract(provenance_json, '$.slurm.state')"
        slurm = "json_extract(provenance_json, '$.executor') = 'slurm'"
        cells = [h for h, st in self._query(f"SELECT cell_hash, {state} FROM cells WHERE {slurm}") if not settled(st)]
        fails = [(i, h) for i, h, st in self._query(f"SELECT id, cell_hash, {state} FROM failures WHERE {slurm}")
                 if not settled(st)]
        out_cells = [(h, json.loads(self._query("SELECT provenance_json FROM cells WHERE cell_hash = ?", (h,))[0][0]))
                     for h in cells]
        out_fails = [(i, h, json.loads(self._query("SELECT provenance_json FROM failures WHERE id = ?", (i,))[0][0]))
                     for i, h in fails]
        return out_cells, out_fails

    def set_provenance(self, provenance: dict[str, Any], *, cell_hash: str | None = None,
                       failure_id: int | None = None) -> None:
        """Replace the provenance of a finished cell (its cell and result rows) or of one failure."""
        prov = _dumps(provenance)
        with self._transaction() as con:
            if cell_hash is not None:
                con.execute("UPDATE cells SET provenance_json = ? WHERE cell_hash = ?", (prov, cell_hash))
                con.execute("UPDATE results SET provenance_json = ? WHERE cell_hash = ?", (prov, cell_hash))
            if failure_id is not None:
                con.execute("UPDATE failures SET provenance_json = ? WHERE id = ?", (prov, failure_id))

    def count_cells(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM cells")[0][0])

    def failures(self, exclude_done: bool = True) -> list[dict[str, Any]]:
        """Latest failure per cell; by default only cells that have not succeeded since."""
        sql = ("SELECT f.cell_hash, f.error, f.failed_at FROM failures f"
               " WHERE f.id = (SELECT MAX(id) FROM failures g WHERE g.cell_hash = f.cell_hash)")
        if exclude_done:
            sql += " AND f.cell_hash NOT IN (SELECT cell_hash FROM cells)"
        return [{"cell_hash": h, "error": e, "failed_at": t} for h, e, t in self._query(sql + " ORDER BY f.id")]
