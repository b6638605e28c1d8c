"""The API's rejections written to the rejects file, without a server: what the file and the log say."""

from __future__ import annotations

import csv

from cc_provider.operators.landing import write_api_rejects
from tests.recording_log import RecordingLog

UNNAMED = {"activity_id": "a1", "error_count": 2, "correctable_count": 0, "activity_errors": []}


def test_unnamed_rejections_are_one_line_of_the_request_and_the_log_names_the_object(tmp_path):
    local = tmp_path / "rejects.csv"
    log = RecordingLog()
    named, unnamed = write_api_rejects(
        None, str(local), [UNNAMED], None, log, shown_as="s3://aws_default@bucket/run/rejects.csv"
    )
    assert (named, unnamed) == (0, 2)
    with local.open(newline="") as handle:
        text = " ".join(",".join(row) for row in csv.reader(handle))
    assert "2 of the ? contact(s) of request 1" in text
    (warning,) = log.messages("warning")
    assert "s3://aws_default@bucket/run/rejects.csv" in warning and str(tmp_path) not in warning


def test_without_a_name_the_log_names_the_file_written(tmp_path):
    local = tmp_path / "rejects.csv"
    log = RecordingLog()
    write_api_rejects(None, str(local), [UNNAMED], None, log)
    assert str(local) in log.messages("warning")[0]


def test_an_activity_without_rejections_writes_nothing(tmp_path):
    local = tmp_path / "rejects.csv"
    log = RecordingLog()
    clean = {"activity_id": "a2", "error_count": 0, "activity_errors": []}
    assert write_api_rejects(None, str(local), [clean], None, log) == (0, 0)
    assert log.records == []
