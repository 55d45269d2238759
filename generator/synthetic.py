"""Generate a realistic synthetic Sparkify data set, laid out like ``s3://udacity-dend``.

The output reproduces the shapes and quirks of the real public files (see ``../shared/README.md``):
camelCase event keys, epoch-millisecond ``ts``, ``userId`` as a string that is ``""`` on
logged-out events, double-encoded UTF-8 in event text, ``\\/``-escaped slashes, song titles and
artist names that are JSON numbers, mostly-null coordinates, one artist id under several names,
users who change level, sessions with increasing ``itemInSession`` and files without a trailing
newline. It is deterministic for a seed: each day is generated from its own seeded random stream,
so days can be written in parallel and the bytes never depend on the worker count.

    python -m generator --output data/demo --songs 2000 --users 100 --days 30
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import string
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

VOCABULARIES = Path(__file__).with_name("vocabularies.json")


def _vocabulary(name: str) -> list:
    """One list of ``vocabularies.json`` (the word lists and page shapes, kept as data)."""
    return json.loads(VOCABULARIES.read_text(encoding="utf-8"))[name]["values"]


JSONPATHS: list[str] = _vocabulary("jsonpaths")
FIRST_NAMES: list[str] = _vocabulary("first_names")
LAST_NAMES: list[str] = _vocabulary("last_names")
LOCATIONS: list[str] = _vocabulary("locations")
USER_AGENTS: list[str] = _vocabulary("user_agents")
WORDS: list[str] = _vocabulary("words")
ACCENTED_WORDS: list[str] = _vocabulary("accented_words")
SONG_LOCATIONS: list[str] = _vocabulary("song_locations")
# (page, method, status, weight) of the events that are not plays
Page = tuple[str, str, int, int]
OTHER_PAGES: list[Page] = [tuple(page) for page in _vocabulary("other_pages")]
LOGGED_OUT_PAGES: list[Page] = [tuple(page) for page in _vocabulary("logged_out_pages")]
HOURLY_WEIGHTS: list[int] = _vocabulary("hourly_weights")
NEXT_SONG_SHARE = 6820 / 7770  # logged-in events that are plays, as in the real month
LOGGED_OUT_SHARE = 286 / 8056
LEVEL_CHANGE_SHARE = 0.08  # 8 of the 98 real users change level during the month


@dataclass(frozen=True)
class Options:
    output: Path
    songs: int = 1000
    users: int = 100
    days: int = 30
    start: dt.date = dt.date(2018, 11, 1)
    seed: int = 42
    events: int = 8056
    match_rate: float = 0.3
    workers: int = 0


@dataclass
class Song:
    song_id: str
    title: object  # str, or an int/float for the real data's numeric titles
    artist_id: str
    artist_name: object
    artist_location: object
    latitude: float | None
    longitude: float | None
    duration: float
    year: int
    track_id: str = field(default="")


def _ident(rng: random.Random, prefix: str) -> str:
    """An id like the Million Song Dataset's: 2-letter prefix, 5 letters, 11 hex-ish chars."""
    head = "".join(rng.choices(string.ascii_uppercase, k=5))
    tail = "".join(rng.choices(string.digits + "ABCDEF", k=11))
    return prefix + head + tail


