"""Real servers for tests, on 127.0.0.1 only: PostgreSQL (initdb + pg_ctl) and moto's S3 server.

PostgreSQL refuses to run as root, so as root the cluster is created and run by the unprivileged
``nobody`` user (via ``runuser``). Start-up is synchronised with ``pg_ctl -w`` and by connecting,
never by sleeping.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path:
        return path
    pytest.skip(
        f"PostgreSQL server binaries ({name}) are not installed: apt-get install postgresql"
    )
    raise AssertionError


@dataclass
class PostgresServer:
    datadir: Path
    port: int
    as_user: list[str]
    user: str = "sparkify"
    password: str = "sparkify-test-password"

    @classmethod
    def start(cls) -> PostgresServer:
        # Not under pytest's tmp dirs: those are private to root and the server runs as nobody.
        workdir = Path(tempfile.mkdtemp(prefix="sparkify-pg-"))
        as_user: list[str] = []
        if os.geteuid() == 0:
            as_user = ["runuser", "-u", "nobody", "--"]
            os.chmod(workdir, 0o755)
            shutil.chown(workdir, "nobody")
        datadir = workdir / "data"
        port = free_port()
        pwfile = workdir / "pw"
        server = cls(datadir, port, as_user)
        pwfile.write_text(server.password)
        if as_user:
            shutil.chown(pwfile, "nobody")
        subprocess.run(
            [
                *as_user,
                _pg_bin("initdb"),
                "-D",
                str(datadir),
                "-U",
                server.user,
                "--pwfile",
                str(pwfile),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale",
                "C.UTF-8",
            ],
            check=True,
            capture_output=True,
            cwd=workdir,
        )
        options = f"-h 127.0.0.1 -p {port} -k {workdir} -c fsync=off -c full_page_writes=off"
        subprocess.run(
            [
                *as_user,
                _pg_bin("pg_ctl"),
                "-D",
                str(datadir),
                "-w",
                "-t",
                "60",
                "-l",
                str(workdir / "server.log"),
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            cwd=workdir,
        )
        return server

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, _pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            cwd=self.datadir.parent,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)

    def connect(self, dbname: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=dbname
        )

    def create_database(self, hint: str) -> str:
        name = (
            "t_" + re.sub(r"[^a-z0-9]+", "_", hint.lower())[:40] + f"_{time.monotonic_ns() % 10**6}"
        )
        con = self.connect()
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'create database "{name}"')
        con.close()
        return name

    def env(self, dbname: str) -> dict[str, str]:
        return {
            "SPARKIFY_PG_HOST": "127.0.0.1",
            "SPARKIFY_PG_PORT": str(self.port),
            "SPARKIFY_PG_USER": self.user,
            "DBT_ENV_SECRET_PG_PASSWORD": self.password,
            "SPARKIFY_PG_DATABASE": dbname,
        }


@dataclass
class S3Server:
    endpoint: str
    server: object

    @classmethod
    def start(cls, port: int | None = None) -> S3Server:
        """Start moto's S3 server; its data lives in this process, so a restart keeps it."""
        from moto.server import ThreadedMotoServer

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        port = port or free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        deadline = time.monotonic() + 30
        while True:  # wait until the socket accepts connections
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("moto server did not start")
            time.sleep(0.05)
        return cls(f"http://127.0.0.1:{port}", server)

    def stop(self) -> None:
        self.server.stop()  # type: ignore[attr-defined]

    def restart(self) -> S3Server:
        return S3Server.start(int(self.endpoint.rsplit(":", 1)[1]))

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-west-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def upload_dir(self, bucket: str, root: Path, prefix: str = "") -> int:
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
            )
        count = 0
        for path in sorted(root.rglob("*")):
            if path.is_file():
                key = (prefix + "/" if prefix else "") + path.relative_to(root).as_posix()
                client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
                count += 1
        return count
