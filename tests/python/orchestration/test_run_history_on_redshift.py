"""The daily job's run record on Redshift's rules (the Redshift stand-in): its literals are
written as Redshift reads them (a backslash is an escape there) and its message is cut to the
column's width in bytes, which is what Redshift's VARCHAR counts."""

from __future__ import annotations

import os

import pytest

from loader.destinations.base import cut_utf8
from loader.engines import DestinationOptions, open_destination
from loader.profiles import load_target
from orchestration import run_history

pytestmark = [pytest.mark.postgres, pytest.mark.s3]


def test_a_message_with_backslashes_and_multibyte_text_is_recorded_whole_or_cut_by_bytes(
    redshift_standin,
) -> None:
    _, config = load_target("redshift")
    options = DestinationOptions(
        iam_role=os.environ["SPARKIFY_REDSHIFT_IAM_ROLE"],
        manifest_prefix=os.environ["SPARKIFY_MANIFEST_PREFIX"],
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
    )
    record = run_history.RunRecord(
        run_id="run-1", job="daily", target="redshift", started_at=run_history.utcnow()
    )
    message = "config error: C:\\sparkify\\profiles.yml is not a file\\ " + "Björk " * 900
    with open_destination(config, options) as dest:
        run_history.start(dest, record)
        record.finish(2, message)
        run_history.finish(dest, record)
        [(recorded, outcome)] = dest.query(
            "select message, outcome from staging.job_runs where run_id = ?", ("run-1",)
        )
    assert outcome == "config_error"
    assert recorded == cut_utf8(message, run_history.MESSAGE_BYTES)
    assert recorded.startswith("config error: C:\\sparkify\\profiles.yml")
    assert len(recorded.encode()) <= run_history.MESSAGE_BYTES < len(message.encode())
