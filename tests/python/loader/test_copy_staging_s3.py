"""The loader reads a real S3 API: a moto server on 127.0.0.1 holding a few hundred objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.python.loader.helpers import duck, duck_counts, source_counts, stage

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def bucket(s3_server, small_generated: Path) -> str:
    count = s3_server.upload_dir("sparkify-test", small_generated, prefix="raw")
    assert count > 200
    return "s3://sparkify-test/raw"


def test_stages_from_s3_into_duckdb_then_reruns_nothing(
    bucket: str, s3_server, small_generated, profiles_dir: Path
) -> None:
    args = ("--source", bucket, "--endpoint-url", s3_server.endpoint)
    assert stage(*args) == 0
    expected = source_counts(small_generated)
    counts = duck_counts()
    assert counts["staging_events"] == expected["staging_events"]
    assert counts["staging_songs"] == expected["staging_songs"]
    assert stage(*args) == 0
    assert duck_counts() == counts


def test_new_object_in_the_bucket_loads_alone(
    s3_server, small_generated: Path, profiles_dir: Path
) -> None:
    client = s3_server.client()
    client.create_bucket(
        Bucket="sparkify-incr", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    client.put_object(
        Bucket="sparkify-incr",
        Key="log_json_path.json",
        Body=(small_generated / "log_json_path.json").read_bytes(),
    )
    days = sorted((small_generated / "log_data").rglob("*.json"))
    args = (
        "--source",
        "s3://sparkify-incr",
        "--endpoint-url",
        s3_server.endpoint,
        "--tables",
        "events",
    )
    client.put_object(
        Bucket="sparkify-incr", Key=f"log_data/{days[0].name}", Body=days[0].read_bytes()
    )
    assert stage(*args) == 0
    first = duck_counts()["staging_events"]
    client.put_object(
        Bucket="sparkify-incr", Key=f"log_data/{days[1].name}", Body=days[1].read_bytes()
    )
    assert stage(*args) == 0
    assert duck_counts()["staging_events"] == first + len(days[1].read_bytes().splitlines())


@pytest.mark.postgres
def test_stages_from_s3_into_postgres(
    bucket: str,
    s3_server,
    small_generated: Path,
    profiles_dir: Path,
    postgres_server,
    postgres_db: str,
) -> None:
    assert (
        stage("--target", "postgres", "--source", bucket, "--endpoint-url", s3_server.endpoint) == 0
    )
    con = postgres_server.connect(postgres_db)
    with con.cursor() as cur:
        cur.execute("select count(*) from staging.staging_events")
        assert cur.fetchone()[0] == source_counts(small_generated)["staging_events"]
    con.close()


def test_missing_bucket_and_unreachable_endpoint_exit_2(
    s3_server, profiles_dir: Path, capsys
) -> None:
    from support.servers import free_port

    assert stage("--source", "s3://no-such-bucket", "--endpoint-url", s3_server.endpoint) == 2
    assert "JSONPaths" in capsys.readouterr().err
    dead = f"http://127.0.0.1:{free_port()}"
    assert stage("--source", "s3://sparkify-test/raw", "--endpoint-url", dead) == 2
    err = capsys.readouterr().err
    assert "cannot reach" in err and "Traceback" not in err


def _upload_in_parts(client, bucket: str, key: str, body: bytes, part_size: int) -> str:
    """Upload `body` as a real multipart upload (S3's minimum part is 5 MiB) and return its ETag,
    which is a hash of the part hashes with a `-<parts>` suffix, not the object's MD5."""
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)
    parts = []
    for number, start in enumerate(range(0, len(body), part_size), start=1):
        part = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body[start : start + part_size],
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    return client.head_object(Bucket=bucket, Key=key)["ETag"]


def test_multipart_object_reuploaded_at_the_same_size_is_reported_changed(
    s3_server, small_generated: Path, profiles_dir: Path, capsys
) -> None:
    client = s3_server.client()
    client.create_bucket(
        Bucket="sparkify-parts", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    client.put_object(
        Bucket="sparkify-parts",
        Key="log_json_path.json",
        Body=(small_generated / "log_json_path.json").read_bytes(),
    )
    day = sorted((small_generated / "log_data").rglob("*.json"))[0]
    records = day.read_bytes().rstrip(b"\n") + b"\n"
    body = records * (6 * 1024 * 1024 // len(records) + 1)
    assert len(body) > 6 * 1024 * 1024 and b'"level":"free"' in body
    key = "log_data/2018-11-01-events.json"
    first_etag = _upload_in_parts(client, "sparkify-parts", key, body, 5 * 1024 * 1024)
    assert first_etag.strip('"').endswith("-2")
    args = ("--source", "s3://sparkify-parts", "--endpoint-url", s3_server.endpoint)
    args = (*args, "--tables", "events")
    assert stage(*args) == 0
    staged = duck_counts()["staging_events"]
    assert staged == body.count(b"\n")
    with duck() as con:
        free_before = con.execute(
            "select count(*) from staging.staging_events where level = 'free'"
        ).fetchone()[0]

    # an unchanged multipart object is skipped on the rerun, not taken for changed
    capsys.readouterr()
    assert stage(*args) == 0
    assert "0 changed" in capsys.readouterr().err

    # the same size, other content (one level upgraded), uploaded in parts again
    edited = body.replace(b'"level":"free"', b'"level":"paid"', 1)
    assert len(edited) == len(body) and edited != body
    second_etag = _upload_in_parts(client, "sparkify-parts", key, edited, 5 * 1024 * 1024)
    assert second_etag != first_etag
    assert stage(*args) == 1
    err = capsys.readouterr().err
    assert "1 object(s) changed after loading" in err and key in err
    assert duck_counts()["staging_events"] == staged

    assert stage(*args, "--replace-changed") == 0
    with duck() as con:
        free_after = con.execute(
            "select count(*) from staging.staging_events where level = 'free'"
        ).fetchone()[0]
    assert duck_counts()["staging_events"] == staged
    assert free_after == free_before - 1


def test_a_bucket_in_another_region_is_read_in_its_own_region(
    s3_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 is asked where a bucket is (HEAD), instead of assuming us-east-1 for any bucket but
    the public one."""
    import boto3

    from loader.sources import S3Source

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(
        Bucket="sparkify-frankfurt",
        CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
    )
    client.put_object(Bucket="sparkify-frankfurt", Key="song_data/a.json", Body=b"{}")
    source = S3Source("s3://sparkify-frankfurt", endpoint_url=s3_server.endpoint, unsigned=False)
    assert source.region == "eu-central-1"
    assert source.client.meta.region_name == "eu-central-1"
    assert [o.key for o in source.list_objects("song_data/")] == ["song_data/a.json"]
    given = S3Source(
        "s3://sparkify-frankfurt", region="eu-central-1", endpoint_url=s3_server.endpoint
    )
    assert given.region == "eu-central-1"  # a region given is used as it is
