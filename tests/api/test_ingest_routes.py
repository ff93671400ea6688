"""POST /ingest: a bundle uploaded as one zip or as its files goes through the same ingestion
as `okr ingest` (the contract examples give the report `expected.json` says) and is kept in the
archive; unknown names are reported; hostile uploads (names reaching outside the folder, links,
encrypted or damaged zips, zip bombs, too many files, bodies too large) are refused and leave
nothing behind."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api_calls import bearer, error_detail
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.warehouse import ENTITY_TABLES, open_warehouse, quarantine


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, str]:
    """An empty warehouse (with an editor token), as the contract examples' report needs."""
    monkeypatch.setenv("OKR_DATA_DIR", str(tmp_path / "empty"))
    settings = load_settings()
    return settings, jobs.create_token(settings, "uploader", "editor").token


def _zip(files: dict[str, bytes], **info: Any) -> io.BytesIO:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            entry = zipfile.ZipInfo(name)
            for key, value in info.get(name, {}).items():
                setattr(entry, key, value)
            archive.writestr(entry, content, zipfile.ZIP_DEFLATED)
    data.seek(0)
    return data


def _encrypted(data: io.BytesIO) -> io.BytesIO:
    """The zip with its (one) entry flagged as encrypted, in its local and central headers
    (zipfile writes no encrypted entries)."""
    raw = bytearray(data.getvalue())
    for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = raw.index(signature)
        raw[start + at] |= 0x1
    return io.BytesIO(bytes(raw))


def _bundle_files(bundle: Path, folder: str = "") -> dict[str, bytes]:
    return {folder + path.name: path.read_bytes() for path in sorted(bundle.iterdir())}


def _upload(client: FlaskClient, token: str, *files: tuple[io.BytesIO, str]) -> Any:
    return client.post(
        "/api/v1/ingest",
        data={"files": list(files)},
        content_type="multipart/form-data",
        headers=bearer(token),
    )


def _left_behind(settings: Settings) -> list[Path]:
    """What refused uploads would have left: anything in the upload folder or the archive."""
    folders = [jobs.upload_folder(settings), settings.path("archive")]
    return [entry for folder in folders if folder.is_dir() for entry in folder.iterdir()]


def _entities(body: dict[str, Any]) -> dict[str, Any]:
    return body["entities"]


def test_a_zipped_bundle_is_ingested_as_okr_ingest_ingests_it(
    empty: tuple[Settings, str], contract_bundle: Path
):
    settings, token = empty
    client = create_app(settings).test_client()
    expected = json.loads((contract_bundle.parent / "expected.json").read_text())["entities"]
    files = _bundle_files(contract_bundle, "bundle/") | {
        "bundle/README.txt": b"notes",
        "bundle/deeper/objectives.csv": b"objective_id\n",
    }
    answer = _upload(client, token, (_zip(files), "bundle.zip"))
    assert answer.status_code == 200, answer.get_data(True)
    body = answer.get_json()
    assert _entities(body) == expected
    assert sorted(body["files"]) == sorted(p.name for p in contract_bundle.iterdir())
    assert sorted(body["ignored"]) == ["bundle/README.txt", "bundle/deeper/objectives.csv"]
    assert any("legacy_code" in warning for warning in body["warnings"])

    # kept in the archive, which the quarantine names; nothing left in the upload folder
    archived = Path(body["archived"])
    assert archived.parent == settings.path("archive") and body["source"] == str(archived)
    assert sorted(p.name for p in archived.iterdir()) == sorted(body["files"])
    assert not any(jobs.upload_folder(settings).iterdir())
    with open_warehouse(settings).connect() as conn:
        sources = set(conn.execute(select(quarantine.c.source)).scalars())
    assert sources and all(source.startswith(str(archived)) for source in sources)

    again = _upload(client, token, (_zip(files), "bundle.zip")).get_json()
    for counts in _entities(again).values():
        assert counts["stored"] == 0
        assert counts["read"] == counts["unchanged"] + counts["quarantined"]


