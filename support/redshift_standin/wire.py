"""The stand-in's server: Redshift's wire protocol on 127.0.0.1, answered by the PostgreSQL test
server behind it.

Redshift speaks PostgreSQL's protocol (v3), so a client connects exactly as to a cluster:
redshift_connector's TLS with ``sslmode`` verify-ca (the stand-in's certificate is signed by a CA
the environment trusts through ``SSL_CERT_FILE``), the same start-up packet (its Redshift-only
parameters are kept from PostgreSQL), the real password exchange with the server behind it.

Every statement (a simple Query or an extended-protocol Parse) is checked against Redshift's
documented rules (rules.py) before it runs. A refused statement fails with the rule, the AWS
page and the statement; one that passes runs as PostgreSQL reads Redshift's syntax
(translate.py). COPY from S3 is done by the stand-in (copy.py) and its rows reach the table
inside the client's own transaction. Sessions run as Redshift's do: literals read backslash
escapes (``standard_conforming_strings`` off), timestamps in UTC, and the isolation level of
the cluster (snapshot isolation, the default for new clusters and Serverless, is PostgreSQL's
REPEATABLE READ; serializable is SERIALIZABLE).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import secrets
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from support.redshift_standin import catalog
from support.redshift_standin import copy as s3copy
from support.redshift_standin.rules import SERVERLESS, Context, Refusal, check
from support.redshift_standin.sql_text import UnterminatedLiteral, code, split_statements
from support.redshift_standin.translate import for_postgres

SSL_REQUEST, CANCEL_REQUEST, PROTOCOL_3 = 80877103, 80877102, 196608
REDSHIFT_SERVER_VERSION = b"8.0.2"  # what a cluster reports in its ParameterStatus
ISOLATION = {"snapshot": "repeatable read", "serializable": "serializable"}


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise ConnectionError("peer closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    header = _read_exact(sock, 5)
    kind, length = header[:1], struct.unpack("!i", header[1:])[0]
    return kind, _read_exact(sock, length - 4)


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!i", len(payload) + 4) + payload


def _cstring(data: bytes, start: int) -> tuple[str, int]:
    end = data.index(b"\0", start)
    return data[start:end].decode("utf-8"), end + 1


def _error_fields(payload: bytes) -> dict[str, str]:
    fields, index = {}, 0
    while index < len(payload) and payload[index] != 0:
        code_, index = chr(payload[index]), index + 1
        value, index = _cstring(payload, index)
        fields[code_] = value
    return fields


@dataclass
class Settings:
    """What the stand-in serves: the server behind it, the cluster it acts as, and S3."""

    pg_host: str
    pg_port: int
    user: str  # the cluster's one database user, and its password
    password: str
    admin: Callable[[str], Any]  # database name -> an autocommit psycopg2 connection
    flavour: str = "provisioned"
    isolation: str = "snapshot"
    s3: Any = None
    iam_role: str | None = None
    tls: ssl.SSLContext | None = None


@dataclass
class Record:
    """What the stand-in saw, for tests and the closing summary."""

    statements: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    copies: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, statement: str, refusal: Refusal | None) -> None:
        with self.lock:
            self.statements.append(statement)
            if refusal is not None:
                self.refusals.append(refusal)


class StandInServer:
    def __init__(self, settings: Settings, port: int = 0, log: Any = sys.stderr) -> None:
        self.settings = settings
        self.record = Record()
        self.log = log
        self._installed: set[str] = set()
        self._install_lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._sessions: list[Session] = []
        self._thread = threading.Thread(target=self._accept, name="redshift-standin", daemon=True)
        self._closing = False

    def start(self) -> StandInServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.close()
        for session in list(self._sessions):
            session.close()

    def install(self, database: str) -> None:
        with self._install_lock:
            if database in self._installed:
                return
            admin = self.settings.admin(database)
            try:
                catalog.install(admin, self.settings.flavour)
            finally:
                admin.close()
            self._installed.add(database)

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            session = Session(self, client)
            self._sessions.append(session)
            threading.Thread(
                target=session.run, name="redshift-standin-session", daemon=True
            ).start()


class Session:
    """One client connection and its PostgreSQL session."""

    def __init__(self, server: StandInServer, client: socket.socket) -> None:
        self.server = server
        self.settings = server.settings
        self.client: socket.socket = client
        self.pg: socket.socket | None = None
        self.database = ""
        self.status = b"I"  # the last ReadyForQuery: I idle, T in a transaction, E failed
        self.backend_pid = 0
        self._send_lock = threading.Lock()
        self._diverted: queue.Queue[tuple[bytes, bytes]] | None = None
        self._divert_lock = threading.Lock()
        self._admin: Any = None

    # --- start-up ------------------------------------------------------------------------

    def run(self) -> None:
        try:
            if not self._start():
                return
            threading.Thread(target=self._relay_server, daemon=True).start()
            self._relay_client()
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            self.close()

    def _start(self) -> bool:
        while True:
            length, code_ = struct.unpack("!ii", _read_exact(self.client, 8))
            rest = _read_exact(self.client, length - 8)
            if code_ == SSL_REQUEST:
                if self.settings.tls is None:
                    self.client.sendall(b"N")
                    continue
                self.client.sendall(b"S")
                self.client = self.settings.tls.wrap_socket(self.client, server_side=True)
                continue
            if code_ == CANCEL_REQUEST:
                with socket.create_connection((self.settings.pg_host, self.settings.pg_port)) as pg:
                    pg.sendall(struct.pack("!ii", length, code_) + rest)
                return False
            if code_ != PROTOCOL_3:
                return False
            break
        parts = rest.split(b"\0")
        params = {
            parts[i].decode(): parts[i + 1].decode()
            for i in range(0, len(parts) - 1, 2)
            if parts[i]
        }
        self.database = params.get("database", params.get("user", ""))
        if not self._authenticate(params.get("user", "")):
            return False
        try:
            self.server.install(self.database)
        except Exception as exc:
            self._send_error("3D000", f"the Redshift stand-in cannot serve {self.database}: {exc}")
            return False
        isolation = ISOLATION[self.settings.isolation].replace(" ", "\\ ")
        options = (
            "-c standard_conforming_strings=off -c escape_string_warning=off -c TimeZone=UTC "
            f"-c default_transaction_isolation={isolation}"
        )
        startup = {
            "user": params.get("user", ""),
            "database": self.database,
            "application_name": params.get("application_name", "redshift-standin")[:63],
            "options": options,
        }
        body = (
            struct.pack("!i", PROTOCOL_3)
            + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in startup.items())
            + b"\0"
        )
        self.pg = socket.create_connection((self.settings.pg_host, self.settings.pg_port))
        for sock in (self.pg, self.client):  # small messages, answered at once: no Nagle delays
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pg.sendall(struct.pack("!i", len(body) + 4) + body)
        return self._log_in_to_postgres()

    def _authenticate(self, user: str) -> bool:
        """MD5 password authentication, as a cluster asks a database user for it."""
        salt = secrets.token_bytes(4)
        self._to_client(_message(b"R", struct.pack("!i", 5) + salt))
        kind, payload = _read_message(self.client)
        inner = hashlib.md5((self.settings.password + user).encode()).hexdigest()
        expected = "md5" + hashlib.md5(inner.encode() + salt).hexdigest()
        given = payload.rstrip(b"\0").decode(errors="replace")
        if (
            kind != b"p"
            or user != self.settings.user
            or not secrets.compare_digest(given, expected)
        ):
            self._send_error("28P01", f'password authentication failed for user "{user}"')
            return False
        return True

    def _log_in_to_postgres(self) -> bool:
        """SCRAM to the server behind; then AuthenticationOk to the client."""
        from scramp import ScramClient

        assert self.pg is not None
        scram = None
        while True:
            kind, payload = _read_message(self.pg)
            if kind == b"E":
                self._to_client(_message(kind, payload))
                return False
            if kind != b"R":
                raise ConnectionError(f"unexpected {kind!r} during authentication")
            (step,) = struct.unpack("!i", payload[:4])
            if step == 0:
                self._to_client(_message(b"R", struct.pack("!i", 0)))
                return True
            if step == 10:  # SASL: the mechanisms, NUL-separated
                mechanisms = [m.decode() for m in payload[4:].split(b"\0") if m]
                scram = ScramClient(mechanisms, self.settings.user, self.settings.password)
                first = scram.get_client_first().encode()
                body = scram.mechanism_name.encode() + b"\0" + struct.pack("!i", len(first)) + first
                self.pg.sendall(_message(b"p", body))
            elif step == 11 and scram is not None:
                scram.set_server_first(payload[4:].decode())
                self.pg.sendall(_message(b"p", scram.get_client_final().encode()))
            elif step == 12 and scram is not None:
                scram.set_server_final(payload[4:].decode())
            elif step == 3:
                self.pg.sendall(_message(b"p", self.settings.password.encode() + b"\0"))
            else:
                raise ConnectionError(f"the server asks for authentication {step}")

    def close(self) -> None:
        for sock in (self.client, self.pg):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None

    # --- relaying ------------------------------------------------------------------------

    def _to_client(self, data: bytes) -> None:
        with self._send_lock:
            self.client.sendall(data)

    def _relay_server(self) -> None:
        """PostgreSQL -> client, noting the transaction status and the backend's pid. A
        response goes out whole, at its ReadyForQuery (or when it grows large), not a packet
        per message."""
        assert self.pg is not None
        pending = bytearray()
        try:
            while True:
                kind, payload = _read_message(self.pg)
                if kind == b"K":
                    self.backend_pid = struct.unpack("!i", payload[:4])[0]
                elif kind == b"S" and payload.startswith(b"server_version\0"):
                    payload = b"server_version\0" + REDSHIFT_SERVER_VERSION + b"\0"
                with self._divert_lock:
                    diverted = self._diverted
                if diverted is not None:
                    diverted.put((kind, payload))
                    if kind == b"Z":
                        self.status = payload[:1]
                    continue
                if kind == b"Z":
                    self.status = payload[:1]
                pending += _message(kind, payload)
                if kind in b"ZGWHcdNA" or len(pending) > 65536:
                    self._to_client(bytes(pending))
                    pending.clear()
        except (ConnectionError, OSError, ssl.SSLError):
            with contextlib.suppress(OSError):
                self.client.close()

    def _relay_client(self) -> None:
        """Client -> PostgreSQL, every statement checked and translated on the way."""
        assert self.pg is not None
        pending = bytearray()
        while True:
            kind, payload = _read_message(self.client)
            if kind == b"P":
                name, index = _cstring(payload, 0)
                query, index = _cstring(payload, index)
                (count,) = struct.unpack("!h", payload[index : index + 2])
                sql = self._statement(query, count)
                payload = name.encode() + b"\0" + sql.encode() + b"\0" + payload[index:]
            elif kind == b"Q":
                query, _ = _cstring(payload, 0)
                payload = self._simple_query(query).encode() + b"\0"
            pending += _message(kind, payload)
            if kind in b"SQXHpfcdF" or len(pending) > 65536:  # the client waits after these
                self.pg.sendall(bytes(pending))
                pending.clear()
            if kind == b"X":
                return

    def _send_error(self, sqlstate: str, text: str) -> None:
        fields = b"SFATAL\0" + b"C" + sqlstate.encode() + b"\0M" + text.encode() + b"\0\0"
        with contextlib.suppress(OSError):
            self._to_client(_message(b"E", fields))

    # --- statements ----------------------------------------------------------------------

    def _context(self) -> Context:
        return Context(in_transaction=self.status in (b"T", b"E"), flavour=self.settings.flavour)

    def _statement(self, sql: str, parameters: int) -> str:
        try:
            return self._checked(sql, parameters)
        except Exception as exc:  # the stand-in's own failure fails the statement, not the session
            message = f"the Redshift stand-in failed on this statement: {type(exc).__name__}: {exc}"
            print(f"redshift stand-in: {message}", file=self.server.log, flush=True)
            return _refusal_sql("XX000", message, sql, parameters)

    def _checked(self, sql: str, parameters: int) -> str:
        refusal = check(sql, self._context())
        self.server.record.add(sql, refusal)
        if refusal is not None:
            print(f"redshift stand-in: {refusal.message}", file=self.server.log, flush=True)
            return _refusal_sql("0A000", refusal.message, sql, parameters)
        if code(sql)[:1] and code(sql)[0].lower == "copy":
            return self._copy(sql, parameters)
        return for_postgres(sql)

    def _simple_query(self, query: str) -> str:
        try:
            statements = split_statements(query)
        except UnterminatedLiteral:
            statements = [query]
        return ";\n".join(self._statement(s, 0) for s in statements) or query

    # --- COPY ----------------------------------------------------------------------------

    def _copy(self, sql: str, parameters: int) -> str:
        """COPY as a statement of the client's session: the stand-in reads S3 now (the
        manifest, its parts, the target's widths as this session sees it) and hands the rows
        over inside the statement, so they land in the client's transaction."""
        try:
            statement = s3copy.parse(sql)
            self.server.record.copies.append(sql)
            rows, errors = s3copy.read_rows(
                statement, self.settings.s3, lambda: self._widths(statement.into),
                self.settings.iam_role,
            )  # fmt: skip
            if len(errors) > statement.maxerror:
                s3copy.record_errors(self._admin_connection(), errors, self.backend_pid,
                                     statement.table)  # fmt: skip
                raise s3copy.failure(statement, self.settings.flavour == SERVERLESS)
        except s3copy.CopyRefused as exc:
            return _refusal_sql(exc.sqlstate, exc.message, sql, parameters)
        columns = [f'"{c}"' for c in statement.columns]
        tag = f"$rs{secrets.token_hex(6)}$"
        return (
            f"insert into {statement.into} ({', '.join(columns)}) "
            f"select {', '.join(f'r.{c}' for c in columns)} "
            f"from pg_catalog.redshift_standin_copy_rows({tag}{json.dumps(rows)}{tag}) "
            f"as j (doc), lateral jsonb_populate_record(null::{statement.into}, j.doc) as r"
        )

    def _admin_connection(self) -> Any:
        if self._admin is None or self._admin.closed:
            self._admin = self.settings.admin(self.database)
        return self._admin

    def _widths(self, relation: str) -> dict[str, int]:
        """The byte widths of ``relation``'s character columns, as this session sees it (a
        temporary table is visible only here), asked on the client's own connection."""
        rows = self._ask(
            "select a.attname, a.atttypmod - 4 from pg_attribute a "
            f"where a.attrelid = to_regclass('{relation.replace(chr(39), chr(39) * 2)}') "
            "and a.attnum > 0 and a.atttypmod > 4 and not a.attisdropped"
        )
        return {name: int(width) for name, width in rows}

    def _ask(self, sql: str) -> list[tuple[str, ...]]:
        """Run a query of the stand-in's own on the client's session, between the client's
        round trips (the client waits for our answer before it sends on)."""
        assert self.pg is not None
        answers: queue.Queue[tuple[bytes, bytes]] = queue.Queue()
        with self._divert_lock:
            self._diverted = answers
        try:
            self.pg.sendall(_message(b"Q", sql.encode() + b"\0"))
            rows: list[tuple[str, ...]] = []
            failed = None
            while True:
                kind, payload = answers.get(timeout=60)
                if kind == b"D":
                    (count,) = struct.unpack("!h", payload[:2])
                    values, index = [], 2
                    for _ in range(count):
                        (size,) = struct.unpack("!i", payload[index : index + 4])
                        index += 4
                        values.append(payload[index : index + size].decode() if size >= 0 else "")
                        index += max(size, 0)
                    rows.append(tuple(values))
                elif kind == b"E":
                    failed = _error_fields(payload).get("M", "error")
                elif kind == b"Z":
                    break
            if failed:
                return []
            return rows
        finally:
            with self._divert_lock:
                self._diverted = None


def _refusal_sql(sqlstate: str, message: str, original: str, parameters: int) -> str:
    """A statement that fails with ``message`` when executed, taking the parameters the
    original declared (so the client's Bind still matches)."""
    count = max([parameters] + [int(t.text[1:]) for t in _safe_code(original) if t.kind == "param"])
    tag = f"$rs{secrets.token_hex(4)}$"
    sql = f"select pg_catalog.redshift_standin_refuse('{sqlstate}', {tag}{message}{tag})"
    if count:
        sql += " from (select " + ", ".join(f"${i}::text" for i in range(1, count + 1)) + ") as p"
    return sql


def _safe_code(sql: str) -> list[Any]:
    try:
        return code(sql)
    except UnterminatedLiteral:
        return []
