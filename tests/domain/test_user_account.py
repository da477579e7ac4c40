"""Account events on the User aggregate: stored, reloaded, and compatible with old streams and
snapshots (recorded before the events existed)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent

from domain.application import Labeling
from domain.errors import Conflict, NotFound
from domain.user import User, user_id

GOLDEN = Path(__file__).parent.parent / "golden"


@pytest.fixture()
def app(tmp_path: Path) -> Labeling:
    return Labeling(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(tmp_path / "events.sqlite")})


def test_the_golden_user_loads_enabled_with_nothing_revoked(app: Labeling) -> None:
    rows = [json.loads(line) for line in (GOLDEN / "events-v1.jsonl").read_text().splitlines()]
    users = [r for r in rows if r["topic"].startswith("domain.user:")]
    assert users
    app.recorder.insert_events([StoredEvent(
        originator_id=UUID(r["originator_id"]), originator_version=r["originator_version"],
        topic=r["topic"], state=base64.b64decode(r["state"])) for r in users])
    user = app.user("ANN")
    assert (user.username, user.is_admin, user.disabled) == ("ann", True, False)
    assert user.tokens_revoked_at("login") is None and user.tokens_revoked_at("api") is None
    assert user.accepts_token("login", datetime(2000, 1, 1, tzinfo=UTC))


def test_account_events_are_stored_and_reload(app: Labeling, tmp_path: Path) -> None:
    app.register_user("Ann", "password123", is_admin=True)
    before = datetime.now(UTC)
    _, position = app.revoke_user_tokens("ann", "root", ["api"])
    assert position is not None
    app.disable_user("ANN", "root")
    assert app.disable_user("ann", "root")[1] is None  # already disabled: nothing recorded
    app.enable_user("ann", None)
    app.reset_password("ann", "another-password", "root")

    again = Labeling(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                          "SQLITE_DBNAME": str(tmp_path / "events.sqlite")})
    user = again.user("ann")
    events = list(again.events.get(user_id("ann")))
    assert [type(e).__name__ for e in events] == [
        "UserRegistered", "SessionsRevoked", "UserDisabled", "UserEnabled", "PasswordChanged",
        "SessionsRevoked"]
    stored = again.recorder.select_events(user_id("ann"))
    assert stored[2].topic == "domain.user:User.UserDisabled"
    assert [getattr(e, "actor", "-") for e in events[1:]] == [
        "root", "root", None, "-", "root"]
    assert user.disabled is False and user.check_password("another-password")
    enabled_at = events[3].timestamp
    assert user.tokens_revoked_at("api") == enabled_at  # enabling cut off every kind
    assert user.tokens_revoked_at("login") == events[5].timestamp
    assert not user.accepts_token("api", before)
    assert not user.accepts_token("login", enabled_at + timedelta(microseconds=1))
    assert user.accepts_token("api", enabled_at + timedelta(microseconds=1))
    assert user.accepts_token("login", datetime.now(UTC))
    again.disable_user("ann", None)
    assert not again.user("ann").accepts_token("login", datetime.now(UTC))


def test_an_admin_cannot_disable_themselves_through_the_api(app: Labeling) -> None:
    app.register_user("root", "password123", is_admin=True)
    with pytest.raises(Conflict):
        app.disable_user("ROOT", "root")
    assert not app.user("root").disabled
    app.disable_user("root", None)  # the command line may (and can enable them again)
    assert app.user("root").disabled
    with pytest.raises(NotFound):
        app.disable_user("nobody", None)


def test_a_user_snapshot_from_before_the_account_events_still_loads(app: Labeling) -> None:
    user = User.register("old", "password123")
    state = Snapshot.take(user)
    old_state = {k: v for k, v in state.state.items()
                 if k not in ("_disabled", "_login_tokens_revoked_at", "_api_tokens_revoked_at")}
    old = Snapshot(originator_id=state.originator_id,
                   originator_version=state.originator_version, timestamp=state.timestamp,
                   topic=state.topic, state=old_state)
    restored = app.mapper.to_domain_event(app.mapper.to_stored_event(old)).mutate(None)
    assert isinstance(restored, User)
    assert restored.disabled is False and restored.tokens_revoked_at("login") is None
    # A snapshot taken now keeps the revocation times as datetimes.
    user.revoke_tokens(None)
    user.disable(None)
    new = app.mapper.to_domain_event(app.mapper.to_stored_event(Snapshot.take(user)))
    again = new.mutate(None)
    assert isinstance(again, User) and again.disabled
    assert again.tokens_revoked_at("api") == user.tokens_revoked_at("api") is not None
