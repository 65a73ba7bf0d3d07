"""`cityops demo`: start the embedded broker and every service as child processes, and stop them cleanly.

Children run in their own sessions, so Ctrl-C reaches only this supervisor, which then stops them in
order (producers first, broker last): no orphans and no stack traces. Each service touches a
readiness marker (`streams.runtime.mark_ready`) once it is really serving; the URLs are printed
only when all of them are.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from streams.admin import create_topics
from streams.broker import EmbeddedBroker
from streams.runtime import run_dir
from streams.settings import load

SERVICES = ("worker", "dispatch", "dashboard", "simulator")


@dataclass
class Child:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class Demo:
    seed: int = 7
    speedup: float = 1.0
    sensors: int | None = None
    port: int | None = None
    ready_timeout: float = 60.0
    children: list[Child] = field(default_factory=list)
    _port: int = 0

    def run(self) -> int:
        t0 = time.monotonic()
        settings = load()
        var = settings.var_dir.resolve()
        logs = var / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        rdir = var / "run"
        shutil.rmtree(rdir, ignore_errors=True)
        os.environ["CITYOPS_RUN_DIR"] = str(rdir)
        run_dir(settings)

        broker: EmbeddedBroker | None = None
        stopping = False

        def on_term(*_: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_term)
        # a shell without job control starts background jobs with SIGINT ignored; Ctrl-C must always work
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            if settings.bootstrap:
                bootstrap = settings.bootstrap
            else:
                broker = EmbeddedBroker(log_path=logs / "broker.log")
                bootstrap = broker.start()
            create_topics(bootstrap, settings.partitions, settings.replication)
            port = self._port = self.port or settings.dashboard_port
            token = settings.screen_token or secrets.token_urlsafe(12)
            users_file, creds = _users(settings, var)
            env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "CITYOPS_RUN_DIR": str(rdir),
                   "CITYOPS_SEED_FLEET": "1", "CITYOPS_SCREEN_TOKEN": token,
                   "CITYOPS_DASHBOARD_PORT": str(port), "CITYOPS_VAR": str(var), "PYTHONUNBUFFERED": "1",
                   "CITYOPS_USERS": str(users_file)}
            self._start_children(env, logs)
            if not self._wait_ready(rdir, t0):
                return 1
            elapsed = time.monotonic() - t0
            host = settings.dashboard_host
            print(f"\ncityops is ready in {elapsed:.1f} s\n", flush=True)
            print(f"  big screen : http://{host}:{port}/bigscreen.html?token={token}", flush=True)
            print(f"  console    : http://{host}:{port}/console.html", flush=True)
            if creds:
                print("  sign in as : " + "   ".join(f"{u} / {pw}" for u, pw in creds.items()), flush=True)
            print(f"  Kafka      : KAFKA_BOOTSTRAP={bootstrap}   (try: cityops tail city.incidents)", flush=True)
            print(f"  logs       : {logs}\n\nPress Ctrl-C to stop.", flush=True)
            return self._watch()
        except KeyboardInterrupt:
            stopping = True
            print("\nstopping ...", flush=True)
            return 0
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self._stop_children()
            if broker is not None:
                broker.stop()
            if stopping:
                print("stopped.", flush=True)

    def _argv(self, name: str) -> list[str]:
        base = [sys.executable, "-m", "cityops.cli"]
        if name == "worker":
            return base + ["worker"]
        if name == "dispatch":
            # SLA timers and simulated field units run on the simulator's clock
            return base + ["dispatch", "--simulate-field", "--speedup", str(self.speedup)]
        if name == "dashboard":
            return base + ["dashboard"]
        # three hours of history first, sent at full speed, so the detectors are warm when the screen opens
        argv = base + ["simulate", "--seed", str(self.seed), "--speedup", str(self.speedup), "--warmup", "3h"]
        if self.sensors:
            argv += ["--sensors", str(self.sensors)]
        return argv

    def _start_children(self, env: dict[str, str], logs: Path) -> None:
        for name in SERVICES:
            child = Child(name, self._argv(name), logs / f"{name}.log")
            out = open(child.log, "wb")
            child.proc = subprocess.Popen(child.argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
            self.children.append(child)

    def _missing(self, rdir: Path) -> list[str]:
        missing = [n for n in SERVICES if n != "dashboard" and not (rdir / f"{n}.ready").exists()]
        if not _http_ok(f"http://127.0.0.1:{self._port}/healthz"):
            missing.append("dashboard")
        return missing

    def _wait_ready(self, rdir: Path, t0: float) -> bool:
        while time.monotonic() - t0 < self.ready_timeout:
            missing = self._missing(rdir)
            if not missing:
                return True
            dead = self._dead()
            if dead:
                self._report_dead(dead)
                return False
            time.sleep(0.2)
        missing = self._missing(rdir)
        print(f"not ready after {self.ready_timeout:.0f} s: {', '.join(missing)}", file=sys.stderr)
        for c in self.children:
            if c.name in missing:
                print(_tail(c.log), file=sys.stderr)
        return False

    def _watch(self) -> int:
        while True:
            dead = self._dead()
            if dead:
                self._report_dead(dead)
                return 1
            time.sleep(0.5)

    def _dead(self) -> list[Child]:
        return [c for c in self.children if c.proc is not None and c.proc.poll() is not None]

    def _report_dead(self, dead: list[Child]) -> None:
        for c in dead:
            print(f"{c.name} exited with code {c.proc.returncode if c.proc else '?'}; last log lines:",
                  file=sys.stderr)
            print(_tail(c.log), file=sys.stderr)

    def _stop_children(self) -> None:
        # producers first so the others can drain, then the rest together
        order = sorted(self.children, key=lambda c: 0 if c.name == "simulator" else 1)
        for c in order:
            _signal_group(c, signal.SIGTERM)
            if c.name == "simulator" and c.proc is not None:
                _wait(c.proc, 3)
        deadline = time.monotonic() + 8
        for c in order:
            if c.proc is not None:
                _wait(c.proc, max(0.1, deadline - time.monotonic()))
                if c.proc.poll() is None:
                    _signal_group(c, signal.SIGKILL)
                    _wait(c.proc, 2)
        self.children.clear()


def _users(settings, var: Path) -> tuple[Path, dict[str, str]]:
    """The console's users: the configured file, or demo users (one per role) created for this machine."""
    from dashboard.auth import demo_users

    if str(settings.users_file) not in ("", "."):
        return settings.users_file, {}
    return demo_users(var)


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return resp.status == 200
    except OSError:
        return False


def _signal_group(c: Child, sig: int) -> None:
    if c.proc is not None and c.proc.poll() is None:
        try:
            os.killpg(c.proc.pid, sig)
        except ProcessLookupError:
            pass


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
