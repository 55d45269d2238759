"""Pack many small JSON objects into a few large gzip NDJSON objects.

Redshift's COPY pays a fixed cost per object, so the one-file-per-song layout (14,896 objects of
~250 bytes) takes minutes to an hour; packed into a handful of 1 MB+ gzip objects it takes
seconds. Each part holds whole objects, one record per line, in key order; a
``_compaction.manifest`` beside the parts records which source objects went into which part.

    python -m loader.compact --source s3://udacity-dend --prefix song_data/ \\
        --to s3://my-bucket/sparkify/compacted [--target-mb 64]

Load either the original layout or the compacted one into a warehouse, not both: the ledger
tracks object keys, and the parts are new keys.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from loader.errors import ConfigError, LoaderError
from loader.logs import log
from loader.progress import Progress
from loader.sources import S3Source, Source, open_source


def _write(destination: str, key: str, body: bytes, endpoint_url: str | None) -> str:
    if destination.startswith("s3://"):
        target = S3Source(destination, endpoint_url=endpoint_url, unsigned=False)
        target.client.put_object(Bucket=target.bucket, Key=target._key(key), Body=body)
        return target.url(key)
    path = Path(destination) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return str(path)


def compact(
    source: Source,
    prefix: str,
    destination: str,
    target_bytes: int,
    endpoint_url: str | None = None,
    progress: bool = True,
) -> list[dict]:
    """Write the parts; return the manifest entries (part key, source keys, records, bytes)."""
    objects = source.list_objects(prefix)
    if not objects:
        raise ConfigError(f"nothing to compact under {source.uri}/{prefix}")
    parts: list[dict] = []
    chunk: list[bytes] = []
    keys: list[str] = []
    size = 0
    bar = Progress(f"compacting {prefix}", len(objects), enabled=progress)

    def flush() -> None:
        nonlocal chunk, keys, size
        if not chunk:
            return
        body = b"".join(chunk)
        key = f"{prefix}part-{len(parts):05d}.json.gz"
        url = _write(destination, key, gzip.compress(body, compresslevel=6, mtime=0), endpoint_url)
        parts.append(
            {
                "part": key,
                "url": url,
                "sources": keys,
                "bytes": len(body),
                "records": body.count(b"\n"),
            }
        )
        chunk, keys, size = [], [], 0

    for obj, data in source.fetch_many(objects):
        text = data.rstrip(b"\r\n")
        if text.strip():
            chunk.append(text + b"\n")
            keys.append(obj.key)
            size += len(text) + 1
        bar.update()
        if size >= target_bytes:
            flush()
    flush()
    bar.close()
    manifest = json.dumps({"source": source.uri, "prefix": prefix, "parts": parts}, indent=1)
    _write(destination, f"{prefix}_compaction.manifest", manifest.encode(), endpoint_url)
    return parts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sparkify-compact",
        description=__doc__.split("\n\n")[0],
        epilog="Use the parts as --source for the loader (Redshift COPY reads them with GZIP).",
    )
    parser.add_argument("--source", required=True, help="s3://bucket[/prefix] or a directory")
    parser.add_argument("--to", required=True, help="s3://bucket[/prefix] or a directory")
    parser.add_argument("--prefix", default="song_data/", help="what to pack (default song_data/)")
    parser.add_argument(
        "--target-mb", type=float, default=64, help="uncompressed size per part (default 64 MB)"
    )
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.target_mb <= 0:
            raise ConfigError("--target-mb must be positive")
        options = {"endpoint_url": args.endpoint_url} if args.source.startswith("s3://") else {}
        source = open_source(args.source, **options)
        prefix = args.prefix.strip("/") + "/"
        parts = compact(
            source,
            prefix,
            args.to.rstrip("/"),
            int(args.target_mb * 1e6),
            args.endpoint_url,
            progress=not args.no_progress,
        )
    except LoaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    sources = sum(len(p["sources"]) for p in parts)
    log(
        f"packed {sources:,} objects into {len(parts)} part(s) under {args.to.rstrip('/')}/{prefix}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
