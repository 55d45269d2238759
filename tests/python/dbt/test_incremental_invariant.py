"""The design's invariant: whatever order the data arrives in and whatever the loader corrects, a
plain `dbt build` gives exactly what a full build gives.

A seeded scenario stages generated data step by step, building after each step: the catalogue in
chunks, the days shuffled, a duplicated file, a corrected day (plays removed, a user's level
flipped, a user changing level twice in one millisecond), a corrected song that a play now
matches, withdrawn files. It ends comparing every mart, every column, with `dbt build
--full-refresh` over the same staging, and (load times aside) with a fresh warehouse staged in one
go. It runs on DuckDB, on PostgreSQL and on the Redshift stand-in (support/redshift_standin:
every statement checked against Redshift's rules, snapshot isolation); on failure it prints the
seed and the first differing row. SPARKIFY_INVARIANT_SEEDS=1,2,3 runs more seeds.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from tests.python.dbt.helpers import dbt, mart_rows
from tests.python.loader.helpers import stage

pytestmark = pytest.mark.slow

MODELS = ("int_events", "songplays", "users", "user_levels", "songs", "artists", "time")
LOAD_COLUMNS = ("staged_at", "source_key", "source_line")  # differ between two stagings only
SEEDS = [int(s) for s in os.environ.get("SPARKIFY_INVARIANT_SEEDS", "").split(",") if s]


def repaired(text: str) -> str:
    """The event files' double-encoded UTF-8, decoded (as int_events does)."""
    try:
        return text.encode("latin-1").decode("utf-8").encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Warehouse:
    """One warehouse of an engine: how to stage into it, build it and read its tables."""

    target: str
    fetch: Callable[[str], list[tuple]]
    work: Path
    env: dict[str, str] = field(default_factory=dict)  # what points the target at it

    def stage(self, source: Path, *args: str) -> None:
        with environment(self.env):
            assert stage("--target", self.target, "--source", str(source), *args) == 0

    def build(self, *args: str) -> None:
        with environment(self.env):
            dbt("build", "--target", self.target, "--exclude-resource-type", "unit_test", *args,
                target_dir=self.work)  # fmt: skip

    def tables(self, exclude: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
        return all_models(self.fetch, exclude)


def all_models(fetch: Callable[[str], list[tuple]], exclude: tuple[str, ...]) -> dict:
    tables = mart_rows(fetch, exclude)
    columns = [
        c[0]
        for c in fetch(
            "select column_name from information_schema.columns where table_schema = 'staging' "
            "and table_name = 'int_events' order by ordinal_position"
        )
        if c[0] not in exclude
    ]
    rows = fetch(f"select {', '.join(columns)} from staging.int_events")
    tables["int_events"] = sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))
    return tables


def first_difference(left: dict, right: dict) -> str | None:
    for model in MODELS:
        a, b = left[model], right[model]
        if a != b:
            only_a = sorted(set(a) - set(b), key=str)
            only_b = sorted(set(b) - set(a), key=str)
            return (
                f"{model}: {len(a)} rows incrementally, {len(b)} in the full build; first row "
                f"only built incrementally: {only_a[:1]}; first only in the full build: "
                f"{only_b[:1]}"
            )
    return None


