#!/usr/bin/env python3
"""Fault propagation end to end: graphs built by hand in SQL (nodes, declared
edges, own states, min_ok), a real PostgreSQL and collector whose
propagation leader turns them into effective states, and the SQL that
operators query: root_cause_of, impact_of, availability, notifications,
NOTIFY faultline_state, leader takeover and history (root_cause_at).

    test_propagation.py [test_name ...]   (test_propagation_all: every test)

Every wait is bounded; nothing asserts on wall-clock durations."""

import json
import os
import re
import signal
import subprocess
import sys
import time

from harness import Env, Failure, check, free_port, run, wait_for

# How long the leader may take to pass a change on (it is woken by NOTIFY
# and normally needs milliseconds; this only bounds the wait).
PROPAGATE_TIMEOUT = 15


def q(s):
    """A SQL literal for a string of ours."""
    return "'" + s.replace("'", "''") + "'"


def start_leader(env, name="c1"):
    """Starts a collector and waits until it leads propagation."""
    p = env.start_collector(free_port(), name=name)
    log = f"collector-{name}.log"
    wait_for(lambda: "propagation leader:" in env.log(log), 30, f"collector {name} to lead propagation")
    return p


def declare(pg, *edges):
    """edges: (from, to) pairs; unknown keys become declared nodes."""
    pg.psql("".join(f"SELECT faultline.declare_edge({q(a)}, {q(b)});" for a, b in edges))


def set_own(pg, key, state, reason=None):
    pg.psql(f"UPDATE faultline.nodes SET own_state = {q(state)}, reason = {q(reason) if reason else 'NULL'}, "
            f"since = now() WHERE key = {q(key)}")


def eff(pg, key):
    return pg.psql(f"SELECT effective_state FROM faultline.nodes WHERE key = {q(key)}")


def wait_eff(pg, key, state, timeout=PROPAGATE_TIMEOUT):
    wait_for(lambda: eff(pg, key) == state, timeout, f"{key} to become {state}")


def wait_settled(pg, timeout=PROPAGATE_TIMEOUT):
    """Until the leader took every dirty node and wrote what it found: no
    dirty row, and the effective states stable over two reads."""
    def settled():
        if pg.value("SELECT count(*) FROM faultline.dirty") != 0:
            return False
        a = pg.psql("SELECT count(*), coalesce(max(id), 0) FROM faultline.effective_changes")
        time.sleep(0.3)
        return pg.value("SELECT count(*) FROM faultline.dirty") == 0 and a == pg.psql(
            "SELECT count(*), coalesce(max(id), 0) FROM faultline.effective_changes")
    wait_for(settled, timeout, "propagation to settle")


def rows(pg, sql):
    """Rows as lists of strings (fields separated by |)."""
    out = pg.psql(sql)
    return [r.split("|") for r in out.splitlines()] if out else []


def root_causes(pg, key):
    """(cause_key, cause_state, cause_reason, path as ' > ' string), in the
    function's order."""
    return [tuple(r) for r in rows(pg, "SELECT cause_key, cause_state, coalesce(cause_reason, ''), "
                                       f"array_to_string(path, ' > ') FROM faultline.root_cause_of({q(key)})")]


SHOP = ["service:shop", "vm:hv01/web01", "volume:hv01/datastore1/web01.qcow2", "pool:hv01/datastore1",
        "filesystem:hv01/var/lib/libvirt/images", "raid:hv01/md0"]


def build_shop(pg):
    """disk → raid (min_ok 1 of 2) → filesystem → pool → volume → vm →
    service:shop."""
    declare(pg, *zip(SHOP, SHOP[1:]), ("raid:hv01/md0", "disk:hv01/sda"), ("raid:hv01/md0", "disk:hv01/sdb"))
    pg.psql("UPDATE faultline.nodes SET min_ok = 1 WHERE key = 'raid:hv01/md0'")