def test_the_files_themselves_give_the_same_report(
    empty: tuple[Settings, str], contract_bundle: Path
):
    settings, token = empty
    client = create_app(settings).test_client()
    expected = json.loads((contract_bundle.parent / "expected.json").read_text())["entities"]
    parts = [
        (io.BytesIO(content), name) for name, content in _bundle_files(contract_bundle).items()
    ]
    parts.append((io.BytesIO(b"%PDF"), "slides.pdf"))
    answer = _upload(client, token, *parts)
    assert answer.status_code == 200, answer.get_data(True)
    body = answer.get_json()
    assert _entities(body) == expected and body["ignored"] == ["slides.pdf"]
    with open_warehouse(settings).connect() as conn:
        objectives = ENTITY_TABLES["objectives"]
        title = conn.execute(
            select(objectives.c.title).where(objectives.c.objective_id == "O-1")
        ).scalar_one()
    assert title == "Grow enterprise revenue"


def test_a_zip_with_its_files_at_the_top(empty: tuple[Settings, str], contract_bundle: Path):
    settings, token = empty
    client = create_app(settings).test_client()
    answer = _upload(client, token, (_zip(_bundle_files(contract_bundle)), "export"))
    assert answer.status_code == 200, answer.get_data(True)  # known as a zip by its content
    assert answer.get_json()["totals"]["read"] == 40


UNSAFE_NAMES = [
    "../objectives.csv",
    "bundle/../../objectives.csv",
    "/etc/objectives.csv",
    "C:/objectives.csv",
    "bundle\\objectives.csv",
    "..\\objectives.csv",
]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_a_zip_entry_reaching_outside_is_refused_with_the_whole_upload(
    empty: tuple[Settings, str], name: str
):
    settings, token = empty
    client = create_app(settings).test_client()
    upload = _zip({"checks.csv": b"x", name: b"objective_id\n"})
    detail = error_detail(_upload(client, token, (upload, "b.zip")), 400, "bad_request")
    assert "unsafe" in detail
    assert _left_behind(settings) == []
    assert not (settings.data_dir.parent / "objectives.csv").exists()


@pytest.mark.parametrize(
    ("files", "info", "words"),
    [
        (
            {"objectives.csv": b"/etc/passwd"},
            {"objectives.csv": {"external_attr": (stat.S_IFLNK | 0o777) << 16}},
            "symbolic link",
        ),
        ({"objectives.csv": b"a", "objectives.CSV": b"b"}, {}, "twice"),
    ],
)
def test_links_and_repeats_are_refused(
    empty: tuple[Settings, str], files: dict[str, bytes], info: dict[str, Any], words: str
):
    settings, token = empty
    client = create_app(settings).test_client()
    detail = error_detail(
        _upload(client, token, (_zip(files, **info), "b.zip")), 400, "bad_request"
    )
    assert words in detail
    assert _left_behind(settings) == []


def test_the_same_entry_twice_is_refused(empty: tuple[Settings, str]):
    settings, token = empty
    client = create_app(settings).test_client()
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive, pytest.warns(UserWarning, match="Duplicate"):
        archive.writestr("objectives.csv", b"objective_id\n")
        archive.writestr("objectives.csv", b"objective_id,title\n")
    data.seek(0)
    detail = error_detail(_upload(client, token, (data, "b.zip")), 400, "bad_request")
    assert "twice" in detail
    assert _left_behind(settings) == []


def test_an_encrypted_entry_is_refused(empty: tuple[Settings, str]):
    settings, token = empty
    client = create_app(settings).test_client()
    upload = _encrypted(_zip({"objectives.csv": b"objective_id\n"}))
    detail = error_detail(_upload(client, token, (upload, "b.zip")), 400, "bad_request")
    assert "encrypted" in detail
    assert _left_behind(settings) == []


def test_a_zip_bomb_is_refused_before_it_is_unpacked(empty: tuple[Settings, str]):
    settings, token = empty
    small = settings.model_copy(
        update={"api": settings.api.model_copy(update={"upload_max_bytes": 1 << 20})}
    )
    client = create_app(small).test_client()
    bomb = _zip({"check_ins.jsonl": b"\n" * (8 << 20)})  # 8 MiB of newlines: a few KiB zipped
    assert len(bomb.getvalue()) < 64 << 10
    detail = error_detail(_upload(client, token, (bomb, "b.zip")), 413, "too_large")
    assert "api.upload_max_bytes" in detail
    assert _left_behind(settings) == []