class Scenario:
    """The source directory a loader would see, changed step by step from one seed."""

    def __init__(self, seed: int, work: Path) -> None:
        from generator.synthetic import Options, generate

        self.seed, self.rng = seed, random.Random(seed)
        self.full = work / "generated"
        generate(Options(output=self.full, songs=150, users=12, days=6, events=900, seed=seed))
        self.source = work / "source"
        self.source.mkdir()
        shutil.copy(self.full / "log_json_path.json", self.source)
        songs = sorted((self.full / "song_data").rglob("*.json"))
        self.rng.shuffle(songs)
        self.song_chunks = [songs[i::3] for i in range(3)]
        self.days = sorted((self.full / "log_data").rglob("*.json"))
        self.rng.shuffle(self.days)

    def put(self, path: Path) -> Path:
        target = self.source / path.relative_to(self.full)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        return target

    def here(self, path: Path) -> Path:
        return self.source / path.relative_to(self.full)

    def correct_day(self, path: Path) -> None:
        """Re-export a day: some plays removed, one user's level flipped, and that user changing
        level twice in one millisecond."""
        records = [json.loads(line) for line in path.read_text().splitlines()]
        plays = [i for i, r in enumerate(records) if r["page"] == "NextSong"]
        dropped = set(self.rng.sample(plays, min(6, len(plays))))
        user = next(r["userId"] for r in reversed(records) if r["userId"])
        kept = []
        for index, record in enumerate(records):
            if index in dropped:
                continue
            if record["userId"] == user:
                record["level"] = "paid" if record["level"] == "free" else "free"
            kept.append(record)
        last = next(r for r in reversed(kept) if r["userId"] == user)
        for item, level in ((900, "free"), (901, "paid"), (902, "free")):
            kept.append({**last, "itemInSession": item, "level": level, "page": "Home"})
        path.write_text("\n".join(json.dumps(r) for r in kept))

    def copy_with_a_play_the_first_copy_lacks(self, path: Path, copy: Path) -> None:
        """Duplicate a day file, but with one of its Home events a play in the copy."""
        records = [json.loads(line) for line in path.read_text().splitlines()]
        play = next(r for r in records if r["page"] == "NextSong")
        home = next(r for r in records if r["page"] == "Home" and r["userId"])
        changed = [
            {**r, **{k: play[k] for k in ("page", "song", "artist", "length")}} if r is home else r
            for r in records
        ]
        copy.write_text("\n".join(json.dumps(r) for r in changed))

    def correct_song_to_match_a_play(self) -> None:
        """Rewrite a staged song file so that a play that matched nothing matches it now."""
        staged = {
            (s["title"], s["artist_name"], s["duration"])
            for p in (self.source / "song_data").rglob("*.json")
            for s in [json.loads(p.read_bytes())]
        }
        plays = [
            r
            for p in sorted((self.source / "log_data").rglob("*.json"))
            for r in map(json.loads, p.read_text().splitlines())
            if r["page"] == "NextSong"
        ]
        play = next(
            r
            for r in plays
            if (repaired(r["song"]), repaired(r["artist"]), r["length"]) not in staged
        )
        song_file = sorted((self.source / "song_data").rglob("*.json"))[0]
        song = json.loads(song_file.read_bytes())
        song.update(title=repaired(play["song"]), artist_name=repaired(play["artist"]))
        song["duration"] = play["length"]
        song_file.write_text(json.dumps(song))

    def steps(self) -> list[tuple[str, Callable[[], tuple[str, ...]]]]:
        days, chunks = self.days, self.song_chunks

        def plays_before_songs() -> tuple[str, ...]:
            for day in days[:2]:
                self.put(day)
            return ()

        def a_third_of_the_catalogue() -> tuple[str, ...]:
            for song in chunks[0]:
                self.put(song)
            self.put(days[2])
            return ()

        def a_duplicated_file() -> tuple[str, ...]:
            first = self.here(days[0])
            self.copy_with_a_play_the_first_copy_lacks(first, first.with_name("copy-" + first.name))
            for song in chunks[1]:
                self.put(song)
            self.put(days[3])
            return ()

        def a_corrected_day() -> tuple[str, ...]:
            self.correct_day(self.here(days[1]))
            return ("--replace-changed",)

        def a_withdrawn_day_and_the_rest() -> tuple[str, ...]:
            self.here(days[2]).unlink()
            for song in chunks[2]:
                self.put(song)
            for day in days[4:]:
                self.put(day)
            return ("--withdraw-missing",)

        def a_corrected_song_and_withdrawn_files() -> tuple[str, ...]:
            self.correct_song_to_match_a_play()
            self.here(chunks[0][0]).unlink()
            self.here(days[0]).unlink()  # the copy of this day wins now: one more play
            return ("--replace-changed", "--withdraw-missing")

        return [
            ("plays before their songs", plays_before_songs),
            ("a third of the catalogue and a day", a_third_of_the_catalogue),
            ("a duplicated file", a_duplicated_file),
            ("a corrected day", a_corrected_day),
            ("a withdrawn day and the rest", a_withdrawn_day_and_the_rest),
            ("a corrected song and withdrawn files", a_corrected_song_and_withdrawn_files),
        ]