def test_storage_chain():
    with Env("prop-chain") as env:
        pg = env.pg
        start_leader(env)
        build_shop(pg)
        wait_settled(pg)
        check(eff(pg, "service:shop") == "ok", "a new healthy stack is not ok")

        set_own(pg, "disk:hv01/sda", "critical", "write errors: 12 in 10s")
        wait_eff(pg, "service:shop", "warning")
        wait_settled(pg)
        for k in SHOP:
            check(eff(pg, k) == "warning", f"{k} is {eff(pg, k)}, expected warning (one mirror left)")
        rc = root_causes(pg, "service:shop")
        path = " > ".join(SHOP + ["disk:hv01/sda"])
        check(rc == [("disk:hv01/sda", "critical", "write errors: 12 in 10s", path)],
              f"root cause of service:shop: {rc}")
        st = rows(pg, "SELECT own_state, effective_state, reason FROM faultline.status WHERE key = 'service:shop'")
        check(st == [["ok", "warning", "via vm:hv01/web01"]], f"status of service:shop: {st}")
        cause = pg.psql("SELECT effective_cause FROM faultline.nodes WHERE key = 'raid:hv01/md0'")
        check(cause == "disk:hv01/sda", f"the raid blames {cause!r}")

        set_own(pg, "disk:hv01/sdb", "critical", "not responding")
        wait_eff(pg, "service:shop", "critical")
        wait_settled(pg)
        rc = root_causes(pg, "service:shop")
        check(rc == [("disk:hv01/sda", "critical", "write errors: 12 in 10s", path),
                     ("disk:hv01/sdb", "critical", "not responding", " > ".join(SHOP + ["disk:hv01/sdb"]))],
              f"root cause of service:shop with both disks gone: {rc}")
        hist = rows(pg, "SELECT old_state, new_state, cause FROM faultline.effective_changes c "
                        "JOIN faultline.nodes n ON n.id = c.node_id WHERE n.key = 'service:shop' ORDER BY c.id")
        check(hist == [["ok", "warning", "vm:hv01/web01"], ["warning", "critical", "vm:hv01/web01"]],
              f"history of service:shop: {hist}")

        set_own(pg, "disk:hv01/sda", "ok")
        set_own(pg, "disk:hv01/sdb", "ok")
        wait_eff(pg, "service:shop", "ok")
        wait_settled(pg)
        check(root_causes(pg, "service:shop") == [], "a healthy service has a root cause")
        left = pg.psql("SELECT string_agg(key, ',') FROM faultline.nodes WHERE effective_state <> 'ok' "
                       "OR effective_cause IS NOT NULL")
        check(left == "", f"nodes still not ok after the repair: {left}")


def test_web_tier():
    with Env("prop-web") as env:
        pg = env.pg
        start_leader(env)
        declare(pg, *[("service:web", f"vm:hv0{i}/web{i}") for i in (1, 2, 3)])
        pg.psql("UPDATE faultline.nodes SET min_ok = 2 WHERE key = 'service:web'")
        wait_settled(pg)
        set_own(pg, "vm:hv02/web2", "critical", "libvirt: paused on I/O error")
        wait_eff(pg, "service:web", "warning")
        wait_settled(pg)
        check(eff(pg, "service:web") == "warning", "2 of 3 up is not a warning")
        rc = root_causes(pg, "service:web")
        check([r[0] for r in rc] == ["vm:hv02/web2"], f"root cause of service:web: {rc}")
        set_own(pg, "vm:hv03/web3", "critical", "shut off")
        wait_eff(pg, "service:web", "critical")
        # min_ok changed by the operator: 1 of 3 is enough now
        pg.psql("UPDATE faultline.nodes SET min_ok = 1 WHERE key = 'service:web'")
        wait_eff(pg, "service:web", "warning")


def test_shared_dependencies():
    """Two services over one pool on one disk; vm:hv01/web01 reaches the
    pool through two volumes (a diamond)."""
    with Env("prop-shared") as env:
        pg = env.pg
        start_leader(env)
        declare(pg,
                ("service:shop", "vm:hv01/web01"),
                ("service:crm", "vm:hv01/crm01"),
                ("vm:hv01/web01", "volume:hv01/ds1/web01-root"),
                ("vm:hv01/web01", "volume:hv01/ds1/web01-data"),
                ("vm:hv01/crm01", "volume:hv01/ds1/crm01-root"),
                ("volume:hv01/ds1/web01-root", "pool:hv01/ds1"),
                ("volume:hv01/ds1/web01-data", "pool:hv01/ds1"),
                ("volume:hv01/ds1/crm01-root", "pool:hv01/ds1"),
                ("pool:hv01/ds1", "disk:hv01/sdc"),
                ("service:mail", "vm:hv02/mail01"))
        wait_settled(pg)
        set_own(pg, "disk:hv01/sdc", "critical", "medium errors")
        wait_eff(pg, "service:shop", "critical")
        wait_eff(pg, "service:crm", "critical")
        wait_settled(pg)
        check(eff(pg, "service:mail") == "ok", "an unrelated service was hit")
        imp = rows(pg, "SELECT node_key, node_kind, node_state, depth FROM faultline.impact_of('disk:hv01/sdc')")
        keys = [r[0] for r in imp]
        check(sorted(keys[:2]) == ["service:crm", "service:shop"], f"impact does not list services first: {keys}")
        check(len(keys) == len(set(keys)) == 8, f"impact of the disk: {imp}")
        check(keys[2] == "pool:hv01/ds1" and imp[2][3] == "1", f"the pool is right above the disk: {imp}")
        depth = {r[0]: int(r[3]) for r in imp}
        check(depth["service:shop"] == 4 and depth["vm:hv01/web01"] == 3, f"depths: {depth}")
        # the diamond's top changed once, not once per path
        n = pg.value("SELECT count(*) FROM faultline.effective_changes c JOIN faultline.nodes n ON n.id = c.node_id "
                     "WHERE n.key = 'vm:hv01/web01'")
        check(n == 1, f"vm:hv01/web01 changed {n} times for one failure")
        rc = root_causes(pg, "service:shop")
        check(len(rc) == 1 and rc[0][0] == "disk:hv01/sdc" and rc[0][3].count(" > ") == 4,
              f"root cause of service:shop: {rc}")
        # the root_cause and impact views, over every failing node
        n = pg.value("SELECT count(*) FROM faultline.root_cause WHERE cause_key = 'disk:hv01/sdc'")
        check(n == 9, f"root_cause view: {n} nodes trace back to the disk, expected 9")
        n = pg.value("SELECT count(*) FROM faultline.impact")
        check(n == 8, f"impact view: {n} rows, expected 8")


