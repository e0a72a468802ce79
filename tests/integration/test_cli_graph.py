#!/usr/bin/env python3
"""The operator's graph commands of faultline against a real PostgreSQL and a
collector whose propagation leader computes effective states: status, why,
impact, watch, service add/remove/list, depend/undepend, apply, maintenance
and sla.

The stack used throughout, declared with the CLI ("A -> B": A depends on B):

  service:shop (min_ok 1) -> vm:hv01/web01, vm:hv01/web02
  vm:hv01/web01, vm:hv01/web02 -> pool:hv01/vmpool   (stored_on)
  pool:hv01/vmpool -> fs:hv01/srv                    (stored_on)
  fs:hv01/srv -> raid:hv01/md0                       (on)
  raid:hv01/md0 (min_ok 1) -> disk:hv01/sda, disk:hv01/sdb (member)

Own states are set with SQL UPDATE, as an agent's batch would."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys

from harness import CLI, Env, check, free_port, run, wait_for

SHOP = "service:shop"
WEB1, WEB2 = "vm:hv01/web01", "vm:hv01/web02"
POOL, FS, RAID = "pool:hv01/vmpool", "fs:hv01/srv", "raid:hv01/md0"
SDA, SDB = "disk:hv01/sda", "disk:hv01/sdb"
STACK = [SHOP, WEB1, WEB2, POOL, FS, RAID, SDA, SDB]
EDGES = [(WEB1, POOL, "stored_on"), (WEB2, POOL, "stored_on"), (POOL, FS, "stored_on"), (FS, RAID, "on"),
         (RAID, SDA, "member"), (RAID, SDB, "member")]
WAIT = 30  # seconds for the propagation leader to catch up
STATE = re.compile(r"(\S+:\S+)\s+(ok|warning|unknown|critical)\b")


def sql_text(s):
    return "'" + s.replace("'", "''") + "'"


@contextlib.contextmanager
def start(name):
    """An Env with a collector: its propagation leader computes effective
    states."""
    with Env(name) as env:
        env.start_collector(free_port())
        yield env


def build_stack(env):
    for a, b, t in EDGES:
        env.cli("depend", a, b, "--type", t)
    p = env.cli("service", "add", "shop", "--needs", f"{WEB1},{WEB2}", "--min-ok", "1", "--description", "web shop")
    check("warning" not in p.stderr, f"service add warned about known nodes: {p.stderr}")
    env.pg.psql(f"UPDATE faultline.nodes SET min_ok = 1 WHERE key = {sql_text(RAID)}")


def set_own(env, key, state, reason=None, ago=None):
    since = f"now() - interval {sql_text(ago)}" if ago else "now()"
    env.pg.psql(f"UPDATE faultline.nodes SET own_state = {sql_text(state)}, "
                f"reason = {sql_text(reason) if reason else 'NULL'}, since = {since} WHERE key = {sql_text(key)}")


def effective(env):
    out = env.pg.psql("SELECT key, effective_state FROM faultline.nodes")
    return dict(line.split("|") for line in out.splitlines() if line)


def settle(env, want):
    """Waits until the leader has given every node of want its state."""
    def done():
        got = effective(env)
        return all(got.get(k) == v for k, v in want.items())
    wait_for(done, WAIT, f"effective states {want}")


def cli_json(env, *args):
    return json.loads(env.cli(*args, "--json").stdout)


def why_lines(text):
    """(depth, key, state, line) per line of `faultline why`; the depth is
    where the text starts after the tree's glyphs."""
    rows = []
    for line in text.splitlines():
        m = STATE.search(line)
        check(m, f"why line without a key and a state: {line!r}")
        rows.append((re.search(r"[a-z]", line).start(), m.group(1), m.group(2), line))
    return rows


