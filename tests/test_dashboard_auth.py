"""Users, roles, salted hashes, sessions, and the generated demo users file."""

from __future__ import annotations

import json

import pytest

from dashboard.auth import AuthError, Sessions, User, UserStore, demo_users, hash_password, verify_password


def test_hashes_are_salted_and_verify():
    a, b = hash_password("secret"), hash_password("secret")
    assert a["salt"] != b["salt"] and a["hash"] != b["hash"]
    assert verify_password("secret", a) and not verify_password("Secret", a)


def test_pbkdf2_records_verify_too():
    import hashlib

    salt = b"0123456789abcdef"
    rec = {"algo": "pbkdf2_sha256:1000", "salt": salt.hex(),
           "hash": hashlib.pbkdf2_hmac("sha256", b"pw", salt, 1000).hex()}
    assert verify_password("pw", rec) and not verify_password("px", rec)


def test_store_roundtrip_and_roles(tmp_path):
    store = UserStore()
    store.add("li", "dispatcher", "pw1")
    store.add("wang", "viewer", "pw2")
    path = tmp_path / "users.json"
    store.save(path)
    assert "pw1" not in path.read_text()
    loaded = UserStore.load(path)
    li = loaded.authenticate("li", "pw1")
    assert li == User("li", "dispatcher")
    assert li.may("acknowledge") and li.may("assign") and not li.may("reopen") and not li.may("merge")
    assert not loaded.authenticate("wang", "pw2").may("acknowledge")
    assert User("s", "supervisor").may("merge") and User("s", "supervisor").may("reopen")
    assert loaded.authenticate("li", "wrong") is None and loaded.authenticate("nobody", "pw1") is None


def test_bad_users_file_is_a_clear_error(tmp_path):
    p = tmp_path / "u.json"
    p.write_text(json.dumps({"users": [{"name": "x", "role": "admin", "salt": "00", "hash": "00"}]}))
    with pytest.raises(AuthError, match="unknown role"):
        UserStore.load(p)
    p.write_text("{not json")
    with pytest.raises(AuthError, match="cannot read"):
        UserStore.load(p)
    with pytest.raises(AuthError):
        UserStore().add("x", "root", "pw")


def test_demo_users_are_generated_once_and_work(tmp_path):
    path, creds = demo_users(tmp_path)
    assert set(creds) == {"viewer", "dispatcher", "supervisor"}
    again, creds2 = demo_users(tmp_path)
    assert again == path and creds2 == creds
    store = UserStore.load(path)
    assert store.authenticate("supervisor", creds["supervisor"]).role == "supervisor"


def test_sessions_issue_resolve_expire_and_screen_token():
    now = [0.0]
    s = Sessions("screen-abc", ttl_s=100, clock=lambda: now[0])
    tok = s.issue(User("li", "dispatcher"))
    assert s.resolve(tok).name == "li"
    assert s.resolve("screen-abc").role == "screen"
    assert s.resolve("") is None and s.resolve("forged") is None
    now[0] = 150
    assert s.resolve(tok) is None
    tok2 = s.issue(User("li", "dispatcher"))
    s.revoke(tok2)
    assert s.resolve(tok2) is None