def run_invariant(seed: int, warehouse: Warehouse, fresh: Warehouse) -> None:
    scenario = Scenario(seed, warehouse.work)
    copies = set()  # the builds that tested and published from a copy (macros/tests)
    for name, step in scenario.steps():
        args = step()
        warehouse.stage(scenario.source, *args)
        warehouse.build()
        assert warehouse.fetch("select count(*) from analytics.songplays"), name
        copies |= {
            (name, table)
            for (table,) in warehouse.fetch(
                "select table_name from information_schema.tables "
                "where table_name like '%unaudited'"
            )
        }
    assert any(table == "songplays__unaudited" for _, table in copies), copies
    incremental = warehouse.tables()
    assert any(r[4] is not None for r in incremental["songplays"])  # plays matched songs
    warehouse.build("--full-refresh")
    difference = first_difference(incremental, warehouse.tables())
    assert difference is None, f"seed {seed}: incremental != full build: {difference}"
    fresh.stage(scenario.source)
    fresh.build()
    difference = first_difference(
        warehouse.tables(exclude=LOAD_COLUMNS), fresh.tables(exclude=LOAD_COLUMNS)
    )
    assert difference is None, f"seed {seed}: step by step != staged at once: {difference}"


def duck_warehouse(path: Path, work: Path) -> Warehouse:
    def fetch(sql: str) -> list[tuple]:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()

    return Warehouse("dev", fetch, work, {"SPARKIFY_DUCKDB_PATH": str(path)})


@pytest.mark.parametrize("seed", SEEDS or [20261202])
def test_duckdb_step_by_step_equals_a_full_build(
    seed: int, tmp_path: Path, profiles_dir: Path
) -> None:
    run_invariant(
        seed,
        duck_warehouse(tmp_path / "steps.duckdb", tmp_path),
        duck_warehouse(tmp_path / "fresh.duckdb", tmp_path),
    )


def pg_warehouse(server, dbname: str, work: Path) -> Warehouse:
    def fetch(sql: str) -> list[tuple]:
        con = server.connect(dbname)
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            con.close()

    return Warehouse("postgres", fetch, work, {"SPARKIFY_PG_DATABASE": dbname})


