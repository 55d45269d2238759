"""Benchmark 3: many small files. Files per second for the 14,896 real song files from a local
directory, and for a slice of them from a moto S3 server on 127.0.0.1 with parallel GETs (one
pooled client) against one GET at a time; then what compaction into a few gzip NDJSON parts
saves, locally and on S3.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.common import Report, profiles_env, real_data, wall_seconds

S3_SLICE = 1500  # moto serves ~100-150 tiny objects/s: keep the upload short


def stage_songs(source: str, env: dict[str, str], *extra: str) -> float:
    return wall_seconds(
        [
            sys.executable,
            "loader/copy_staging.py",
            "--tables",
            "songs",
            "--no-progress",
            "--source",
            source,
            *extra,
        ],
        env,
    )


def main() -> int:
    from support.servers import S3Server

    songs = real_data()
    if songs is None:
        return 2
    report = Report("Many small files (real song_data)")
    files = sorted((songs / "song_data").rglob("*.json"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "a").mkdir()
        local = stage_songs(str(songs), profiles_env(work / "a"))
        packed = work / "packed"
        wall_seconds(
            [
                sys.executable,
                "-m",
                "loader.compact",
                "--source",
                str(songs),
                "--to",
                str(packed),
                "--target-mb",
                "1",
                "--no-progress",
            ]
        )
        parts = len(list((packed / "song_data").glob("*.json.gz")))
        (work / "b").mkdir()
        local_packed = stage_songs(str(packed), profiles_env(work / "b"))
        report.add(
            f"local directory: {len(files):,} files in {local:5.2f} s = "
            f"{len(files) / local:8,.0f} files/s (whole loader run)"
        )
        report.add(
            f"local, compacted into {parts} gzip parts: {local_packed:5.2f} s "
            f"({local / local_packed:.1f}x faster)"
        )

        server = S3Server.start()
        try:
            client = server.client()
            client.create_bucket(
                Bucket="bench", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
            )
            for path in files[:S3_SLICE]:
                client.put_object(
                    Bucket="bench", Key=path.relative_to(songs).as_posix(), Body=path.read_bytes()
                )
            s3 = ["--endpoint-url", server.endpoint]
            env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
            timings = {}
            for workers in (1, 32):
                (work / f"s3-{workers}").mkdir()
                timings[workers] = stage_songs(
                    "s3://bench",
                    {**profiles_env(work / f"s3-{workers}"), **env},
                    *s3,
                    "--s3-workers",
                    str(workers),
                )
            wall_seconds(
                [
                    sys.executable,
                    "-m",
                    "loader.compact",
                    "--source",
                    "s3://bench",
                    "--to",
                    "s3://bench/packed",
                    "--target-mb",
                    "1",
                    "--no-progress",
                    *s3,
                ],
                env,
            )
            (work / "s3-packed").mkdir()
            packed_s3 = stage_songs(
                "s3://bench/packed", {**profiles_env(work / "s3-packed"), **env}, *s3
            )
        finally:
            server.stop()
        report.add(
            f"moto S3 on 127.0.0.1, {S3_SLICE:,} files, one GET at a time: "
            f"{timings[1]:6.2f} s = {S3_SLICE / timings[1]:6,.0f} files/s"
        )
        report.add(
            f"moto S3, 32 parallel GETs on one pooled client:    {timings[32]:6.2f} s = "
            f"{S3_SLICE / timings[32]:6,.0f} files/s ({timings[1] / timings[32]:.1f}x)"
        )
        report.add(
            f"moto S3, the same songs compacted into gzip parts: {packed_s3:6.2f} s "
            f"({timings[32] / packed_s3:.1f}x faster than parallel GETs)"
        )
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
