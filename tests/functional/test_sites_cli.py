"""The site registry CLI (python -m infra.sites) on a moto table."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import sites

KNOWLEDGE = str(Path(__file__).resolve().parents[2] / "infra/local/demo-knowledge.json")


def run(capsys, *argv: str) -> tuple[int, object, str]:
    code = sites.main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_create_list_show_and_update_a_site(data, capsys):
    code, created, _ = run(capsys, "create", "acme", "--origin", "https://www.acme.example/",
                           "--origin", "HTTPS://Shop.Acme.Example", "--knowledge", KNOWLEDGE,
                           "--title", "Acme help")
    assert code == 0
    assert created["origins"] == ["https://shop.acme.example", "https://www.acme.example"], \
        "origins are normalized (lower case, no trailing slash) and sorted"
    assert created["knowledge_entries"] > 0 and created["widget"] == {"title": "Acme help"}
    code, listed, _ = run(capsys, "list")
    assert code == 0 and {s["site_key"] for s in listed} >= {"demo", "other", "acme"}
    code, _, _ = run(capsys, "update", "acme", "--add-origin", "http://localhost:3000",
                     "--remove-origin", "https://shop.acme.example", "--greeting", "Hello!")
    assert code == 0
    code, shown, _ = run(capsys, "show", "acme")
    assert shown["origins"] == ["http://localhost:3000", "https://www.acme.example"]
    assert shown["widget"] == {"title": "Acme help", "greeting": "Hello!"}
    # The origin index follows the site: the removed origin no longer passes a preflight.
    assert data.sites.origin_is_listed("http://localhost:3000")
    assert not data.sites.origin_is_listed("https://shop.acme.example")


def test_the_cli_site_is_served_by_the_api(data, http, capsys):
    run(capsys, "create", "acme", "--origin", "https://www.acme.example", "--knowledge", KNOWLEDGE)
    resp = http.init("acme", origin="https://www.acme.example")
    assert resp.status_code == 201, resp.body


@pytest.mark.parametrize("argv,needle", [
    (["create", "demo", "--origin", "https://x.example"], "exists"),
    (["create", "bad key!", "--origin", "https://x.example"], "site key"),
    (["create", "acme", "--origin", "https://x.example/path"], "not an origin"),
    (["create", "acme", "--origin", "ftp://x.example"], "not an origin"),
    (["create", "acme", "--origin", "https://x.example", "--knowledge", "/no/such/file.json"], "cannot read"),
    (["update", "nope", "--add-origin", "https://x.example"], "no site"),
    (["update", "demo", "--remove-origin", "http://127.0.0.1:8080", "--remove-origin", "http://localhost:8080"],
     "1 to"),
    (["show", "nope"], "no site"),
])
def test_bad_cli_input_is_refused_with_a_message_and_changes_nothing(data, capsys, argv, needle):
    before = data.sites.list()
    code, out, err = run(capsys, *argv)
    assert code == 2 and out is None, f"expected exit 2 and no output, got {code} {out}"
    assert needle in err, f"expected {needle!r} in the error, got {err!r}"
    assert data.sites.list() == before, "a refused command must not change any site"


def test_a_knowledge_file_with_a_broken_entry_is_refused(data, capsys, tmp_path):
    bad = tmp_path / "kb.json"
    bad.write_text(json.dumps({"entries": [{"id": "x", "questions": ["q?"]}]}))
    code, _, err = run(capsys, "create", "acme", "--origin", "https://x.example", "--knowledge", str(bad))
    assert code == 2 and "answer" in err
    assert data.sites.get("acme") is None