def test_deep_chain():
    """depth 1,000: built with generate_series, propagated without limit."""
    with Env("prop-deep") as env:
        pg = env.pg
        start_leader(env)
        pg.psql("INSERT INTO faultline.nodes (key, kind) "
                "SELECT 'dm:deep/n' || i, 'dm' FROM generate_series(0, 1000) i;"
                "INSERT INTO faultline.edges (from_id, to_id, type) "
                "SELECT f.id, t.id, 'depends_on' FROM generate_series(0, 999) i "
                "JOIN faultline.nodes f ON f.key = 'dm:deep/n' || i "
                "JOIN faultline.nodes t ON t.key = 'dm:deep/n' || (i + 1)")
        wait_settled(pg)
        set_own(pg, "dm:deep/n1000", "critical", "gone")
        wait_eff(pg, "dm:deep/n0", "critical")
        wait_settled(pg)
        n = pg.value("SELECT count(*) FROM faultline.nodes WHERE effective_state = 'critical'")
        check(n == 1001, f"{n} of 1001 nodes critical")
        r = rows(pg, "SELECT cause_key, array_length(path, 1), path[1], path[1001] "
                     "FROM faultline.root_cause_of('dm:deep/n0')")
        check(r == [["dm:deep/n1000", "1001", "dm:deep/n0", "dm:deep/n1000"]], f"root cause of the top: {r}")
        imp = pg.value("SELECT count(*) FROM faultline.impact_of('dm:deep/n1000')")
        check(imp == 1000, f"impact of the bottom: {imp} nodes")


def test_refused_cycle():
    with Env("prop-cycle") as env:
        pg = env.pg
        declare(pg, ("service:a", "vm:h/b"), ("vm:h/b", "volume:h/c"))
        edges = pg.value("SELECT count(*) FROM faultline.edges")
        try:
            declare(pg, ("volume:h/c", "service:a"))
            raise AssertionError("a cycle was accepted")
        except Failure as e:
            check("dependency cycle: volume:h/c -> service:a -> vm:h/b -> volume:h/c" in str(e),
                  f"the error does not name the cycle: {e}")
        try:
            declare(pg, ("vm:h/b", "vm:h/b"))
            raise AssertionError("a self dependency was accepted")
        except Failure as e:
            check("cannot depend on itself" in str(e), f"self dependency: {e}")
        check(pg.value("SELECT count(*) FROM faultline.edges") == edges, "a refused edge was stored")
        # a diamond is not a cycle
        declare(pg, ("service:a", "volume:h/c"))
        check(pg.value("SELECT count(*) FROM faultline.edges") == edges + 1, "a diamond edge was refused")


def add_agent_row(pg, name, silent):
    """An agent row (no real agent): silent: last seen an hour ago with a
    1 s interval; else seen now with a 1 h interval (cannot go silent)."""
    last, interval = ("now() - interval '1 hour'", 1000) if silent else ("now()", 3600 * 1000)
    return pg.value(f"INSERT INTO faultline.agents (name, public_key, last_seen, interval_ms) "
                    f"VALUES ({q(name)}, decode(repeat(md5({q(name)}), 2), 'hex'), {last}, {interval}) RETURNING id")


