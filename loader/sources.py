"""Where the JSON objects come from: a local directory or S3 (any S3-compatible endpoint).

Both list objects with a size and an ETag-like fingerprint (MD5 of the content, as S3 gives for
single-part uploads) and fetch many objects in parallel. S3 reads go through boto3 with one pooled
client, adaptive retries for throttling and resets, and unsigned requests for public buckets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any, NoReturn
from urllib.parse import urlparse

from loader.errors import ConfigError, DataError, TransientError

PUBLIC_BUCKET_REGION = {"udacity-dend": "us-west-2"}
FINGERPRINT_WORKERS = 4  # files read and hashed at once to check loaded files for changes
SUFFIXES = (".json", ".json.gz")  # .json.gz: gzip NDJSON, e.g. the parts of loader.compact


def md5_etag(data: bytes) -> str:
    """S3's ETag of a single-part upload: the MD5 of the content (an identity, not security)."""
    return hashlib.md5(data).hexdigest()  # noqa: S324


def utc(mtime_ns: int) -> dt.datetime:
    """A file's modification time as a naive UTC timestamp, to the microsecond."""
    return dt.datetime.fromtimestamp(mtime_ns // 1000 / 1e6, dt.UTC).replace(tzinfo=None)


def is_data_key(key: str) -> bool:
    return key.endswith(SUFFIXES)


MAX_INFLATED_BYTES = 512 * 1024 * 1024  # the most a gzip object may inflate to (a batch's worth)


def decode_object(key: str, data: bytes) -> bytes:
    """The object's JSON bytes: gzip objects are decompressed (every member, and no more than
    MAX_INFLATED_BYTES: a small object inflating to gigabytes is refused, not held in memory),
    others returned as they are."""
    if not key.endswith(".gz"):
        return data
    limit = MAX_INFLATED_BYTES
    out = bytearray()
    pending = data
    try:
        while pending:
            inflater = zlib.decompressobj(wbits=31)  # one gzip member
            while True:
                out += inflater.decompress(pending, limit + 1 - len(out))
                if len(out) > limit:
                    raise DataError(
                        f"{key}: inflates to more than {limit:,} bytes; split it into "
                        "smaller objects. Nothing of this batch was loaded"
                    )
                pending = inflater.unconsumed_tail
                if inflater.eof or not pending:
                    break
            if not inflater.eof:
                raise zlib.error("the object ends inside a gzip member")
            pending = inflater.unused_data
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{key}: not a valid gzip object ({exc}); nothing of this batch was loaded"
        ) from None
    return bytes(out)


@dataclass(frozen=True)
class SourceObject:
    key: str  # relative to the source root, e.g. "log_data/2018/11/2018-11-01-events.json"
    size: int
    etag: str
    modified: dt.datetime | None = None  # last modification, UTC (file mtime, S3 LastModified)


class Source:
    uri: str
    # what the latest list() found under its prefix and did not take, with why: names that are
    # not data (``README.txt``, ``x.jsonl``), broken links, pipes; reported, never silent
    ignored: list[tuple[str, str]]

    def list_objects(self, prefix: str) -> list[SourceObject]:
        raise NotImplementedError

    def read(self, key: str) -> bytes:
        raise NotImplementedError

    def url(self, key: str) -> str:
        raise NotImplementedError

    def fetch_many(
        self, objects: Iterable[SourceObject], on_done: Callable[[SourceObject], None] | None = None
    ) -> Iterator[tuple[SourceObject, bytes]]:
        """Yield (object, bytes) in the given order, reading ahead in parallel."""
        objects = list(objects)
        workers = self.workers(len(objects))
        if workers <= 1:
            for obj in objects:
                fetched, data = self.fetch(obj)
                if on_done:
                    on_done(fetched)
                yield fetched, data
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for fetched, data in pool.map(self.fetch, objects):
                if on_done:
                    on_done(fetched)
                yield fetched, data

    def fetch(self, obj: SourceObject) -> tuple[SourceObject, bytes]:
        """The object (with its ETag) and its JSON bytes."""
        return obj, self.read_data(obj.key)

    def fingerprint(self, obj: SourceObject) -> SourceObject:
        """The object with its ETag, computing it if the listing did not give one."""
        return obj

    def fingerprint_many(self, objects: list[SourceObject]) -> list[SourceObject]:
        """fingerprint() for many objects, a few at a time."""
        if len(objects) < 2:
            return [self.fingerprint(obj) for obj in objects]
        with ThreadPoolExecutor(max_workers=FINGERPRINT_WORKERS) as pool:
            return list(pool.map(self.fingerprint, objects))

    def workers(self, count: int) -> int:
        return 1

    def read_data(self, key: str) -> bytes:
        return decode_object(key, self.read(key))


