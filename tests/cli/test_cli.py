"""The ``labelwright`` command line, run as a user would: subprocesses on a fresh data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pycocotools.coco import COCO

BIN = str(Path(sys.executable).parent / "labelwright")
pytestmark = pytest.mark.slow


def lw(data: Path, *args: str, stdin: str | None = None, check: bool = True
       ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    result = subprocess.run([BIN, *args, "--data-dir", str(data)], input=stdin, text=True,
                            capture_output=True, env=env, timeout=180)
    if check:
        assert result.returncode == 0, result.stderr[-2000:]
    return result


def last_json(text: str) -> Any:
    start = text.rindex("\n{") + 1 if "\n{" in text else text.index("{")
    return json.loads(text[start:])


def test_demo_import_export_and_projections(tmp_path: Path) -> None:
    data = tmp_path / "data"
    version = subprocess.run([BIN, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("labelwright ")

    first = lw(data, "demo", "--no-serve")
    assert "ana" in first.stdout and "password" in first.stdout
    project_id = json.loads((data / "demo.json").read_text())["project_id"]
    lw(data, "demo", "--no-serve")  # idempotent: the same project, no duplicates
    assert json.loads((data / "demo.json").read_text())["project_id"] == project_id

    lw(data, "user", "add", "carol", "--password-stdin", stdin="carol-password\n")
    token = lw(data, "token", "create", "carol").stdout.strip()
    assert token.startswith("lw_")
    assert lw(data, "token", "create", "nobody", check=False).returncode == 2

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.new("RGB", (40 + i, 30), (i * 40, 10, 10)).save(photos / f"p{i}.png")
    (photos / "notes.png").write_bytes(b"not an image")
    imported = last_json(lw(data, "import-images", project_id, str(photos), "--quiet",
                            "--actor", "admin", check=False).stdout)
    assert imported["images"] == 3 and imported["new"] == 3
    assert [e["file"] for e in imported["errors"]] == [str(photos / "notes.png")]
    again = last_json(lw(data, "import-images", project_id, str(photos / "p0.png"), "--quiet",
                         "--actor", "admin").stdout)
    assert again == {"images": 1, "new": 0, "errors": []}

    results = [{"image_id": f"p{i}.png", "category_id": 1, "bbox": [1, 2, 10, 8],
                "score": 0.5 + i / 10} for i in range(3)]
    (tmp_path / "results.json").write_text(json.dumps(results))
    predicted = last_json(lw(data, "import-predictions", project_id,
                             str(tmp_path / "results.json"), "--model", "m",
                             "--model-version", "1", "--quiet", "--actor", "admin").stdout)
    assert predicted["images"] == 3 and predicted["annotations"] == 3
    position = predicted["position"]

    out = tmp_path / "labels.json"
    lw(data, "export", project_id, "--include-proposed", "-o", str(out))
    coco = COCO(str(out))
    assert {img["file_name"] for img in coco.imgs.values()} >= {"p0.png", "p1.png", "p2.png"}
    scores = sorted(a["score"] for a in coco.anns.values() if a.get("source") == "prelabel"
                    and a["bbox"] == [1, 2, 10, 8])
    assert scores == [0.5, 0.6, 0.7]
    before = tmp_path / "before.json"
    lw(data, "export", project_id, "--include-proposed", "--position", str(position - 3),
       "-o", str(before))
    assert len(COCO(str(before)).anns) == len(coco.anns) - 3
    assert lw(data, "export", project_id, "--position", "999999", check=False).returncode == 2

    status = last_json(lw(data, "projections", "status", "--catch-up").stdout)
    assert all(p["lag"] == 0 for p in status["projections"])
    rebuilt = last_json(lw(data, "projections", "rebuild", "--quiet").stdout)
    assert [p["position"] for p in rebuilt["projections"]] == [p["position"] for p in
                                                                status["projections"]]
    after = tmp_path / "after.json"
    lw(data, "export", project_id, "--include-proposed", "-o", str(after))
    assert after.read_bytes() == out.read_bytes()  # a rebuild changes nothing
    assert "up to date" in lw(data, "migrate").stdout


def test_user_accounts_from_the_command_line_bite_in_a_running_service(tmp_path: Path) -> None:
    """``user disable/enable/revoke-tokens/set-password`` run in their own process while a
    service (this process) serves the same data dir: it enforces them within its caches'
    lifetime."""
    import time

    import service_layer.auth_tokens as auth_tokens
    import web.authentication as authentication
    from tests.web.conftest import Site, sqlite_settings

    data = tmp_path / "data"
    lw(data, "user", "add", "boss", "--admin", "--password-stdin", stdin="boss-password\n")
    lw(data, "user", "add", "Carol", "--password-stdin", stdin="carol-password\n")
    api = lw(data, "token", "create", "CAROL").stdout.strip()  # any case: Carol's token
    bound = max(auth_tokens.CACHE_TTL, authentication.USER_CACHE_TTL) + 2.0
    site = Site(sqlite_settings(data), create_users=False)
    try:
        def me(token: str) -> int:
            return site.get("/me", None, headers={"Authorization": f"Bearer {token}"}
                            ).status_code

        def refused_in_time(token: str) -> None:
            start = time.monotonic()
            while me(token) != 401:
                assert time.monotonic() - start < bound, "still accepted"
                time.sleep(0.1)

        def login(password: str, username: str = "carol") -> Any:
            response = site.post("/auth/login", None, json={"username": username,
                                                            "password": password})
            site.client.cookies.clear()
            return response

        assert site.ok(site.get("/me", None, headers={"Authorization": f"Bearer {api}"})
                       )["username"] == "Carol"
        session = login("carol-password").json()["token"]
        assert me(session) == 200

        out = lw(data, "user", "revoke-tokens", "carol").stdout
        assert "2 token(s) of Carol revoked" in out
        refused_in_time(api)
        refused_in_time(session)

        assert lw(data, "user", "disable", "carol").stdout.startswith("user Carol disabled")
        assert login("carol-password").status_code == 403
        refused = lw(data, "token", "create", "carol", check=False)
        assert refused.returncode == 2 and "disabled" in refused.stderr
        assert "already disabled" in lw(data, "user", "disable", "carol").stdout
        assert lw(data, "user", "enable", "carol").stdout.startswith("user Carol enabled")
        session = login("carol-password").json()["token"]
        assert me(session) == 200

        out = lw(data, "user", "set-password", "carol", "--password-stdin",
                 stdin="brand-new-password\n").stdout
        assert "password of Carol set; 1 login session(s) ended" in out
        refused_in_time(session)
        assert login("carol-password").status_code == 401
        assert me(login("brand-new-password").json()["token"]) == 200

        for action in ("disable", "enable", "revoke-tokens"):
            missing = lw(data, "user", action, "nobody", check=False)
            assert missing.returncode == 2 and "no user 'nobody'" in missing.stderr
        missing = lw(data, "user", "set-password", "nobody", "--password-stdin",
                     stdin="whatever-password\n", check=False)
        assert missing.returncode == 2 and "no user 'nobody'" in missing.stderr
        boss = login("boss-password", "boss").json()["token"]
        site.settle()  # this process's read models pick up the other process's events
        users = site.ok(site.get("/users", None, headers={"Authorization": f"Bearer {boss}"},
                                 params={"min_position": site.head()}))
        assert {"username": "Carol", "is_admin": False, "disabled": False} in users["users"]
    finally:
        site.close()