def test_silent_agent():
    with Env("prop-silent") as env:
        pg = env.pg
        t0 = pg.psql("SELECT now()")
        start_leader(env)
        aid = add_agent_row(pg, "hv09", silent=True)
        pg.psql(f"INSERT INTO faultline.nodes (key, kind, agent_id, last_seen) VALUES "
                f"('vm:hv09/app01', 'vm', {aid}, now() - interval '1 hour'), "
                f"('vm:hv09/app02', 'vm', {aid}, now() - interval '1 hour')")
        declare(pg, ("service:app", "vm:hv09/app01"),
                ("service:tier", "vm:hv09/app01"), ("service:tier", "vm:hv09/app02"), ("service:tier", "vm:hv10/x"))
        pg.psql("UPDATE faultline.nodes SET min_ok = 2 WHERE key = 'service:tier'")
        # the leader looks for silent agents every few seconds
        wait_eff(pg, "vm:hv09/app01", "unknown", timeout=30)
        wait_eff(pg, "service:app", "unknown")
        wait_eff(pg, "service:tier", "unknown")
        wait_settled(pg)
        st = rows(pg, "SELECT key, own_state, effective_state, reason FROM faultline.status "
                      "WHERE key IN ('vm:hv09/app01', 'service:app', 'service:tier') ORDER BY key")
        check(len(st) == 3 and st[1][3] in ("via vm:hv09/app01", "via vm:hv09/app02")
              and st == [["service:app", "ok", "unknown", "via vm:hv09/app01"],
                         ["service:tier", "ok", "unknown", st[1][3]],
                         ["vm:hv09/app01", "unknown", "unknown", "agent silent"]], f"status: {st}")
        check(pg.psql("SELECT own_state FROM faultline.nodes WHERE key = 'vm:hv09/app01'") == "ok",
              "silence overwrote the reported own state")
        rc = root_causes(pg, "service:app")
        check(rc == [("vm:hv09/app01", "unknown", "agent silent", "service:app > vm:hv09/app01")],
              f"root cause of service:app: {rc}")
        crit = pg.psql("SELECT string_agg(key, ',') FROM faultline.nodes WHERE effective_state = 'critical'")
        check(crit == "", f"silence made nodes critical: {crit}")
        # blind time, not down time
        av = rows(pg, f"SELECT down_minutes, blind_minutes > 0, uptime_pct "
                      f"FROM faultline.availability('service:app', {q(t0)}, now() + interval '1 second')")
        check(av == [["0.00", "t", "100.0000"]], f"availability of service:app: {av}")

        # a critical member beside two silent ones: still unknown, not critical
        set_own(pg, "vm:hv10/x", "critical", "crashed")
        wait_eff(pg, "vm:hv10/x", "critical")
        wait_settled(pg)
        check(eff(pg, "service:tier") == "unknown", f"service:tier is {eff(pg, 'service:tier')}")
        set_own(pg, "vm:hv10/x", "ok")

        # the agent reports again: no longer stale
        pg.psql(f"UPDATE faultline.agents SET last_seen = now(), interval_ms = 3600000 WHERE id = {aid}")
        wait_eff(pg, "service:app", "ok", timeout=30)
        wait_eff(pg, "service:tier", "ok")


SLA = "service:sla"


def synthetic_history(pg, key, base, changes, maint):
    """changes: (minute, state); maint: (start minute, end minute); both
    relative to base, a timestamp literal."""
    nid = pg.value(f"SELECT id FROM faultline.nodes WHERE key = {q(key)}")
    vals = ", ".join(f"({nid}, {base}::timestamptz + interval '{m} min', {q(s)})" for m, s in changes)
    pg.psql(f"INSERT INTO faultline.effective_changes (node_id, at, new_state) VALUES {vals}")
    if maint:
        vals = ", ".join(f"({nid}, {base}::timestamptz + interval '{a} min', {base}::timestamptz + interval '{b} min', "
                         f"'planned')" for a, b in maint)
        pg.psql(f"INSERT INTO faultline.maintenance (node_id, starts, ends, reason) VALUES {vals}")


def availability(pg, key, base, a, b):
    r = rows(pg, f"SELECT period_minutes, down_minutes, blind_minutes, maintenance_minutes, "
                 f"down_outside_maintenance_minutes, uptime_pct, uptime_excluding_maintenance_pct "
                 f"FROM faultline.availability({q(key)}, {base}::timestamptz + interval '{a} min', "
                 f"{base}::timestamptz + interval '{b} min')")
    check(len(r) == 1, f"availability returned {r}")
    return r[0]


BASE = "'2024-03-04 10:00:00+00'"


def test_availability_maintenance():
    with Env("prop-avail") as env:
        pg = env.pg
        pg.psql(f"INSERT INTO faultline.nodes (key, kind) VALUES ({q(SLA)}, 'service')")
        # critical 10..40, unknown 60..70; maintenance 30..50, 35..45 and
        # 45..55 (overlapping: one window 30..55)
        synthetic_history(pg, SLA, BASE, [(-30, "warning"), (10, "critical"), (40, "ok"), (60, "unknown"),
                                          (70, "ok")], [(30, 50), (35, 45), (45, 55)])
        got = availability(pg, SLA, BASE, 0, 100)
        # down 30 of 90 seen; outside maintenance 20 of 65
        check(got == ["100.00", "30.00", "10.00", "25.00", "20.00", "66.6667", "69.2308"],
              f"availability over 0..100: {got}")
        # starting inside the critical span: the state at the start counts
        got = availability(pg, SLA, BASE, 20, 100)
        check(got == ["80.00", "20.00", "10.00", "25.00", "10.00", "71.4286", "77.7778"],
              f"availability over 20..100: {got}")
        # a period without any change: the state before it
        got = availability(pg, SLA, BASE, 80, 90)
        check(got == ["10.00", "0.00", "0.00", "0.00", "0.00", "100.0000", "100.0000"],
              f"availability over 80..90: {got}")
        try:
            pg.psql(f"SELECT * FROM faultline.availability('service:nope', now() - interval '1 day', now())")
            raise AssertionError("availability of an unknown node did not fail")
        except Failure as e:
            check('no node "service:nope"' in str(e), f"unknown node: {e}")


