"""Who may see and do what: console users and roles from a JSON file, salted hashes, session tokens.

Users file (JSON): ``{"users": [{"name": "li", "role": "dispatcher", "salt": "<hex>",
"hash": "<hex>", "algo": "scrypt"}]}``. Roles: ``viewer`` (reads), ``dispatcher`` (works incidents),
``supervisor`` (also reopens, merges, splits, closes and overrides lifecycle guards). Big screens
present a separate screen token and are read-only. When no users file is configured a demo file is
generated under ``var_dir`` and its passwords are printed once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("viewer", "dispatcher", "supervisor")
SCREEN_ROLE = "screen"

#: Actions each role may send as dispatch commands (dispatch still enforces the lifecycle).
_DISPATCHER_ACTIONS = frozenset({
    "acknowledge", "assign", "reassign", "unassign", "arrive", "escalate", "note", "resolve", "false_alarm",
})
PERMISSIONS: dict[str, frozenset[str]] = {
    SCREEN_ROLE: frozenset(),
    "viewer": frozenset(),
    "dispatcher": _DISPATCHER_ACTIONS,
    "supervisor": _DISPATCHER_ACTIONS | {"reopen", "merge", "split", "close"},
}
#: Only supervisors may override a lifecycle guard (e.g. resolve without a unit on scene).
OVERRIDE_ROLES = frozenset({"supervisor"})

_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


class AuthError(ValueError):
    pass


def hash_password(password: str, salt: bytes | None = None) -> dict[str, str]:
    """A salted scrypt hash record for the users file."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return {"algo": "scrypt", "salt": salt.hex(), "hash": digest.hex()}


def verify_password(password: str, record: dict[str, str]) -> bool:
    salt = bytes.fromhex(record["salt"])
    algo = record.get("algo", "scrypt")
    if algo == "scrypt":
        digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    elif algo.startswith("pbkdf2"):  # "pbkdf2_sha256:<iterations>"
        _, _, iters = algo.partition(":")
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(iters or 600_000))
    else:
        return False
    return hmac.compare_digest(digest.hex(), record["hash"])


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def may(self, action: str) -> bool:
        return action in PERMISSIONS.get(self.role, frozenset())


@dataclass
class UserStore:
    """Users with their hash records; loaded from and saved to a JSON file."""

    records: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "UserStore":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AuthError(f"cannot read users file {path}: {exc}") from exc
        store = cls()
        for i, rec in enumerate(data.get("users", []) if isinstance(data, dict) else []):
            if not isinstance(rec, dict) or not {"name", "role", "salt", "hash"} <= rec.keys():
                raise AuthError(f"users file {path}: entry {i} needs name, role, salt and hash")
            if rec["role"] not in ROLES:
                raise AuthError(f"users file {path}: user {rec['name']!r} has unknown role {rec['role']!r}")
            store.records[str(rec["name"])] = {k: str(v) for k, v in rec.items()}
        return store

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"users": list(self.records.values())}, ensure_ascii=False, indent=1))
        os.chmod(tmp, 0o600)
        tmp.replace(path)

    def add(self, name: str, role: str, password: str) -> None:
        if role not in ROLES:
            raise AuthError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if not name or len(name) > 64:
            raise AuthError("user name must be 1..64 characters")
        self.records[name] = {"name": name, "role": role, **hash_password(password)}

    def authenticate(self, name: str, password: str) -> User | None:
        rec = self.records.get(name)
        if rec is None:
            # Hash anyway so a missing user costs the same time as a wrong password.
            verify_password(password, {"salt": "00" * 16, "hash": ""})
            return None
        return User(name, rec["role"]) if verify_password(password, rec) else None


def demo_users(var_dir: Path) -> tuple[Path, dict[str, str]]:
    """Create (once) var_dir/dashboard_users.json with one user per role; return path and passwords.

    Passwords of an existing demo file cannot be recovered, so they are kept beside it (mode 0600)
    for the demo operator to read; a production deployment configures CITYOPS_USERS instead.
    """
    path = Path(var_dir) / "dashboard_users.json"
    creds_path = Path(var_dir) / "dashboard_demo_credentials.json"
    if path.exists() and creds_path.exists():
        return path, json.loads(creds_path.read_text(encoding="utf-8"))
    store = UserStore()
    creds: dict[str, str] = {}
    for name, role in (("viewer", "viewer"), ("dispatcher", "dispatcher"), ("supervisor", "supervisor")):
        creds[name] = secrets.token_urlsafe(6)
        store.add(name, role, creds[name])
    store.save(path)
    creds_path.write_text(json.dumps(creds))
    os.chmod(creds_path, 0o600)
    return path, creds


class Sessions:
    """Opaque session tokens for signed-in users and the screen token, with an idle expiry."""

    def __init__(self, screen_token: str = "", ttl_s: float = 12 * 3600, clock=time.monotonic) -> None:
        self.screen_token = screen_token or secrets.token_urlsafe(16)
        self.ttl_s = ttl_s
        self._clock = clock
        self._tokens: dict[str, tuple[User, float]] = {}

    def issue(self, user: User) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (user, self._clock())
        return token

    def resolve(self, token: str) -> User | None:
        """The user behind a token (touching it), a screen pseudo-user, or None."""
        if not token:
            return None
        if hmac.compare_digest(token, self.screen_token):
            return User("screen", SCREEN_ROLE)
        hit = self._tokens.get(token)
        if hit is None:
            return None
        user, seen = hit
        now = self._clock()
        if now - seen > self.ttl_s:
            del self._tokens[token]
            return None
        self._tokens[token] = (user, now)
        return user

    def revoke(self, token: str) -> None:
        self._tokens.pop(token, None)