@pytest.mark.postgres
@pytest.mark.parametrize("seed", SEEDS or [7071])
def test_postgres_step_by_step_equals_a_full_build(
    seed: int, tmp_path: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    run_invariant(
        seed,
        pg_warehouse(postgres_server, postgres_db, tmp_path),
        pg_warehouse(postgres_server, postgres_server.create_database("fresh"), tmp_path),
    )


def standin_warehouse(standin, work: Path) -> Warehouse:
    """A warehouse on the Redshift stand-in, read straight from the database behind it."""
    return Warehouse(
        "redshift", pg_warehouse(standin.postgres, standin.database, work).fetch, work,
        standin.env(),
    )  # fmt: skip


@pytest.mark.postgres
@pytest.mark.s3
@pytest.mark.parametrize("seed", SEEDS or [3434])
def test_redshift_step_by_step_equals_a_full_build(
    seed: int, tmp_path: Path, profiles_dir: Path, postgres_server, s3_server
) -> None:
    """On Redshift's rules, as a Serverless workgroup: nothing the build sends is refused."""
    from support.redshift_standin import SERVERLESS, StandIn

    steps, fresh = (postgres_server.create_database(name) for name in ("rs_steps", "rs_fresh"))
    with (
        StandIn(postgres_server, s3_server, steps, flavour=SERVERLESS) as one,
        StandIn(postgres_server, s3_server, fresh, flavour=SERVERLESS) as other,
    ):
        run_invariant(seed, standin_warehouse(one, tmp_path), standin_warehouse(other, tmp_path))
        refused = [r.message for r in (*one.record.refusals, *other.record.refusals)]
        assert refused == []


# --- the real data, in the orders and with the corrections that once broke it ---------------


def test_real_data_in_any_order_and_corrected_equals_a_full_build(
    real_full: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    warehouse = duck_warehouse(tmp_path / "real.duckdb", tmp_path)
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(real_full / "log_json_path.json", source)
    days = sorted((real_full / "log_data").rglob("*.json"))

    def put(path: Path) -> Path:
        target = source / path.relative_to(real_full)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        return target

    def matched() -> tuple[int, int]:
        return warehouse.fetch("select count(*), count(song_id) from analytics.songplays")[0]

    for day in days[:10]:  # ten days of plays, no songs yet
        put(day)
    warehouse.stage(source)
    warehouse.build()
    assert matched()[1] == 0
    for path in (real_full / "song_data").rglob("*.json"):  # half the catalogue, days 21-30
        parts = path.relative_to(real_full / "song_data").parts
        if parts[0] == "A" and "A" <= parts[1] <= "M":
            put(path)
    for day in days[20:]:
        put(day)
    warehouse.stage(source)
    warehouse.build()
    for path in (real_full / "song_data").rglob("*.json"):  # the rest, days 11-20
        put(path)
    for day in days[10:20]:
        put(day)
    warehouse.stage(source)
    warehouse.build()
    assert matched() == (6820, 327)

    # the last day re-exported: 25 plays gone, one user's last events upgraded to paid
    day = source / days[-1].relative_to(real_full)
    records = [json.loads(line) for line in day.read_text().splitlines()]
    plays = [i for i, r in enumerate(records) if r["page"] == "NextSong"]
    gone = set(plays[::3][:25])
    user = next(r["userId"] for r in reversed(records) if r["userId"] and r["level"] == "free")
    last = max(r["ts"] for r in records if r["userId"] == user)
    for record in records:
        if record["userId"] == user and record["ts"] >= last - 3_600_000:
            record["level"] = "paid"
    day.write_text("\n".join(json.dumps(r) for i, r in enumerate(records) if i not in gone))
    warehouse.stage(source, "--replace-changed")
    warehouse.build()
    assert matched()[0] == 6820 - 25
    assert warehouse.fetch(f"select level from analytics.users where user_id = {int(user)}") == [
        ("paid",)
    ]
    # and one play's level corrected on its own
    day = source / days[3].relative_to(real_full)
    records = [json.loads(line) for line in day.read_text().splitlines()]
    play = next(r for r in records if r["page"] == "NextSong" and r["level"] == "free")
    play["level"] = "paid"
    day.write_text("\n".join(json.dumps(r) for r in records))
    warehouse.stage(source, "--replace-changed")
    warehouse.build()
    key = f"{play['ts']}|{int(play['userId'])}|{play['sessionId']}|{play['itemInSession']}"
    assert warehouse.fetch(
        f"select level from analytics.songplays where songplay_id = md5('{key}')"  # the event's id
    ) == [("paid",)]

    incremental = warehouse.tables()
    warehouse.build("--full-refresh")
    difference = first_difference(incremental, warehouse.tables())
    assert difference is None, f"real data: incremental != full build: {difference}"


# --- builds and loads at the same time ----------------------------------------------------


def dbt_process(target: str, work: Path, *args: str):
    import subprocess
    import sys

    from tests.python.conftest import PROJECT_DIR

    env = {**os.environ, "DBT_TARGET_PATH": str(work / "target"), "DBT_LOG_PATH": str(work)}
    command = [str(Path(sys.executable).with_name("dbt")), "build", "--target", target, *args]
    return subprocess.Popen(
        [*command, "--exclude-resource-type", "unit_test"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def loader_process(target: str, source: Path, *args: str):
    import subprocess
    import sys

    from tests.python.conftest import PROJECT_DIR

    command = [sys.executable, "loader/copy_staging.py", "--no-progress", "--target", target]
    return subprocess.Popen(
        [*command, "--source", str(source), *args],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def two_builds_and_a_loader_at_once(warehouse: Warehouse, work: Path) -> None:
    """Stage and build two steps, then run a loader and two builds at once; every one must
    pass, a later build takes in what the loader committed after the builds looked, nothing
    is taken in twice, and the result equals a full build."""
    scenario = Scenario(11, work)
    steps = scenario.steps()
    for _, step in steps[:2]:
        warehouse.stage(scenario.source, *step())
    warehouse.build()
    for _, step in steps[2:4]:
        step()
    target = warehouse.target
    with environment(warehouse.env):
        loader = loader_process(target, scenario.source, "--replace-changed", "--batch-mb", "1")
        builds = [dbt_process(target, work / f"build-{n}") for n in range(2)]
    processes = [loader, *builds]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    failed = [out for process, out in zip(processes, outputs, strict=True) if process.returncode]
    assert failed == [], failed[0][-6000:]
    warehouse.build()  # takes in what the loader committed after the builds looked
    twice = warehouse.fetch(
        "select model_name, batch_id from staging.build_ledger group by 1, 2 having count(*) > 1"
    )
    assert twice == []
    incremental = warehouse.tables()
    warehouse.build("--full-refresh")
    assert first_difference(incremental, warehouse.tables()) is None


@pytest.mark.postgres
def test_two_builds_and_a_loader_at_once_end_equal_to_a_full_build(
    tmp_path: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    """Whatever the interleaving: two builds of the same models take turns, a loader committing
    batches while they run is taken in by a later build, and nothing is taken in twice."""
    two_builds_and_a_loader_at_once(pg_warehouse(postgres_server, postgres_db, tmp_path), tmp_path)


@pytest.mark.postgres
@pytest.mark.s3
@pytest.mark.parametrize("isolation", ["snapshot", "serializable"])
def test_on_redshift_two_builds_and_a_loader_at_once_end_equal_to_a_full_build(
    tmp_path: Path, profiles_dir: Path, postgres_server, s3_server, isolation: str
) -> None:
    """Redshift has no advisory locks: the builds take the bookkeeping lock first in each
    transaction (one lock order with the publish), the loader its own; under snapshot
    isolation (new clusters, Serverless) and serializable isolation (older clusters) neither a
    deadlock nor a serialization conflict may fail any of them."""
    from support.redshift_standin import StandIn

    database = postgres_server.create_database(f"rs_at_once_{isolation}")
    with StandIn(postgres_server, s3_server, database, isolation=isolation) as standin:
        two_builds_and_a_loader_at_once(standin_warehouse(standin, tmp_path), tmp_path)
        assert [r.message for r in standin.record.refusals] == []


def test_the_loaders_full_refresh_makes_the_next_build_a_full_one(
    tmp_path: Path, profiles_dir: Path
) -> None:
    warehouse = duck_warehouse(tmp_path / "refresh.duckdb", tmp_path)
    scenario = Scenario(5, tmp_path)
    steps = scenario.steps()
    for _, step in steps[:3]:
        warehouse.stage(scenario.source, *step())
        warehouse.build()
    steps[3][1]()  # a corrected day, reloaded by the full refresh
    warehouse.stage(scenario.source, "--full-refresh")
    warehouse.build()
    kinds = warehouse.fetch("select distinct build_kind from staging.build_ledger")
    assert kinds == [("full",)]  # every model noticed the new history by itself
    incremental = warehouse.tables()
    warehouse.build("--full-refresh")
    assert first_difference(incremental, warehouse.tables()) is None