def test_availability_maintenance_over_blind():
    """A minute that is both blind (unknown) and in maintenance is left out
    of the excluding-maintenance figure once, not twice."""
    with Env("prop-avail2") as env:
        pg = env.pg
        pg.psql(f"INSERT INTO faultline.nodes (key, kind) VALUES ({q(SLA)}, 'service')")
        # unknown 10..20 inside maintenance 5..25; critical 50..60
        synthetic_history(pg, SLA, BASE, [(10, "unknown"), (20, "ok"), (50, "critical"), (60, "ok")], [(5, 25)])
        got = availability(pg, SLA, BASE, 0, 100)
        # seen: 90 minutes, 10 down → 88.8889; outside maintenance and not
        # blind: 100 - 20 = 80 minutes, 10 down → 87.5
        check(got[:6] == ["100.00", "10.00", "10.00", "20.00", "10.00", "88.8889"], f"availability: {got}")
        check(got[6] == "87.5000", f"uptime_excluding_maintenance_pct is {got[6]}, expected 87.5000 "
              f"(100 min - 20 min maintenance, the 10 blind minutes inside it not subtracted again)")


def notifications(pg, since_id=0):
    return {(r[0], r[1]): (r[2], r[3]) for r in rows(
        pg, f"SELECT key, new_state, notify, coalesce(suppressed_by, '') FROM faultline.notifications "
            f"WHERE id > {since_id} ORDER BY id")}


def test_notifications():
    with Env("prop-notify") as env:
        pg = env.pg
        start_leader(env)
        declare(pg, ("service:n1", "vm:hv01/n1"), ("vm:hv01/n1", "volume:hv01/n1"), ("volume:hv01/n1", "disk:hv01/n1"),
                ("service:n2", "vm:hv02/n2"), ("vm:hv02/n2", "disk:hv02/n2"))
        pg.psql("INSERT INTO faultline.maintenance (node_id, starts, ends, reason) "
                "SELECT id, now() - interval '1 hour', now() + interval '1 hour', 'disk swap' "
                "FROM faultline.nodes WHERE key = 'disk:hv02/n2'")
        wait_settled(pg)
        set_own(pg, "disk:hv01/n1", "critical", "write errors")
        set_own(pg, "disk:hv02/n2", "critical", "pulled")
        wait_eff(pg, "service:n1", "critical")
        wait_eff(pg, "service:n2", "critical")
        wait_settled(pg)
        got = notifications(pg)
        want = {
            ("disk:hv01/n1", "critical"): ("t", ""),
            ("volume:hv01/n1", "critical"): ("f", "disk:hv01/n1"),
            ("vm:hv01/n1", "critical"): ("f", "volume:hv01/n1"),
            ("service:n1", "critical"): ("t", ""),
            ("disk:hv02/n2", "critical"): ("f", "maintenance"),
            ("vm:hv02/n2", "critical"): ("f", "disk:hv02/n2"),
            ("service:n2", "critical"): ("t", ""),
        }
        check(got == want, f"notifications:\n  got  {got}\n  want {want}")
        n = pg.value("SELECT count(*) FROM faultline.status WHERE in_maintenance")
        check(n == 1, f"{n} nodes in maintenance in status")


def test_notifications_recovery():
    """A repair notifies like the failure did: the root cause and the
    service, not every node in between."""
    with Env("prop-notify2") as env:
        pg = env.pg
        start_leader(env)
        declare(pg, ("service:n1", "vm:hv01/n1"), ("vm:hv01/n1", "volume:hv01/n1"),
                ("volume:hv01/n1", "disk:hv01/n1"))
        wait_settled(pg)
        set_own(pg, "disk:hv01/n1", "critical", "write errors")
        wait_eff(pg, "service:n1", "critical")
        wait_settled(pg)
        last = pg.value("SELECT coalesce(max(id), 0) FROM faultline.effective_changes")
        set_own(pg, "disk:hv01/n1", "ok")
        wait_eff(pg, "service:n1", "ok")
        wait_settled(pg)
        got = notifications(pg, last)
        notified = sorted(k for (k, s), (n, _) in got.items() if n == "t")
        check(notified == ["disk:hv01/n1", "service:n1"],
              f"recovery notified {notified}, expected the disk and the service only; rows: {got}")


NOTIFY_RE = re.compile(r'Asynchronous notification "faultline_state" with payload "(.*)" received from server')