def test_a_zip_whose_sizes_lie_is_refused(empty: tuple[Settings, str]):
    """The declared size says 10 bytes; the entry holds 2 MiB: unpacking stops at the lie."""
    settings, token = empty
    client = create_app(settings).test_client()
    content = b"objective_id,title\n" + b"O,x\n" * (512 << 10)
    data = _zip({"objectives.csv": content}).getvalue()
    size = len(content).to_bytes(4, "little")
    lying = data.replace(size, (10).to_bytes(4, "little"))  # local and central headers
    assert lying != data
    response = _upload(client, token, (io.BytesIO(lying), "b.zip"))
    assert "cannot be read" in error_detail(response, 400, "bad_request")
    assert _left_behind(settings) == []


def test_too_many_files_is_413(empty: tuple[Settings, str]):
    settings, token = empty
    few = settings.model_copy(
        update={"api": settings.api.model_copy(update={"upload_max_files": 3})}
    )
    client = create_app(few).test_client()
    names = ["objectives.csv", "key_results.csv", "check_ins.csv", "tasks.csv"]
    upload = _zip({name: b"x\n" for name in names})
    detail = error_detail(_upload(client, token, (upload, "b.zip")), 413, "too_large")
    assert "api.upload_max_files" in detail
    parts = [(io.BytesIO(b"x\n"), name) for name in names]
    error_detail(_upload(client, token, *parts), 413, "too_large")
    assert _left_behind(settings) == []


def test_a_body_over_max_body_bytes_is_413(empty: tuple[Settings, str]):
    settings, token = empty
    tiny = settings.model_copy(
        update={"api": settings.api.model_copy(update={"max_body_bytes": 4096})}
    )
    client = create_app(tiny).test_client()
    upload = (io.BytesIO(b"objective_id\n" + b"O\n" * 4096), "objectives.csv")
    error_detail(_upload(client, token, upload), 413, "too_large")
    assert _left_behind(settings) == []


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ([(b"PK\x03\x04 broken", "bundle.zip")], "not a readable zip"),
        ([(b"not a zip at all", "bundle.zip")], "not a readable zip"),
        ([(b"notes", "notes.txt"), (b"%PDF", "slides.pdf")], "no contract file"),
        ([(b"objective_id\n", "../objectives.csv")], "unsafe"),
        ([(b"objective_id\n", "a/objectives.csv")], "unsafe"),
        ([(b"objective_id\n", "objectives.csv"), (b"x", "objectives.csv")], "same name"),
        ([(b"PK\x05\x06" + bytes(18), "b.zip"), (b"objective_id\n", "objectives.csv")], "alone"),
        ([(b"PK\x05\x06" + bytes(18), "empty.zip")], "no contract file"),
    ],
)
def test_unusable_uploads_are_400_and_leave_nothing(
    empty: tuple[Settings, str], parts: list[tuple[bytes, str]], words: str
):
    settings, token = empty
    client = create_app(settings).test_client()
    files = [(io.BytesIO(content), name) for content, name in parts]
    detail = error_detail(_upload(client, token, *files), 400, "bad_request")
    assert words in detail
    assert _left_behind(settings) == []


def test_a_form_without_files_is_422(empty: tuple[Settings, str]):
    settings, token = empty
    client = create_app(settings).test_client()
    for data in ({}, {"files": "objectives.csv"}, {"other": (io.BytesIO(b"x"), "x.csv")}):
        response = client.post(
            "/api/v1/ingest", data=data, content_type="multipart/form-data", headers=bearer(token)
        )
        error_detail(response, 422, "invalid_request")
    response = client.post("/api/v1/ingest", json={"files": []}, headers=bearer(token))
    error_detail(response, 422, "invalid_request")


def test_a_viewer_may_not_ingest(client: FlaskClient, tokens: Any):
    upload = (io.BytesIO(b"objective_id\n"), "objectives.csv")
    error_detail(_upload(client, tokens.viewer, upload), 403, "forbidden")