def test_status_why_impact():
    with start("cli-why") as env:
        build_stack(env)
        settle(env, {k: "ok" for k in STACK})
        p = env.cli("why", SHOP)
        check(p.stdout.strip() == f"{SHOP} is ok", f"why of an ok service: {p.stdout!r}")
        check(cli_json(env, "why", SHOP)["causes"] == [], "why --json of an ok service has causes")

        set_own(env, SDA, "critical", "write errors: 12 in 10s", ago="2 hours 5 minutes 10 seconds")
        settle(env, {SDA: "critical", RAID: "warning", FS: "warning", POOL: "warning", WEB1: "warning",
                     WEB2: "warning", SHOP: "warning", SDB: "ok"})

        # status --not-ok: services first, then worst first; reasons say
        # where an inherited state comes from; nothing that is ok.
        rows = cli_json(env, "status", "--not-ok")
        keys = [r["key"] for r in rows]
        check(sorted(keys) == sorted([SHOP, WEB1, WEB2, POOL, FS, RAID, SDA]), f"status --not-ok: {keys}")
        check(keys[0] == SHOP and keys[1] == SDA, f"not services first, then worst first: {keys}")
        by_key = {r["key"]: r for r in rows}
        check(by_key[SHOP]["own_state"] == "ok" and by_key[SHOP]["effective_state"] == "warning",
              f"service states: {by_key[SHOP]}")
        check(by_key[SHOP]["reason"] in (f"via {WEB1}", f"via {WEB2}"), f"service reason: {by_key[SHOP]}")
        check(by_key[RAID]["reason"] == f"via {SDA}", f"raid reason: {by_key[RAID]}")
        check(by_key[SDA]["reason"] == "write errors: 12 in 10s", f"disk reason: {by_key[SDA]}")
        check(not any(r["in_maintenance"] for r in rows), "a node is marked in maintenance")
        text = env.cli("status", "--not-ok").stdout.splitlines()
        check(text[0].split()[:4] == ["NODE", "KIND", "STATE", "OWN"], f"status header: {text[0]}")
        check(text[1].split()[0] == SHOP and text[2].split()[0] == SDA, f"status table order:\n{text}")
        check(len(text) == 8 and all(SDB not in line for line in text), "status --not-ok lists an ok node")
        disks = cli_json(env, "status", "--kind", "disk")
        check([r["key"] for r in disks] == [SDA, SDB], f"status --kind disk: {disks}")

        # why: the path down to the failed disk, with edge types, states,
        # the disk's reason and how long it has failed.
        p = env.cli("why", SHOP)
        lines = why_lines(p.stdout)
        check([k for _, k, _, _ in lines] == [SHOP, WEB1, POOL, FS, RAID, SDA], f"why path:\n{p.stdout}")
        check([d for d, _, _, _ in lines] == sorted({d for d, _, _, _ in lines}), f"why is not a tree:\n{p.stdout}")
        for (_, key, state, line), edge in zip(lines[1:], ["depends_on", "stored_on", "stored_on", "on", "member"]):
            check(f"{edge} {key}" in line, f"edge type {edge} missing before {key}: {line!r}")
        check(lines[0][2] == "warning" and lines[-1][2] == "critical", f"why states:\n{p.stdout}")
        check("write errors: 12 in 10s" in lines[-1][3], f"why does not give the disk's reason:\n{p.stdout}")
        check(re.search(r"\b2 h (5|6) min\b", lines[-1][3]), f"why does not say how long:\n{p.stdout}")
        w = cli_json(env, "why", SHOP)
        check(len(w["causes"]) == 1 and w["causes"][0]["key"] == SDA, f"why --json causes: {w['causes']}")
        path = w["causes"][0]["path"]
        check([x["key"] for x in path] == [SHOP, WEB1, POOL, FS, RAID, SDA], f"why --json path: {path}")
        check([x["edge_type"] for x in path] == ["depends_on", "stored_on", "stored_on", "on", "member", None],
              f"why --json edge types: {path}")
        check(w["causes"][0]["seconds"] >= 7510, f"cause age: {w['causes'][0]}")

        # impact: services first, with their depth.
        imp = cli_json(env, "impact", SDA)["impact"]
        check(imp[0]["key"] == SHOP and imp[0]["kind"] == "service" and imp[0]["depth"] == 5, f"impact: {imp}")
        check({x["key"] for x in imp} == {SHOP, WEB1, WEB2, POOL, FS, RAID}, f"impact set: {imp}")
        check({x["key"]: x["depth"] for x in imp}[RAID] == 1, f"impact depth: {imp}")
        text = env.cli("impact", SDA).stdout
        table = [r[0] for r in map(str.split, text.splitlines()) if len(r) == 4 and ":" in r[0]]
        check(table[0] == SHOP, f"impact table does not start with the service:\n{text}")
        check("it makes nothing worse" in env.cli("impact", SDB).stdout, "impact of an ok disk")

        # Both disks: the raid fails, the paths merge on their common prefix.
        set_own(env, SDB, "critical", "SMART: 120 reallocated sectors")
        settle(env, {SHOP: "critical", RAID: "critical", WEB1: "critical", WEB2: "critical"})
        p = env.cli("why", SHOP)
        lines = why_lines(p.stdout)
        keys = [k for _, k, _, _ in lines]
        check(keys == [SHOP, WEB1, POOL, FS, RAID, SDA, SDB], f"why with two causes:\n{p.stdout}")
        check(lines[5][0] == lines[6][0] > lines[4][0], f"the two disks are not siblings under the raid:\n{p.stdout}")
        check("SMART: 120 reallocated sectors" in lines[6][3], f"second cause's reason:\n{p.stdout}")
        check(all(s == "critical" for _, _, s, _ in lines), f"why states:\n{p.stdout}")

        # Unknown keys are errors.
        for cmd in (["why", "nosuch:key"], ["impact", "nosuch:key"]):
            p = env.cli(*cmd, check_rc=False)
            check(p.returncode == 1 and 'no node "nosuch:key"' in p.stderr, f"{cmd}: {p.returncode} {p.stderr}")
        p = env.cli("why", "NotAKey", check_rc=False)
        check(p.returncode == 1 and 'no node "NotAKey"' in p.stderr, f"why of a malformed key: {p.stderr}")