def test_notify_state():
    with Env("prop-listen") as env:
        pg = env.pg
        start_leader(env)
        declare(pg, ("vm:hv01/l1", "disk:hv01/l1"))
        wait_settled(pg)
        listener = subprocess.Popen(["psql", "-X", "-h", pg.sock, "-p", str(pg.port), "-U", "postgres", "-d",
                                     "faultline", "-c", "LISTEN faultline_state", "-c", "SELECT pg_sleep(4)"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: pg.value("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(4)'"),
                     10, "the listener to be listening")
            set_own(pg, "disk:hv01/l1", "critical", "gone")
            out, _ = listener.communicate(timeout=20)
        finally:
            if listener.poll() is None:
                listener.kill()
                listener.wait(timeout=10)
        payloads = [json.loads(m) for m in NOTIFY_RE.findall(out)]
        by_key = {p["key"]: p for p in payloads}
        check(set(by_key) == {"disk:hv01/l1", "vm:hv01/l1"}, f"notifications received: {out}")
        d, v = by_key["disk:hv01/l1"], by_key["vm:hv01/l1"]
        check((d["kind"], d["old"], d["new"], d["cause"]) == ("disk", "ok", "critical", None), f"disk: {d}")
        check((v["kind"], v["old"], v["new"], v["cause"]) == ("vm", "ok", "critical", "disk:hv01/l1"), f"vm: {v}")
        check(re.match(r"\d{4}-\d\d-\d\dT", v["at"]) is not None, f"no timestamp: {v}")


def test_leader_takeover():
    with Env("prop-takeover") as env:
        pg = env.pg
        c1 = start_leader(env, "c1")
        declare(pg, ("service:t", "vm:hv01/t"), ("vm:hv01/t", "disk:hv01/t1"), ("vm:hv01/t", "disk:hv01/t2"))
        set_own(pg, "disk:hv01/t1", "warning", "slow")
        wait_eff(pg, "service:t", "warning")
        env.start_collector(free_port(), name="c2")
        wait_for(lambda: 'collector "c2" ready' in env.log("collector-c2.log"), 30, "c2 to start")
        time.sleep(2.5)  # c2 asked for the lock at least once, in vain
        check("propagation leader" not in env.log("collector-c2.log"), "c2 leads while c1 does")
        locks = pg.value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7411100 AND granted")
        check(locks == 1, f"{locks} holders of the propagation lock")
        c1.send_signal(signal.SIGKILL)
        c1.wait(timeout=10)
        set_own(pg, "disk:hv01/t2", "critical", "gone")
        wait_eff(pg, "service:t", "critical", timeout=10)
        wait_for(lambda: "propagation leader" in env.log("collector-c2.log"), 10, "c2 to say it leads")
        # c2 loaded the graph afresh: it follows further changes too
        set_own(pg, "disk:hv01/t2", "ok")
        set_own(pg, "disk:hv01/t1", "ok")
        wait_eff(pg, "service:t", "ok")


def build_history_stack(pg, aid):
    declare(pg, ("service:h", "vm:hv05/h"), ("vm:hv05/h", "disk:hv05/sda"))
    pg.psql(f"UPDATE faultline.nodes SET agent_id = {aid} WHERE key IN ('vm:hv05/h', 'disk:hv05/sda')")


def past_root_cause(pg, change_state, repair_state):
    """Fails the disk, keeps the time, repairs it, then asks root_cause_at
    about that time. change_state/repair_state: functions doing it."""
    change_state()
    wait_eff(pg, "service:h", "critical")
    wait_settled(pg)
    then = pg.psql("SELECT now()")
    time.sleep(0.2)
    repair_state()
    wait_eff(pg, "service:h", "ok")
    wait_settled(pg)
    check(root_causes(pg, "service:h") == [], "the repaired service still has a root cause")
    return rows(pg, f"SELECT cause_key, cause_state, array_to_string(path, ' > ') "
                    f"FROM faultline.root_cause_at('service:h', {q(then)})")


def apply_states(pg, aid, key, state, reason):
    doc = json.dumps({"states": [{"key": key, "state": state, "reason": reason}]})
    pg.psql(f"SELECT faultline.apply_states({aid}, {q(doc)})")


def test_history_root_cause_at():
    """Own states through the ingest path (faultline.apply_states)."""
    with Env("prop-history") as env:
        pg = env.pg
        start_leader(env)
        aid = add_agent_row(pg, "hv05", silent=False)
        build_history_stack(pg, aid)
        wait_settled(pg)
        got = past_root_cause(pg, lambda: apply_states(pg, aid, "disk:hv05/sda", "critical", "write errors"),
                              lambda: apply_states(pg, aid, "disk:hv05/sda", "ok", None))
        check(got == [["disk:hv05/sda", "critical", "service:h > vm:hv05/h > disk:hv05/sda"]],
              f"root_cause_at while it was failing: {got}")
        now = rows(pg, "SELECT * FROM faultline.root_cause_at('service:h', now())")
        check(now == [], f"root_cause_at now: {now}")
        old = rows(pg, "SELECT * FROM faultline.root_cause_at('service:h', now() - interval '1 day')")
        check(old == [], f"root_cause_at before the service existed: {old}")


def test_history_direct_update():
    """Own state set with UPDATE faultline.nodes (as operators' tools and
    these tests do): the history must know it too."""
    with Env("prop-history2") as env:
        pg = env.pg
        start_leader(env)
        aid = add_agent_row(pg, "hv05", silent=False)
        build_history_stack(pg, aid)
        wait_settled(pg)
        got = past_root_cause(pg, lambda: set_own(pg, "disk:hv05/sda", "critical", "write errors"),
                              lambda: set_own(pg, "disk:hv05/sda", "ok"))
        check(got == [["disk:hv05/sda", "critical", "service:h > vm:hv05/h > disk:hv05/sda"]],
              f"root_cause_at while it was failing (own state set by UPDATE): {got}")


def test_history_silent_agent():
    """A service that was unknown because an agent was silent: asked later,
    root_cause_at names the silent node."""
    with Env("prop-history3") as env:
        pg = env.pg
        start_leader(env)
        aid = add_agent_row(pg, "hv05", silent=False)
        declare(pg, ("service:h", "vm:hv05/h"))
        pg.psql(f"UPDATE faultline.nodes SET agent_id = {aid} WHERE key = 'vm:hv05/h'")
        wait_settled(pg)
        pg.psql(f"UPDATE faultline.agents SET last_seen = now() - interval '1 hour', interval_ms = 1000 "
                f"WHERE id = {aid}")
        wait_eff(pg, "service:h", "unknown", timeout=30)
        wait_settled(pg)
        then = pg.psql("SELECT now()")
        pg.psql(f"UPDATE faultline.agents SET last_seen = now(), interval_ms = 3600000 WHERE id = {aid}")
        wait_eff(pg, "service:h", "ok", timeout=30)
        got = rows(pg, f"SELECT cause_key, cause_state FROM faultline.root_cause_at('service:h', {q(then)})")
        check(got == [["vm:hv05/h", "unknown"]], f"root_cause_at while the agent was silent: {got}")


def test_removed_dependency():
    """A failing disk that is no longer discovered (removed_at set, its
    last own state kept, as apply_inventory does) stops hurting the nodes
    above it."""
    with Env("prop-removed") as env:
        pg = env.pg
        start_leader(env)
        declare(pg, ("service:r", "raid:hv01/md1"), ("raid:hv01/md1", "disk:hv01/r1"),
                ("raid:hv01/md1", "disk:hv01/r2"))
        pg.psql("UPDATE faultline.nodes SET min_ok = 1 WHERE key = 'raid:hv01/md1'")
        set_own(pg, "disk:hv01/r1", "critical", "dead")
        wait_eff(pg, "service:r", "warning")
        pg.psql("UPDATE faultline.nodes SET removed_at = now() WHERE key = 'disk:hv01/r1'")
        wait_settled(pg)
        check(eff(pg, "raid:hv01/md1") == "ok", f"the raid is {eff(pg, 'raid:hv01/md1')} after its failed "
              f"member was removed")
        check(eff(pg, "service:r") == "ok", f"service:r is {eff(pg, 'service:r')}")


def test_diamond_ladder():
    """Redundancy at every layer (each node depends on both nodes of the
    layer below, 40 layers, 80 nodes): the queries must walk nodes, not
    the 2^40 paths."""
    with Env("prop-ladder") as env:
        pg = env.pg
        start_leader(env)
        pg.psql("INSERT INTO faultline.nodes (key, kind) "
                "SELECT 'dm:ladder/l' || i || s, 'dm' FROM generate_series(0, 39) i, unnest(ARRAY['a', 'b']) s;"
                "INSERT INTO faultline.nodes (key, kind) VALUES ('disk:ladder/bottom', 'disk');"
                "INSERT INTO faultline.edges (from_id, to_id, type) "
                "SELECT f.id, t.id, 'depends_on' FROM generate_series(0, 38) i, unnest(ARRAY['a', 'b']) x, "
                "unnest(ARRAY['a', 'b']) y, faultline.nodes f, faultline.nodes t "
                "WHERE f.key = 'dm:ladder/l' || i || x AND t.key = 'dm:ladder/l' || (i + 1) || y;"
                "INSERT INTO faultline.edges (from_id, to_id, type) "
                "SELECT f.id, t.id, 'depends_on' FROM faultline.nodes f, faultline.nodes t "
                "WHERE f.key IN ('dm:ladder/l39a', 'dm:ladder/l39b') AND t.key = 'disk:ladder/bottom'")
        set_own(pg, "disk:ladder/bottom", "critical", "gone")
        # its own-state history, as apply_states keeps it (root_cause_at
        # reads it)
        pg.psql("INSERT INTO faultline.state_changes (node_id, old_state, new_state, reason) "
                "SELECT id, 'ok', 'critical', 'gone' FROM faultline.nodes WHERE key = 'disk:ladder/bottom'")
        wait_eff(pg, "dm:ladder/l0a", "critical")
        wait_settled(pg)
        slow = []

        def bounded(what, sql):
            out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.sock, "-p",
                                  str(pg.port), "-U", "postgres", "-d", "faultline", "-c", sql],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60,
                                 env=dict(os.environ, PGOPTIONS="-c statement_timeout=10s"))
            if out.returncode != 0:
                slow.append(f"{what}: {out.stderr.strip()}")
            return out.stdout.strip()

        n = bounded("root_cause_of(top)", "SELECT count(*) FROM faultline.root_cause_of('dm:ladder/l0a')")
        check(n in ("", "1"), f"root cause of the top: {n}")
        n = bounded("impact_of(bottom)", "SELECT count(*) FROM faultline.impact_of('disk:ladder/bottom')")
        check(n in ("", "80"), f"impact of the bottom: {n}")
        n = bounded("root_cause_at(top)", "SELECT count(*) FROM faultline.root_cause_at('dm:ladder/l0a', now())")
        check(n in ("", "1"), f"root cause of the top, from history: {n}")
        bounded("declare_edge(service, top)", "SELECT faultline.declare_edge('service:ladder', 'dm:ladder/l0a')")
        check(not slow, "path enumeration instead of a walk over nodes:\n  " + "\n  ".join(slow))