def _title(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.0012:
        return rng.choice([66, 36, 5, 1888, 2004, 19, 180])  # numeric titles, as in the real files
    if roll < 0.0015:
        return rng.choice([4.6, 2.5, 7.11])
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.05:
        words.insert(rng.randrange(len(words) + 1), rng.choice(ACCENTED_WORDS))
    if rng.random() < 0.02:
        words.append("/ " + rng.choice(WORDS))
    return " ".join(words).title()


def _artist_name(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.0015:
        return rng.choice([883, 1919, 2562, 999, 311])
    name = " ".join(rng.choice(WORDS).title() for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.06:
        name = rng.choice(ACCENTED_WORDS) + " " + name
    if rng.random() < 0.1:
        name = "The " + name
    return name


def make_catalogue(rng: random.Random, count: int) -> list[Song]:
    """Songs with artists; some artists appear under several names and locations."""
    artists: list[tuple[str, object, object, float | None, float | None]] = []
    for _ in range(max(1, int(count / 1.55))):
        has_coords = rng.random() < 0.35
        roll = rng.random()
        if roll < 0.45:
            location: object = ""
        elif roll < 0.452:
            location = rng.choice([99, 20, 108, 27])  # numeric locations exist in the real data
        elif roll < 0.455:
            location = None  # one real song has a null location
        else:
            location = rng.choice(SONG_LOCATIONS)
        artists.append(
            (
                _ident(rng, "AR"),
                _artist_name(rng),
                location,
                round(rng.uniform(-40, 60), 5) if has_coords else None,
                round(rng.uniform(-120, 140), 5) if has_coords else None,
            )
        )
    songs = []
    track_ids: set[str] = set()
    for _ in range(count):
        artist_id, name, location, lat, lon = rng.choice(artists)
        if rng.random() < 0.04:  # the same artist id credited under another name and place
            name = f"{name} featuring {_artist_name(rng)}"
            location = rng.choice(SONG_LOCATIONS)
        track_id = _ident(rng, "TR")
        while track_id in track_ids:
            track_id = _ident(rng, "TR")
        track_ids.add(track_id)
        songs.append(
            Song(
                song_id=_ident(rng, "SO"),
                title=_title(rng),
                artist_id=artist_id,
                artist_name=name,
                artist_location=location,
                latitude=lat,
                longitude=lon,
                duration=round(rng.uniform(30.0, 600.0), 5),
                year=0 if rng.random() < 0.32 else rng.randint(1955, 2010),
                track_id=track_id,
            )
        )
    return songs


def _dumps(obj: object) -> str:
    """Compact JSON written like the real files: ASCII with \\u escapes and escaped slashes."""
    return json.dumps(obj, separators=(",", ":")).replace("/", "\\/")


def song_file_bytes(song: Song) -> bytes:
    record = {
        "artist_id": song.artist_id,
        "artist_latitude": song.latitude,
        "artist_location": song.artist_location,
        "artist_longitude": song.longitude,
        "artist_name": song.artist_name,
        "duration": song.duration,
        "num_songs": 1,
        "song_id": song.song_id,
        "title": song.title,
        "year": song.year,
    }
    return _dumps(record).encode("ascii")  # no trailing newline, like the real files


def double_encode(text: str) -> str:
    """Mis-decode UTF-8 as Latin-1 twice, as the real event files do (Björk -> BjÃ\\x83Â¶rk)."""
    for _ in range(2):
        text = text.encode("utf-8").decode("latin-1")
    return text


@dataclass(frozen=True)
class User:
    user_id: str
    fragment: str  # pre-serialised firstName..lastName..location..registration..userAgent parts
    first_level: str
    change_ts: int | None  # when the level flips (epoch ms), if it does


def make_users(rng: random.Random, opts: Options) -> list[User]:
    start_ms = int(dt.datetime.combine(opts.start, dt.time(), dt.UTC).timestamp() * 1000)
    span_ms = opts.days * 86_400_000
    users = []
    for uid in rng.sample(range(2, max(opts.users * 2, 110)), opts.users):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        gender = "F" if rng.random() < 0.7 else "M"
        registration = float(start_ms - rng.randint(1, 120) * 86_400_000 + rng.randint(0, 9999))
        parts = {
            "first": _dumps(double_encode(first)),
            "gender": _dumps(gender),
            "last": _dumps(double_encode(last)),
            "location": _dumps(rng.choice(LOCATIONS)),
            "registration": json.dumps(registration),
            "agent": _dumps('"' + rng.choice(USER_AGENTS) + '"'),
            "uid": _dumps(str(uid)),
        }
        change = start_ms + rng.randint(span_ms // 10, span_ms - span_ms // 10)
        users.append(
            User(
                user_id=str(uid),
                fragment=json.dumps(parts),
                first_level=rng.choice(["free", "paid", "paid"]),
                change_ts=change if rng.random() < LEVEL_CHANGE_SHARE else None,
            )
        )
    return users


def _weighted(rng: random.Random, pages: Sequence[tuple[str, str, int, int]]):
    return rng.choices(pages, weights=[p[3] for p in pages])[0]


def _day_events(args: tuple[Options, list[Song], list[Song], list[User], int, int, int]) -> str:
    """All events of one day as NDJSON text (no trailing newline)."""
    opts, catalogue, outside, users, day, events_today, first_session = args
    rng = random.Random(f"{opts.seed}-events-{day}")
    day_start = int(
        dt.datetime.combine(opts.start + dt.timedelta(days=day), dt.time(), dt.UTC).timestamp()
        * 1000
    )
    day_end = day_start + 86_400_000 - 1
    frags = [json.loads(u.fragment) for u in users]
    song_frags: list[list[tuple[str, str, str, float]]] = []
    for songs in (catalogue, outside):
        song_frags.append(
            [
                (
                    _dumps(double_encode(str(s.artist_name))),
                    _dumps(double_encode(str(s.title))),
                    repr(s.duration),
                    s.duration,
                )
                for s in songs
            ]
        )
    lines: list[str] = []
    session_id = first_session
    while len(lines) < events_today:
        session_id += 1
        hour = rng.choices(range(24), weights=HOURLY_WEIGHTS)[0]
        ts = day_start + hour * 3_600_000 + rng.randrange(3_600_000)
        if rng.random() < LOGGED_OUT_SHARE * 3:  # a logged-out visit of a few events
            level = _dumps(rng.choice(["free", "paid"]))
            for item in range(rng.randint(1, 3)):
                page, method, status, _ = _weighted(rng, LOGGED_OUT_PAGES)
                lines.append(
                    '{"artist":null,"auth":"Logged Out","firstName":null,"gender":null,'
                    f'"itemInSession":{item},"lastName":null,"length":null,"level":{level},'
                    f'"location":null,"method":"{method}","page":"{page}","registration":null,'
                    f'"sessionId":{session_id},"song":null,"status":{status},"ts":{ts},'
                    '"userAgent":null,"userId":""}'
                )
                ts += rng.randint(1_000, 60_000)
            continue
        index = rng.randrange(len(users))
        user, f = users[index], frags[index]
        length = min(int(rng.expovariate(1 / 9)) + 1, 120)  # real sessions: ~9 plays on average
        item = rng.randint(0, 3)
        for _ in range(length):
            if ts > day_end:
                break
            level = user.first_level
            if user.change_ts is not None and ts >= user.change_ts:
                level = "paid" if user.first_level == "free" else "free"
            head = (
                f'"auth":"Logged In","firstName":{f["first"]},"gender":{f["gender"]},'
                f'"itemInSession":{item},"lastName":{f["last"]}'
            )
            tail = f',"ts":{ts},"userAgent":{f["agent"]},"userId":{f["uid"]}}}'
            sess = f'"sessionId":{session_id},"song":'
            common = f'"level":"{level}","location":{f["location"]}'
            if rng.random() < NEXT_SONG_SHARE:
                pool = song_frags[0] if rng.random() < opts.match_rate else song_frags[1]
                artist, title, length_text, seconds = pool[rng.randrange(len(pool))]
                lines.append(
                    f'{{"artist":{artist},{head},"length":{length_text},{common},'
                    f'"method":"PUT","page":"NextSong","registration":{f["registration"]},'
                    f'{sess}{title},"status":200{tail}'
                )
                ts += int(seconds * 1000)
            else:
                page, method, status, _ = _weighted(rng, OTHER_PAGES)
                if page == "Upgrade" and level == "free" and rng.random() < 0.4:
                    page, method, status = "Submit Upgrade", "PUT", 307
                elif page == "Downgrade" and level == "paid" and rng.random() < 0.05:
                    page, method, status = "Submit Downgrade", "PUT", 307
                lines.append(
                    f'{{"artist":null,{head},"length":null,{common},'
                    f'"method":"{method}","page":"{page}","registration":{f["registration"]},'
                    f'{sess}null,"status":{status}{tail}'
                )
                ts += rng.randint(1_000, 30_000)
            item += 1
    return "\n".join(lines[:events_today])


def generate(opts: Options, progress: bool = False) -> dict[str, int]:
    """Write the data set; return counts of what was written."""
    rng = random.Random(f"{opts.seed}-catalogue")
    catalogue = make_catalogue(rng, opts.songs)
    outside = make_catalogue(random.Random(f"{opts.seed}-outside"), max(50, opts.songs // 2))
    users = make_users(random.Random(f"{opts.seed}-users"), opts)
    out = opts.output
    for song in catalogue:
        folder = out / "song_data" / song.track_id[2] / song.track_id[3] / song.track_id[4]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{song.track_id}.json").write_bytes(song_file_bytes(song))
    paths = {"jsonpaths": [f"$['{key}']" for key in JSONPATHS]}
    (out / "log_json_path.json").write_text(json.dumps(paths, indent=4))

    day_rng = random.Random(f"{opts.seed}-volume")
    per_day = opts.events / max(opts.days, 1)
    counts = [max(1, int(per_day * day_rng.uniform(0.8, 1.2))) for _ in range(opts.days)]
    jobs = [
        (opts, catalogue, outside, users, day, counts[day], 100_000 * day)
        for day in range(opts.days)
    ]
    workers = opts.workers or min(os.cpu_count() or 1, 8)
    written = 0
    started = time.monotonic()

    def write(day: int, text: str) -> None:
        nonlocal written
        date = opts.start + dt.timedelta(days=day)
        folder = out / "log_data" / f"{date:%Y}" / f"{date:%m}"
        folder.mkdir(parents=True, exist_ok=True)
        data = text.encode("ascii")
        (folder / f"{date:%Y-%m-%d}-events.json").write_bytes(data)
        written += len(data)
        if progress:
            mb = written / 1e6
            rate = mb / max(time.monotonic() - started, 1e-9)
            print(
                f"  day {day + 1}/{opts.days}: {mb:,.1f} MB of events ({rate:,.0f} MB/s)",
                file=sys.stderr,
            )

    if workers > 1 and opts.events > 200_000:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for day, text in enumerate(pool.map(_day_events, jobs)):
                write(day, text)
    else:
        for day, job in enumerate(jobs):
            write(day, _day_events(job))
    return {
        "songs": len(catalogue),
        "event_files": opts.days,
        "events": sum(counts),
        "event_bytes": written,
    }


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="sparkify-generate",
        description="Write a synthetic Sparkify data set laid out like s3://udacity-dend "
        "(song_data/, log_data/, log_json_path.json).",
    )
    parser.add_argument("--output", required=True, type=Path, help="directory to write into")
    parser.add_argument("--songs", type=int, default=1000, help="catalogue size (default 1000)")
    parser.add_argument("--users", type=int, default=100, help="distinct users (default 100)")
    parser.add_argument("--days", type=int, default=30, help="daily event files (default 30)")
    parser.add_argument(
        "--start",
        type=dt.date.fromisoformat,
        default=dt.date(2018, 11, 1),
        help="first day, YYYY-MM-DD (default 2018-11-01)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--events",
        type=int,
        default=8056,
        help="total events over all days (default 8056, the real month's count; "
        "about 480 bytes each, so 2,100,000 is about 1 GB)",
    )
    parser.add_argument(
        "--match-rate",
        type=float,
        default=0.3,
        help="share of plays that name a catalogue song exactly (default 0.3)",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="processes for large outputs (default: one per core)"
    )
    ns = parser.parse_args(argv)
    for name in ("songs", "users", "days", "events"):
        if getattr(ns, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not 0 <= ns.match_rate <= 1:
        parser.error("--match-rate must be between 0 and 1")
    return Options(
        output=ns.output,
        songs=ns.songs,
        users=ns.users,
        days=ns.days,
        start=ns.start,
        seed=ns.seed,
        events=ns.events,
        match_rate=ns.match_rate,
        workers=ns.workers,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.monotonic()
    counts = generate(opts, progress=sys.stderr.isatty() or opts.events > 200_000)
    print(
        f"wrote {counts['songs']:,} song files and {counts['event_files']} event files "
        f"({counts['events']:,} events, {counts['event_bytes'] / 1e6:,.1f} MB) to {opts.output} "
        f"in {time.monotonic() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