def listening(env):
    return env.pg.value("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'faultline'"
                        " AND query = 'LISTEN faultline_state'")


def test_watch():
    with start("cli-watch") as env:
        build_stack(env)
        settle(env, {k: "ok" for k in STACK})
        out = os.path.join(env.dir, "watch.out")
        with open(out, "w") as f:
            watch = subprocess.Popen([CLI, "-d", env.pg.conninfo, "watch", "--json", "--count", "7", "--timeout", "90"],
                                     stdout=f, stderr=subprocess.PIPE, text=True)
        env.procs.append(watch)
        wait_for(lambda: listening(env) == 1, 20, "faultline watch to listen")
        set_own(env, SDA, "critical", "write errors: 12 in 10s")
        try:
            rc = watch.wait(timeout=120)
        except subprocess.TimeoutExpired:
            raise AssertionError("watch --count 7 did not end")
        check(rc == 0, f"watch ended with {rc}: {watch.stderr.read()}")
        with open(out) as f:
            changes = [json.loads(line) for line in f if line.strip()]
        by_key = {c["key"]: c for c in changes}
        check(len(changes) == 7 and set(by_key) == {SHOP, WEB1, WEB2, POOL, FS, RAID, SDA}, f"changes: {changes}")
        check(by_key[SDA]["old"] == "ok" and by_key[SDA]["new"] == "critical" and by_key[SDA]["cause"] is None,
              f"disk change: {by_key[SDA]}")
        check(by_key[RAID]["new"] == "warning" and by_key[RAID]["cause"] == SDA, f"raid change: {by_key[RAID]}")
        check(by_key[SHOP]["new"] == "warning" and by_key[SHOP]["cause"] in (WEB1, WEB2), f"shop: {by_key[SHOP]}")
        check(all(c.get("at") for c in changes), "a change without its time")

        # Without --count it runs until interrupted, and ends cleanly.
        for sig, state in ((signal.SIGINT, "critical"), (signal.SIGTERM, "ok")):
            wait_for(lambda: listening(env) == 0, 20, "the previous watch to go")
            out = os.path.join(env.dir, f"watch-{sig.name}.out")
            with open(out, "w") as f:
                watch = subprocess.Popen([CLI, "-d", env.pg.conninfo, "watch"], stdout=f, stderr=subprocess.PIPE,
                                         text=True)
            env.procs.append(watch)
            wait_for(lambda: listening(env) == 1, 20, "faultline watch to listen")
            set_own(env, SDB, state, "SMART: failing")
            line = re.compile(rf"{re.escape(SDB)}\s+\S+ \S+ {state}\b")
            wait_for(lambda: line.search(open(out).read()), WAIT, f"watch to print {SDB} becoming {state}")
            check(watch.poll() is None, "watch ended by itself")
            watch.send_signal(sig)
            try:
                rc = watch.wait(timeout=20)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"watch did not end on {sig.name}")
            check(rc == 0, f"watch ended with {rc} on {sig.name}: {watch.stderr.read()}")
        p = env.cli("watch", "--count", "1", "--timeout", "0.5", check_rc=False)
        check(p.returncode == 1 and "timed out" in p.stderr, f"watch timeout: {p.returncode} {p.stderr}")