def test_large_round():
    """One round that changes 40,000 effective states (20,000 disks under
    20,000 VMs fail in one UPDATE). A healthy leader writes it in a second
    or two; the bound is 15 times that."""
    with Env("prop-large") as env:
        pg = env.pg
        start_leader(env)
        pg.psql("INSERT INTO faultline.nodes (key, kind) "
                "SELECT 'disk:big/d' || i, 'disk' FROM generate_series(1, 20000) i "
                "UNION ALL SELECT 'vm:big/vm' || i, 'vm' FROM generate_series(1, 20000) i;"
                "INSERT INTO faultline.edges (from_id, to_id, type) "
                "SELECT v.id, d.id, 'depends_on' FROM generate_series(1, 20000) i "
                "JOIN faultline.nodes v ON v.key = 'vm:big/vm' || i JOIN faultline.nodes d ON d.key = 'disk:big/d' || i")
        wait_settled(pg, timeout=60)
        # a small change first, as happens all day long
        declare(pg, ("service:small", "disk:small/d1"))
        set_own(pg, "disk:small/d1", "warning", "slow")
        wait_eff(pg, "service:small", "warning")
        pg.psql("UPDATE faultline.nodes SET own_state = 'critical', reason = 'enclosure lost' "
                "WHERE key LIKE 'disk:big/%'")
        wait_for(lambda: pg.value("SELECT count(*) FROM faultline.nodes WHERE key LIKE 'vm:big/%' "
                                  "AND effective_state = 'critical'") == 20000, 30,
                 "20,000 VMs to turn critical in one round")