class LocalSource(Source):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri = str(self.root)
        self.ignored = []
        if not self.root.is_dir():
            raise ConfigError(f"source directory {root} does not exist")

    def list_objects(self, prefix: str) -> list[SourceObject]:
        """The data files under ``prefix``, symbolic links followed (each directory once);
        an unreadable directory refuses the run rather than hiding what it holds."""
        self.ignored = []
        base = self.root / prefix
        if not base.is_dir():
            return []
        found: list[SourceObject] = []
        seen: set[tuple[int, int]] = set()

        def refuse(error: OSError) -> NoReturn:
            raise ConfigError(
                f"cannot read directory {error.filename}: {error.strerror}; its files would be "
                "left out"
            )

        def walk(directory: str, key_prefix: str) -> None:
            try:
                here = os.stat(directory)
                if (here.st_dev, here.st_ino) in seen:  # a link back up the tree
                    return
                seen.add((here.st_dev, here.st_ino))
                with os.scandir(directory) as listing:
                    entries = sorted(listing, key=lambda entry: entry.name)
            except OSError as error:
                refuse(error)
            subdirectories = []
            for entry in entries:  # os.scandir: no stat call for what the listing tells
                key = key_prefix + entry.name
                try:
                    is_directory = entry.is_dir()  # through a symbolic link
                except OSError:
                    is_directory = False
                if is_directory:
                    subdirectories.append(entry)
                    continue
                if not is_data_key(entry.name):
                    self.ignored.append((key, "its name does not end in .json or .json.gz"))
                    continue
                try:
                    stat = entry.stat()  # through a symbolic link
                except FileNotFoundError:
                    self.ignored.append((key, f"a broken symbolic link to {os.readlink(entry)}"))
                    continue
                if not S_ISREG(stat.st_mode):
                    self.ignored.append((key, "not a regular file (a pipe, socket or device)"))
                    continue
                # The MD5 ETag is computed when the file is read (fetch, fingerprint), so a
                # first load reads each file once.
                found.append(SourceObject(key, stat.st_size, "", utc(stat.st_mtime_ns)))
            for entry in subdirectories:  # os.walk's order: a directory's files, then its
                walk(entry.path, key_prefix + entry.name + "/")  # subdirectories, sorted

        relative = base.relative_to(self.root).as_posix()
        walk(str(base), "" if relative == "." else relative + "/")
        return found

    def fetch(self, obj: SourceObject) -> tuple[SourceObject, bytes]:
        raw = self.read(obj.key)
        fetched = SourceObject(obj.key, len(raw), md5_etag(raw), obj.modified)
        return fetched, decode_object(obj.key, raw)

    def fingerprint(self, obj: SourceObject) -> SourceObject:
        if obj.etag:
            return obj
        raw = self.read(obj.key)
        return SourceObject(obj.key, len(raw), md5_etag(raw), obj.modified)

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{self.root / key} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {self.root / key}: {exc.strerror}") from None

    def url(self, key: str) -> str:
        return str(self.root / key)

    def workers(self, count: int) -> int:
        return 1  # local reads are faster serially than through a thread pool


class S3Source(Source):
    def __init__(
        self,
        uri: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        unsigned: bool | None = None,
        max_workers: int = 32,
    ) -> None:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ConfigError(f"--source {uri!r}: expected s3://bucket[/prefix] or a directory")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.ignored = []
        self.uri = uri.rstrip("/")
        self.max_workers = max_workers
        known = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        known = known or PUBLIC_BUCKET_REGION.get(self.bucket)
        session = boto3.session.Session()
        if unsigned is None:  # sign when the boto3 chain has credentials, else read anonymously
            unsigned = session.get_credentials() is None

        def client(region_name: str) -> Any:
            config = Config(
                region_name=region_name,
                # throttling and resets are retried with backoff (SPARKIFY_S3_MAX_ATTEMPTS)
                retries={
                    "max_attempts": int(os.environ.get("SPARKIFY_S3_MAX_ATTEMPTS", "8")),
                    "mode": "adaptive",
                },
                max_pool_connections=max(max_workers, 10),
                connect_timeout=10,
                read_timeout=60,
                signature_version=UNSIGNED if unsigned else None,
            )
            return session.client("s3", endpoint_url=endpoint_url, config=config)

        self.client = client(known or "us-east-1")
        self.region = known or self._bucket_region() or "us-east-1"
        if self.region != (known or "us-east-1"):  # S3 said where the bucket is
            self.client = client(self.region)

    def _bucket_region(self) -> str | None:
        """Where the bucket is, as S3 says in every HEAD answer (even a 301 or a 403): one
        request, and no permission beyond the listing the load needs anyway."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            response = exc.response
        except BotoCoreError:
            return None  # unreachable: the listing says so, with its own message
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return headers.get("x-amz-bucket-region")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def list_objects(self, prefix: str) -> list[SourceObject]:
        from botocore.exceptions import BotoCoreError, ClientError

        found = []
        self.ignored = []
        full_prefix = self._key(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full_prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if not is_data_key(item["Key"]):
                        if not item["Key"].endswith("/"):  # a console "folder" is no object
                            self.ignored.append(
                                (
                                    item["Key"][strip:],
                                    "its name does not end in .json or .json.gz",
                                )
                            )
                    else:
                        found.append(
                            SourceObject(
                                item["Key"][strip:],
                                item["Size"],
                                item["ETag"].strip('"'),
                                item["LastModified"].astimezone(dt.UTC).replace(tzinfo=None),
                            )
                        )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise ConfigError(f"cannot list {self.uri}/{prefix}: {code}: {exc}") from None
        except BotoCoreError as exc:
            raise ConfigError(f"cannot reach {self.uri}: {exc}") from None
        found.sort(key=lambda o: o.key)
        return found

    def read(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {
                "NoSuchKey",
                "NoSuchBucket",
                "404",
                "AccessDenied",
                "403",
                "InvalidBucketName",
            }:
                raise ConfigError(f"cannot read {self.url(key)}: {code}") from None
            raise TransientError(f"reading {self.url(key)} failed: {exc}") from None
        except BotoCoreError as exc:
            raise TransientError(f"reading {self.url(key)} failed: {exc}") from None

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def workers(self, count: int) -> int:
        return min(self.max_workers, max(count, 1))


def open_source(uri: str, **s3_options: object) -> Source:
    if uri.startswith("s3://"):
        return S3Source(uri, **s3_options)  # type: ignore[arg-type]
    if "://" in uri:
        raise ConfigError(f"--source {uri!r}: expected s3://bucket[/prefix] or a directory")
    return LocalSource(Path(uri))