def edges(env, key=None):
    where = f"WHERE f.key = {sql_text(key)}" if key else ""
    out = env.pg.psql("SELECT f.key, t.key, e.type, e.agent_id IS NULL FROM faultline.edges e "
                      "JOIN faultline.nodes f ON f.id = e.from_id JOIN faultline.nodes t ON t.id = e.to_id "
                      f"{where} ORDER BY 1, 2, 3")
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def node_exists(env, key):
    return env.pg.value(f"SELECT count(*) FROM faultline.nodes WHERE key = {sql_text(key)}") == 1


def test_declarations():
    with start("cli-declare") as env:
        build_stack(env)
        before = edges(env)
        check(len(before) == 8 and all(d == "t" for *_, d in before), f"declared edges: {before}")

        # A cycle is refused with the cycle in the message; nothing changes.
        p = env.cli("depend", SDA, SHOP, check_rc=False)
        check(p.returncode == 1, f"cycle accepted: {p.returncode}")
        m = re.search(r"dependency cycle: (\S+(?: -> \S+)+)", p.stderr)
        check(m, f"no cycle in the message: {p.stderr}")
        cycle = m.group(1).split(" -> ")
        check(cycle[0] == SDA and cycle[1] == SHOP and cycle[-1] == SDA and RAID in cycle, f"cycle: {cycle}")
        check(edges(env) == before, "a refused cycle changed the edges")
        p = env.cli("depend", SDA, SDA, check_rc=False)
        check(p.returncode == 1 and "cannot depend on itself" in p.stderr, f"self-dependency: {p.stderr}")
        p = env.cli("depend", "Disk", SDA, check_rc=False)
        check(p.returncode == 2 and 'invalid node key "Disk"' in p.stderr, f"malformed key: {p.stderr}")

        # Unknown keys are kept as placeholders, with a warning.
        p = env.cli("service", "add", "web", "--needs", f"{WEB1},vm:hv01/web09")
        check('warning: "vm:hv01/web09" is not known yet; kept as a placeholder' in p.stderr,
              f"no placeholder warning: {p.stderr}")
        check(WEB1 not in p.stderr, f"a known node was called a placeholder: {p.stderr}")
        check(env.pg.psql("SELECT declared FROM faultline.nodes WHERE key = 'vm:hv01/web09'") == "t",
              "placeholder not created")
        check(edges(env, "service:web") == [("service:web", WEB1, "depends_on", "t"),
                                            ("service:web", "vm:hv01/web09", "depends_on", "t")],
              f"service edges: {edges(env, 'service:web')}")
        p = env.cli("service", "add", "web", "--needs", WEB2, check_rc=False)
        check(p.returncode == 1 and "exists already" in p.stderr, f"service added twice: {p.stderr}")
        p = env.cli("service", "add", "bad", "--needs", WEB1, "--min-ok", "2", check_rc=False)
        check(p.returncode == 2 and "--min-ok" in p.stderr and not node_exists(env, "service:bad"),
              f"min-ok above the number of needs: {p.stderr}")
        # One transaction: an edge refused after others leaves nothing.
        p = env.cli("service", "add", "loop", "--needs", f"{WEB1},service:loop", check_rc=False)
        check(p.returncode == 1 and "cannot depend on itself" in p.stderr, f"self-needing service: {p.stderr}")
        check(not node_exists(env, "service:loop") and edges(env, "service:loop") == [],
              "a refused service left a node or edges behind")
        listing = cli_json(env, "service", "list")
        web = [s for s in listing if s["key"] == "service:web"][0]
        check({n["key"] for n in web["needs"]} == {WEB1, "vm:hv01/web09"}, f"service list: {listing}")
        check([s for s in listing if s["key"] == SHOP][0]["min_ok"] == 1, f"service list min_ok: {listing}")
        check(SHOP in env.cli("service", "list").stdout, "service list text")

        # undepend: declared edges only; a discovered one is explained.
        env.cli("agent", "add", "hv01", "--key-file", os.path.join(env.dir, "hv01.key"))
        env.pg.psql("SELECT faultline.apply_inventory((SELECT id FROM faultline.agents WHERE name = 'hv01'), "
                    "'{\"nodes\": [{\"key\": \"host:hv01\", \"kind\": \"host\"}], \"edges\": [{\"from\": "
                    f"\"{WEB1}\", \"to\": \"host:hv01\", \"type\": \"runs_on\"}}]}}'::jsonb)")
        p = env.cli("undepend", WEB1, "host:hv01", check_rc=False)
        check(p.returncode == 1 and "discovered by agent \"hv01\"" in p.stderr, f"undepend discovered: {p.stderr}")
        check((WEB1, "host:hv01", "runs_on", "f") in edges(env, WEB1), "a discovered edge was removed")
        p = env.cli("undepend", WEB1, SDA, check_rc=False)
        check(p.returncode == 1 and "does not depend on" in p.stderr, f"undepend of no edge: {p.stderr}")
        p = env.cli("undepend", WEB1, "vm:nosuch/x", check_rc=False)
        check(p.returncode == 1 and 'no node "vm:nosuch/x"' in p.stderr, f"undepend unknown: {p.stderr}")
        env.cli("undepend", "service:web", "vm:hv01/web09")
        check(edges(env, "service:web") == [("service:web", WEB1, "depends_on", "t")], "undepend did not remove")

        # A service others need is not removed; one nobody needs is.
        env.cli("depend", "service:web", SHOP)
        p = env.cli("service", "remove", "shop", check_rc=False)
        check(p.returncode == 1 and "needed by \"service:web\"" in p.stderr, f"remove a needed service: {p.stderr}")
        env.cli("service", "remove", "web")
        check(not node_exists(env, "service:web") and edges(env, "service:web") == [], "service not removed")
        p = env.cli("service", "remove", "web", check_rc=False)
        check(p.returncode == 1 and 'no service "service:web"' in p.stderr, f"remove twice: {p.stderr}")


