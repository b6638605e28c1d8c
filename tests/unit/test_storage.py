"""Locations (paths, URLs, ObjectStoragePath) and the configured staging location: each decision, fast."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from cc_provider import get_provider_info, staging, storage


def put(location: str, content: bytes) -> str:
    with storage.open_write(location) as handle:
        handle.write(content)
    return location


@pytest.mark.parametrize(
    "location, local",
    [
        ("/data/people.csv", "/data/people.csv"),
        ("people.csv", "people.csv"),
        ("file:///data/people.csv", "/data/people.csv"),
        (ObjectStoragePath("file:///data/people.csv"), "/data/people.csv"),
        ("memory://bucket/people.csv", None),
        ("s3://aws_default@bucket/people.csv", None),
        (ObjectStoragePath("memory://bucket/people.csv"), None),
    ],
)
def test_local_paths_are_read_in_place_and_anything_else_is_an_object(location, local):
    assert storage.local_path(location) == local
    assert storage.is_remote(location) is (local is None)


def test_a_url_keeps_its_connection_id():
    path = ObjectStoragePath("memory://my_conn@bucket/staging/x.csv")
    again = storage.as_storage_path(storage.url(path))
    assert (again.conn_id, again.path) == ("my_conn", "/bucket/staging/x.csv")


def test_a_local_source_is_read_in_place(tmp_path):
    source = tmp_path / "people.csv"
    source.write_text("email\n")
    assert storage.readable(str(source), str(tmp_path / "work")) == str(source)
    assert not (tmp_path / "work").exists()


def test_an_object_source_is_copied_under_its_own_name(bucket, tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "CHUNK_BYTES", 7)  # several chunks
    content = b"email\n" + b"".join(f"p{i}@example.com\n".encode() for i in range(50))
    local = storage.readable(put(f"{bucket}/in/people.jsonl", content), str(tmp_path))
    assert local == str(tmp_path / "source" / "people.jsonl")  # the suffix tells CSV from JSON
    assert (tmp_path / "source" / "people.jsonl").read_bytes() == content


def test_an_object_identity_changes_with_its_content_not_with_a_new_look(bucket):
    location = put(f"{bucket}/people.csv", b"email\na@example.com\n")
    first = storage.identity(location)
    assert first["url"] == location and first["size"] == 20 and first["version"]
    assert storage.identity(location) == first
    put(location, b"email\nb@example.com\n")  # the same size
    assert storage.identity(location) != first


def test_a_writable_object_is_uploaded_at_the_end_and_its_local_file_removed(bucket, tmp_path):
    target = f"{bucket}/out/rejects.csv"
    with storage.writable(target, str(tmp_path)) as local:
        with open(local, "w") as handle:
            handle.write("row_number\n1\n")
        assert not storage.exists(target)  # not before the block ends
    assert storage.open_read(target).read() == b"row_number\n1\n"
    assert list((tmp_path / "upload").iterdir()) == []


def test_appending_to_an_object_starts_from_its_content(bucket, tmp_path):
    target = put(f"{bucket}/rejects.csv", b"header\nlocal\n")
    with storage.writable(target, str(tmp_path), append=True) as local, open(local, "a") as handle:
        handle.write("api\n")
    assert storage.open_read(target).read() == b"header\nlocal\napi\n"


def test_what_was_written_before_a_failure_is_uploaded(bucket, tmp_path):
    target = f"{bucket}/rejects.csv"
    with pytest.raises(RuntimeError), storage.writable(target, str(tmp_path)) as local:
        with open(local, "w") as handle:
            handle.write("partial\n")
        raise RuntimeError("the import failed")
    assert storage.open_read(target).read() == b"partial\n"


def test_a_local_writable_is_the_path_itself(tmp_path):
    target = str(tmp_path / "rejects.csv")
    with storage.writable(target, str(tmp_path / "work")) as local:
        assert local == target


def test_the_staging_url_defaults_under_airflow_home(monkeypatch):
    monkeypatch.delenv("AIRFLOW__CONSTANT_CONTACT__STAGING_URL", raising=False)
    monkeypatch.delenv(staging.STAGING_ENV, raising=False)
    url = staging.staging_url()  # Airflow fills in {AIRFLOW_HOME} of the declared default when it loads its config
    assert url.endswith("/staging") and "{" not in url and not storage.is_remote(url)
    assert os.path.basename(os.path.dirname(url)).startswith("cc-provider-airflow-home-")  # tests/conftest.py's


def test_airflow_home_in_a_configured_url_is_replaced(monkeypatch, tmp_path):
    monkeypatch.delenv(staging.STAGING_ENV, raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CONSTANT_CONTACT__STAGING_URL", "{AIRFLOW_HOME}/cc")
    assert staging.staging_url() == f"{tmp_path}/cc"


def test_a_local_run_folder_is_created_and_named_safely(monkeypatch, tmp_path):
    monkeypatch.delenv(staging.STAGING_ENV, raising=False)
    monkeypatch.setenv("AIRFLOW__CONSTANT_CONTACT__STAGING_URL", str(tmp_path / "staging"))
    folder = staging.run_staging_dir("manual__2026-01-01T00:00:00+00:00", "part")
    expected = tmp_path / "staging" / "manual__2026-01-01T00_00_00_00_00" / "part"
    assert str(folder) == expected.as_uri()
    assert expected.is_dir()


def test_the_staging_url_is_read_from_the_config(monkeypatch, bucket):
    monkeypatch.delenv(staging.STAGING_ENV, raising=False)
    monkeypatch.setenv("AIRFLOW__CONSTANT_CONTACT__STAGING_URL", f"{bucket}/staging")
    assert str(staging.run_staging_dir("run 1")) == f"{bucket}/staging/run_1"


def test_the_deprecated_environment_variable_still_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__CONSTANT_CONTACT__STAGING_URL", "memory://elsewhere")
    monkeypatch.setenv(staging.STAGING_ENV, str(tmp_path))
    assert staging.staging_url() == str(tmp_path)


def test_staging_url_is_declared_for_airflow_config():
    option = get_provider_info()["config"][staging.CONFIG_SECTION]["options"][staging.CONFIG_OPTION]
    assert option["default"] == staging.DEFAULT_STAGING_URL
    assert option["type"] == "string"


def test_rows_emails_and_rejects_are_staged_in_object_storage(bucket):
    db = sqlite3.connect(":memory:")
    cursor = db.execute(
        "SELECT 'a@example.com' AS email, 'A' AS first_name UNION ALL SELECT 'bad', 'B' UNION ALL "
        "SELECT 'C@example.com', 'C'"
    )
    rows = f"{bucket}/run/rows.jsonl"
    assert staging.write_cursor_rows(cursor, ObjectStoragePath(rows), fetch_size=2) == 3
    assert list(staging.iter_valid_emails(rows)) == ["a@example.com", "c@example.com"]
    assert staging.write_valid_emails(rows, f"{bucket}/run/expected.txt") == 2
    with staging.open_text(f"{bucket}/run/expected.txt") as handle:
        assert handle.read() == "a@example.com\nc@example.com\n"
    with staging.prepared_import(rows, rejects_path=f"{bucket}/run/rejects.csv") as prepared:
        assert len(list(prepared.records())) == 2
    with staging.open_text(f"{bucket}/run/rejects.csv") as handle:
        assert "bad" in handle.read()


class TestLocalFiles:
    """An import's source and rejects file as local files: what the import operators' prepare() receives."""

    def test_local_files_are_used_in_place(self, tmp_path):
        source = tmp_path / "people.csv"
        source.write_text("email\na@example.com\n")
        with storage.local_files(str(source), str(tmp_path / "rejects.csv"), str(tmp_path / "work")) as files:
            assert files == storage.LocalFiles(str(source), str(tmp_path / "rejects.csv"), None)
        assert not (tmp_path / "work").exists()

    def test_an_object_source_is_identified_then_copied_and_its_rejects_uploaded_at_the_end(self, bucket, tmp_path):
        source = put(f"{bucket}/in/people.csv", b"email\na@example.com\n")
        rejects = f"{bucket}/out/rejects.csv"
        with storage.local_files(source, rejects, str(tmp_path)) as files:
            assert files.remote_source == storage.identity(source)
            assert files.source is not None and files.source.startswith(str(tmp_path))
            assert Path(files.source).read_bytes() == b"email\na@example.com\n"
            assert files.rejects is not None and files.rejects.startswith(str(tmp_path))
            with open(files.rejects, "w") as handle:
                handle.write("row_number,column,value,reason\n")
            assert not storage.exists(rejects)  # uploaded when the block ends, not before
        with storage.open_read(rejects) as handle:
            assert handle.read() == b"row_number,column,value,reason\n"

    def test_no_source_and_no_rejects(self, tmp_path):
        with storage.local_files(None, None, str(tmp_path)) as files:
            assert files == storage.LocalFiles(None, None, None)


class TestScratchDirectory:
    def test_it_lives_for_the_block_and_is_removed_after(self, tmp_path, monkeypatch):
        monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
        with storage.scratch_directory("import") as directory:
            assert os.path.isdir(directory) and os.path.basename(directory).startswith("cc-provider-import-")
            (Path(directory) / "body.json").write_text("{}")
        assert not os.path.exists(directory)

    def test_a_killed_task_folder_is_swept_and_a_live_one_is_kept(self, tmp_path, monkeypatch):
        import multiprocessing
        import signal

        monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
        ready = multiprocessing.get_context("fork").Event()

        def task() -> None:
            with storage.scratch_directory("import") as directory:
                (Path(directory) / "body.json").write_text("{}")
                ready.set()
                time.sleep(60)

        child = multiprocessing.get_context("fork").Process(target=task)
        child.start()
        try:
            assert ready.wait(10)
            (held,) = tmp_path.glob("cc-provider-import-*")
            stranger = tmp_path / "cc-other-folder"
            stranger.mkdir()
            assert storage.sweep_dead_scratch(str(tmp_path)) == []  # the owner is alive
            assert held.exists()
        finally:
            os.kill(child.pid, signal.SIGKILL)  # as a lost worker: no clean-up runs
            child.join(10)
        assert held.exists()  # left behind...
        with storage.scratch_directory("import"):  # ...until the next task on this worker starts
            assert not held.exists()
        assert stranger.exists()  # only the provider's own folders are touched
