"""The loader's Redshift path against the Redshift stand-in (support/redshift_standin): the real
redshift_connector over TLS, every statement checked against Redshift's rules, COPY done as
Redshift documents it, on a provisioned cluster and on Serverless."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.redshift_standin import PROVISIONED, SERVERLESS
from tests.python.loader.helpers import copy_days, stage

pytestmark = [pytest.mark.postgres, pytest.mark.s3]


@pytest.mark.parametrize("redshift_standin", [PROVISIONED, SERVERLESS], indirect=True)
def test_a_row_copy_refuses_is_named_by_its_object_and_line_on_either_flavour(
    redshift_standin, small_generated: Path, tmp_path: Path, capsys
) -> None:
    """Were Redshift to refuse a row the loader accepted (a width the loader does not know),
    the error names the row's origin and nothing is loaded. Serverless has no raw_line: the
    origin is read from the staged part SYS_LOAD_ERROR_DETAIL names."""
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1], songs=False)
    args = ("--target", "redshift", "--source", str(source), "--tables", "events")
    assert stage(*args) == 0
    columns = redshift_standin.execute(
        "select table_name || '.' || column_name, character_maximum_length "
        "from information_schema.columns where table_schema = 'staging' "
        "and column_name in ('_source_key', '_batch_id', 'object_key', 'batch_id')",
    )
    widths = dict(columns)
    # the bookkeeping's keys and ids sized for what they hold, not 65,535 bytes (AWS advises)
    assert widths["staging_events._source_key"] == 1024
    assert widths["staging_events._batch_id"] == 64
    assert widths["load_ledger.object_key"] == 1024 and widths["load_ledger.batch_id"] == 64
    redshift_standin.execute("delete from staging.staging_events; "
                "delete from staging.load_ledger; alter table staging.staging_events "
                'alter column "level" type varchar(3)')  # fmt: skip
    capsys.readouterr()
    assert stage(*args) == 1  # bad data, not a configuration error
    err = capsys.readouterr().err
    day = sorted((source / "log_data").rglob("*.json"))[0].relative_to(source).as_posix()
    assert "COPY refused rows the loader had accepted" in err
    assert f"{day}:" in err and "column level: String length exceeds DDL length" in err
    assert redshift_standin.execute("select count(*) from staging.staging_events") == [(0,)]
    assert redshift_standin.record.refusals == []  # every statement the loader sent passed


def test_the_loader_sets_no_socket_timeout_that_would_cut_a_long_copy_or_lock_wait(
    monkeypatch,
) -> None:
    import redshift_connector

    from loader.destinations.redshift import connect
    from loader.profiles import RedshiftConfig

    seen: dict = {}
    monkeypatch.setattr(redshift_connector, "connect", lambda **kwargs: seen.update(kwargs))
    connect(RedshiftConfig("h", 5439, "u", "p", "dev"))
    assert seen["timeout"] is None and seen["tcp_keepalive"] is True