APPLY_1 = """# the shop and its database
services = (
  { name = "shop2"; needs = ["vm:hv01/web01", "vm:hv01/web02"]; min_ok = 1; description = "web shop"; },
  { name = "db"; needs = ["vm:hv01/db01"]; }
);
depends = ( { from = "service:shop2"; to = "service:db"; } );
"""

APPLY_2 = """services = (
  { name = "shop2"; needs = ["vm:hv01/web01", "vm:hv01/web02"]; min_ok = 1; description = "web shop"; },
  { name = "db";
    needs = ["vm:hv01/db02"]; }
);
"""


def write(env, name, text):
    path = os.path.join(env.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def history(env):
    return env.pg.value("SELECT count(*) FROM faultline.edge_history")


def test_apply():
    with start("cli-apply") as env:
        build_stack(env)
        shop_edges = edges(env, SHOP)
        f1 = write(env, "one.conf", APPLY_1)
        p = env.cli("apply", f1)
        check(f'{f1}:4: "vm:hv01/db01" is not known yet; kept as a placeholder' in p.stderr,
              f"apply placeholder warning: {p.stderr}")
        check("6 changes made" in p.stdout, f"first apply: {p.stdout}")
        want = [("service:shop2", "service:db", "depends_on", "t"), ("service:shop2", WEB1, "depends_on", "t"),
                ("service:shop2", WEB2, "depends_on", "t")]
        check(edges(env, "service:shop2") == want, f"shop2 edges: {edges(env, 'service:shop2')}")
        check(edges(env, "service:db") == [("service:db", "vm:hv01/db01", "depends_on", "t")], "db edges")
        check(env.pg.psql("SELECT min_ok, attributes ->> 'description' FROM faultline.nodes "
                          "WHERE key = 'service:shop2'") == "1|web shop", "shop2 min_ok and description")

        # Twice: nothing changes, nothing is written.
        n_history = history(env)
        out = cli_json(env, "apply", f1)
        check(out["changes"] == [] and out["dry_run"] is False, f"second apply: {out}")
        check("nothing to change" in env.cli("apply", f1).stdout, "second apply text")
        check(history(env) == n_history, "an idempotent apply wrote edges")

        # A dry run says what would change and changes nothing.
        f2 = write(env, "two.conf", APPLY_2)
        p = env.cli("apply", f2, "--dry-run")
        check(re.search(r"^- service:db \S+ vm:hv01/db01 \(depends_on\)$", p.stdout, re.M) and
              re.search(r"^- service:shop2 \S+ service:db \(depends_on\)$", p.stdout, re.M) and
              re.search(r"^\+ service:db \S+ vm:hv01/db02 \(depends_on\)$", p.stdout, re.M) and
              "dry run" in p.stdout, f"dry run output:\n{p.stdout}")
        check(history(env) == n_history and len(edges(env, "service:shop2")) == 3, "a dry run changed edges")

        # The file is the truth for its services: edges it no longer lists go.
        out = cli_json(env, "apply", f2)
        actions = sorted((c["action"], c.get("from"), c.get("to")) for c in out["changes"])
        check(actions == [("add_edge", "service:db", "vm:hv01/db02"), ("remove_edge", "service:db", "vm:hv01/db01"),
                          ("remove_edge", "service:shop2", "service:db")], f"second file's changes: {actions}")
        check(edges(env, "service:shop2") == want[1:], f"shop2 edge not removed: {edges(env, 'service:shop2')}")
        check(edges(env, "service:db") == [("service:db", "vm:hv01/db02", "depends_on", "t")], "db edges")
        check(edges(env, SHOP) == shop_edges, "apply touched a service the file does not name")
        check(cli_json(env, "apply", f2)["changes"] == [], "applying the second file twice changed something")

        # Errors name FILE:LINE, and nothing of a refused file is applied.
        bad = {
            "unknown.conf": ('services = (\n  { name = "x"; need = ["vm:a/b"]; }\n);\n', ":2: unknown setting \"need\""),
            "syntax.conf": ('services = (\n  { name = x; }\n);\n', ":2: syntax error"),
            "key.conf": ('services = (\n  { name = "x";\n    needs = ["vm:a/b",\n      "Bad"]; }\n);\n',
                         ':4: invalid node key "Bad"'),
            "minok.conf": ('services = (\n  { name = "x"; needs = ["vm:a/b"]; min_ok = 2; }\n);\n',
                           ":2: min_ok = 2 is more than"),
            "twice.conf": ('services = (\n  { name = "x"; },\n  { name = "x"; }\n);\n', ':3: service "service:x" '
                           'is named twice'),
            "cycle.conf": ('services = (\n  { name = "cyc"; needs = ["disk:hv01/sda"]; }\n);\n'
                           'depends = (\n  { from = "disk:hv01/sda"; to = "service:cyc"; }\n);\n',
                           ":5: could not declare that \"disk:hv01/sda\" depends on \"service:cyc\": dependency "
                           "cycle: disk:hv01/sda -> service:cyc -> disk:hv01/sda"),
        }
        for name, (text, msg) in bad.items():
            path = write(env, name, text)
            p = env.cli("apply", path, check_rc=False)
            check(p.returncode == 1 and f"{path}{msg}" in p.stderr, f"{name}: {p.returncode} {p.stderr}")
        check(not node_exists(env, "service:cyc") and not node_exists(env, "service:x"),
              "a refused file left services behind")
        p = env.cli("apply", os.path.join(env.dir, "missing.conf"), check_rc=False)
        check(p.returncode == 1 and "could not open file" in p.stderr, f"missing file: {p.stderr}")


# Synthetic history of service:sla on 2024-01-01 (UTC): down 01:00-02:00
# and 10:00-10:45, blind (unknown) 03:00-03:30; maintenance 10:00-11:00 and
# an overlapping 10:30-10:50, counted once.
SLA_CHANGES = [("2023-12-31T23:00:00Z", None, "ok"), ("2024-01-01T01:00:00Z", "ok", "critical"),
               ("2024-01-01T02:00:00Z", "critical", "ok"), ("2024-01-01T03:00:00Z", "ok", "unknown"),
               ("2024-01-01T03:30:00Z", "unknown", "ok"), ("2024-01-01T10:00:00Z", "ok", "critical"),
               ("2024-01-01T10:45:00Z", "critical", "ok")]


def test_maintenance_sla():
    with start("cli-sla") as env:
        build_stack(env)
        env.cli("service", "add", "sla", "--needs", WEB1)
        values = ", ".join(f"({sql_text(at)}::timestamptz, {sql_text(old) if old else 'NULL'}::faultline.state, "
                           f"{sql_text(new)}::faultline.state)" for at, old, new in SLA_CHANGES)
        env.pg.psql("INSERT INTO faultline.effective_changes (node_id, at, old_state, new_state) "
                    f"SELECT n.id, v.at, v.o, v.s FROM faultline.nodes n, (VALUES {values}) v (at, o, s) "
                    "WHERE n.key = 'service:sla'")
        m = cli_json(env, "maintenance", "add", "service:sla", "--from", "2024-01-01T10:00:00Z",
                     "--until", "2024-01-01T11:00:00Z", "--reason", "disk swap")
        check(m["from"] == "2024-01-01T10:00:00Z" and m["until"] == "2024-01-01T11:00:00Z" and m["status"] == "past",
              f"maintenance add: {m}")
        env.cli("maintenance", "add", "service:sla", "--from", "2024-01-01T10:30:00", "--until",
                "2024-01-01T10:50:00+00:00", "--reason", "overlapping")

        sla = cli_json(env, "sla", "service:sla", "--from", "2024-01-01T00:00:00Z", "--to", "2024-01-02T00:00:00Z")
        want = {"period_minutes": 1440, "down_minutes": 105, "blind_minutes": 30, "maintenance_minutes": 60,
                "down_outside_maintenance_minutes": 60, "uptime_pct": 92.5532,
                "uptime_excluding_maintenance_pct": 95.5556}
        for k, v in want.items():
            check(sla[k] == v, f"sla {k}: {sla[k]} instead of {v}")
        text = env.cli("sla", "service:sla", "--from", "2024-01-01T00:00:00Z", "--to", "2024-01-02T00:00:00Z").stdout
        for label, v in (("uptime", "92.5532 %"), ("downtime", "105.00 min"), ("blind spots", "30.00 min"),
                         ("maintenance", "60.00 min"), ("uptime excluding maintenance", "95.5556 %")):
            check(re.search(rf"^\s+{label}\s.*\s{re.escape(v)}$", text, re.M), f"sla text lacks {label} {v}:\n{text}")

        # A window now: the node is marked in status; listed; removed.
        m = cli_json(env, "maintenance", "add", SDA, "--from", "now", "--until", "+2h", "--reason", "swap")
        check(m["status"] == "active", f"window from now: {m}")
        check(cli_json(env, "status", "--kind", "disk")[0]["in_maintenance"] is True, "disk not in maintenance")
        check(re.search(rf"^{re.escape(SDA)}\s.*\byes\b", env.cli("status").stdout, re.M), "status text marker")
        listed = cli_json(env, "maintenance", "list")
        check([x["id"] for x in listed] == [m["id"]], f"maintenance list: {listed}")
        check(len(cli_json(env, "maintenance", "list", "--all")) == 3, "maintenance list --all")
        env.cli("maintenance", "remove", str(m["id"]))
        check(cli_json(env, "maintenance", "list") == [], "window not removed")
        check(not any(r["in_maintenance"] for r in cli_json(env, "status")), "still in maintenance")

        # Errors: bad times, windows that end before they start, unknown keys.
        for args, rc, msg in (
                (["maintenance", "add", SDA, "--from", "tomorrow", "--until", "+1h", "--reason", "x"], 2,
                 'invalid time "tomorrow" for --from'),
                (["maintenance", "add", SDA, "--until", "+2x", "--reason", "x"], 2, 'invalid time "+2x" for --until'),
                (["maintenance", "add", SDA, "--from", "2024-02-30", "--until", "+1h", "--reason", "x"], 1,
                 "invalid time: date/time field value out of range"),
                (["maintenance", "add", SDA, "--from", "+2h", "--until", "+1h", "--reason", "x"], 1,
                 "must end after it starts"),
                (["maintenance", "add", SDA, "--until", "+1h"], 2, "needs a reason"),
                (["maintenance", "add", "vm:nosuch/x", "--until", "+1h", "--reason", "x"], 1, 'no node "vm:nosuch/x"'),
                (["maintenance", "remove", "999"], 1, "no maintenance window with id 999"),
                (["sla", "vm:nosuch/x", "--from", "-1d"], 1, 'no node "vm:nosuch/x"'),
                (["sla", "service:sla", "--from", "2024-01-02", "--to", "2024-01-01"], 1,
                 "the period must end after it starts"),
                (["sla", "service:sla", "--from", "last week"], 2, 'invalid time "last week"')):
            p = env.cli(*args, check_rc=False)
            check(p.returncode == rc and msg in p.stderr, f"{args}: {p.returncode} {p.stderr}")
        check(env.pg.value("SELECT count(*) FROM faultline.maintenance") == 2, "a refused window was stored")


TESTS = [test_status_why_impact, test_watch, test_declarations, test_apply, test_maintenance_sla]

if __name__ == "__main__":
    # meson runs this file as one test named after test_cli_graph_all: all
    # of them; given test names, run only those.
    if sys.argv[1:] == ["test_cli_graph_all"]:
        del sys.argv[1:]
    run(TESTS)
