"""Integration test harness: starts real PostgreSQL clusters, collectors and
agents in a temporary directory, on loopback and unix sockets only, and
stops them. Every wait is bounded."""

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("FL_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AGENT = os.path.join(BUILD, "agent", "faultline-agent")
COLLECTOR = os.path.join(BUILD, "collector", "faultline-collector")
CLI = os.path.join(BUILD, "collector", "faultline")
FL_SEND = os.path.join(BUILD, "tests", "fl-send")
DATA = os.path.join(SOURCE, "tests", "data")


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def wait_for(fn, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise Failure(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir():
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if cands:
        return os.path.dirname(cands[-1])
    path = shutil.which("initdb")
    if path:
        return os.path.dirname(os.path.realpath(path))
    raise Failure("PostgreSQL server binaries (initdb) not found; install postgresql")


class Postgres:
    """A private cluster in a temporary directory, unix socket only. initdb
    refuses to run as root, so as root the server runs as user postgres."""

    def __init__(self, root):
        self.root = root
        self.data = os.path.join(root, "pgdata")
        self.sock = os.path.join(root, "pgsock")
        self.port = free_port()  # only names the socket file; no TCP listener
        self.bindir = pg_bindir()
        self.as_user = None
        if os.geteuid() == 0:
            self.as_user = "postgres"
        os.makedirs(self.sock, exist_ok=True)
        os.makedirs(self.data, exist_ok=True)
        if self.as_user:
            pw = pwd.getpwnam(self.as_user)
            for d in (self.root, self.sock, self.data):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            os.chmod(self.root, 0o755)
        self.conninfo = f"host={self.sock} port={self.port} user=postgres dbname=faultline"

    def _run(self, args, **kw):
        if self.as_user:
            args = ["runuser", "-u", self.as_user, "--"] + args
        return subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)

    def init(self):
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                   "--no-sync", "-E", "UTF8"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = ''\n")
            f.write(f"unix_socket_directories = '{self.sock}'\n")
            f.write(f"port = {self.port}\n")
            f.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        self.start()
        self.psql("CREATE DATABASE faultline", db="postgres")
        return self

    def start(self):
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l",
                   os.path.join(self.data, "server.log"), "-w", "-t", "60", "start"])

    def stop(self, mode="fast"):
        try:
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"])
        except subprocess.CalledProcessError:
            pass

    def psql(self, sql, db="faultline", check_rc=True):
        out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.sock, "-p",
                              str(self.port), "-U", "postgres", "-d", db, "-c", sql],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if check_rc and out.returncode != 0:
            raise Failure(f"psql failed: {out.stderr.strip()}\n  in: {sql[:300]}")
        return out.stdout.strip() if check_rc else out

    def value(self, sql):
        v = self.psql(sql)
        return int(v) if v.lstrip("-").isdigit() else v


class Env:
    """One test's world: a temp dir, a PostgreSQL cluster, collector keys,
    collectors and agents. Use as a context manager; everything is stopped
    and removed on exit."""

    def __init__(self, name, postgres=True):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"fl-{name}-")
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.pg = Postgres(os.path.join(self.dir, "pg")).init() if postgres else None
        self.collector_key = os.path.join(self.dir, "collector.key")
        self.collector_pk = subprocess.run([COLLECTOR, "--keygen", "--key-file", self.collector_key], check=True,
                                           stdout=subprocess.PIPE, text=True).stdout.strip()
        if self.pg:
            subprocess.run([COLLECTOR, "-d", self.pg.conninfo, "--migrate-only"], check=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        if self.pg:
            self.pg.stop("immediate")
        if exc[0] is None or not os.environ.get("FL_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"kept {self.dir}", file=sys.stderr)

    def cli(self, *args, check_rc=True):
        p = subprocess.run([CLI, "-d", self.pg.conninfo] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        if check_rc and p.returncode != 0:
            raise Failure(f"faultline {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def start_collector(self, port, name="c1", extra=None):
        log = open(os.path.join(self.dir, f"collector-{name}.log"), "a")
        cfg = os.path.join(self.dir, f"collector-{name}.conf")
        with open(cfg, "w") as f:
            f.write(f'name = "{name}";\nlisten = ["tcp://127.0.0.1:{port}"];\n')
            f.write(f'key_file = "{self.collector_key}";\ndatabase = "{self.pg.conninfo}";\n')
            f.write("key_refresh = 1;\n")
            f.write(extra or "")
        p = subprocess.Popen([COLLECTOR, "-c", cfg], stdout=log, stderr=log)
        self.procs.append(p)
        return p

    def add_agent(self, name):
        key = os.path.join(self.dir, f"{name}.key")
        self.cli("agent", "add", name, "--key-file", key)
        return key

    def agent_config(self, name, key, ports, interval=0.2, ack_timeout=1.0, extra=""):
        state = os.path.join(self.dir, f"agent-{name}")
        cfg = os.path.join(self.dir, f"agent-{name}.conf")
        eps = ", ".join(f'"tcp://127.0.0.1:{p}"' for p in ports)
        with open(cfg, "w") as f:
            # Tests count batches: one per cycle, as before flush_interval.
            if "flush_interval" not in extra:
                f.write(f"flush_interval = {interval};\n")
            f.write(f'hostname = "{name}";\ninterval = {interval};\nstate_dir = "{state}";\n')
            f.write(f'key_file = "{key}";\n')
            f.write(f'collector = {{ endpoints = [{eps}]; public_key = "{self.collector_pk}"; '
                    f'ack_timeout = {ack_timeout}; }};\n')
            f.write(extra)
        return cfg, state

    def start_agent(self, cfg, *args, name="a"):
        log = open(os.path.join(self.dir, f"agent-{name}.log"), "a")
        p = subprocess.Popen([AGENT, "-c", cfg] + list(args), stdout=log, stderr=log)
        self.procs.append(p)
        return p

    def log(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return f.read()


def fixture_args(tree="plain"):
    root = os.path.join(DATA, "hosts", tree)
    return ["--procfs", os.path.join(root, "proc"), "--sysfs", os.path.join(root, "sys"), "--rootfs", root]


def read_stats(state_dir):
    with open(os.path.join(state_dir, "stats.json")) as f:
        return json.load(f)


def run(tests):
    """Runs the given test functions, prints one line each and a summary;
    exit status 1 if any failed."""
    only = sys.argv[1:]
    failed = 0
    passed = 0
    for t in tests:
        if only and t.__name__ not in only:
            continue
        start = time.monotonic()
        try:
            t()
            passed += 1
            print(f"ok {t.__name__} ({time.monotonic() - start:.1f}s)", flush=True)
        except Exception as e:  # report every failure, keep going
            failed += 1
            print(f"FAIL {t.__name__}: {type(e).__name__}: {e}", flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