def test_ingest_does_not_block_propagation():
    """An agent's batch in flight (its transaction has updated its nodes'
    rows, e.g. last_seen, and commits a moment later, after its COPY)
    while the leader writes effective states of the same nodes: the
    leader must not stall behind it (a failure elsewhere propagates
    meanwhile), and neither may fail when the batch goes on."""
    with Env("prop-locks") as env:
        pg = env.pg
        start_leader(env)
        declare(pg, ("service:l", "vm:hv01/l"), ("vm:hv01/l", "disk:hv01/l"),
                ("service:x", "vm:hv02/x"), ("vm:hv02/x", "disk:hv02/x"))
        wait_settled(pg)
        batch = subprocess.Popen(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", pg.sock, "-p",
                                  str(pg.port), "-U", "postgres", "-d", "faultline"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        stalled = None
        try:
            # the batch touches the vm ...
            batch.stdin.write("BEGIN;\nUPDATE faultline.nodes SET last_seen = now() WHERE key = 'vm:hv01/l';\n")
            batch.stdin.flush()
            wait_for(lambda: pg.value("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"),
                     10, "the batch to hold its row")
            # ... meanwhile another batch reports its disk failed ...
            set_own(pg, "disk:hv01/l", "critical", "gone")
            time.sleep(1)
            # ... and a failure on another host must not wait for the batch
            set_own(pg, "disk:hv02/x", "critical", "gone")
            try:
                wait_eff(pg, "service:x", "critical", timeout=10)
            except Failure as e:
                stalled = str(e)
            # the first batch goes on with the disk, and commits
            batch.stdin.write("UPDATE faultline.nodes SET last_seen = now() WHERE key = 'disk:hv01/l';\nCOMMIT;\n")
            batch.stdin.close()
            out = batch.stdout.read()
            rc = batch.wait(timeout=30)
        finally:
            if batch.poll() is None:
                batch.kill()
                batch.wait(timeout=10)
        check(stalled is None, f"propagation stalled behind an open ingest transaction: {stalled}")
        check(rc == 0, f"the agent's batch failed: {out.strip()}")
        wait_eff(pg, "service:l", "critical")
        log = env.log("collector-c1.log")
        check("propagation interrupted" not in log, "the leader failed:\n" + log[-1500:])


TESTS = [test_storage_chain, test_web_tier, test_shared_dependencies, test_deep_chain, test_refused_cycle,
         test_silent_agent, test_availability_maintenance, test_availability_maintenance_over_blind,
         test_notifications, test_notifications_recovery, test_notify_state, test_leader_takeover,
         test_history_root_cause_at, test_history_direct_update, test_history_silent_agent,
         test_removed_dependency, test_diamond_ladder, test_large_round, test_ingest_does_not_block_propagation]

if __name__ == "__main__":
    # meson runs this file as one test named test_propagation_all: all of it
    sys.argv = [a for a in sys.argv if a != "test_propagation_all"]
    run(TESTS)
