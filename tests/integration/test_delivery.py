#!/usr/bin/env python3
"""Agent → collector → PostgreSQL, and delivery that loses nothing: the
collector killed and restarted while the agent sends, PostgreSQL stopped for
20 seconds. Every sample the agent produced must be in the database exactly
once."""

import os
import signal
import subprocess
import time

from harness import Env, check, fixture_args, free_port, read_stats, run, wait_for


def assert_all_delivered(env, state, stats):
    pg = env.pg
    rows = pg.value("SELECT count(*) FROM faultline.samples")
    distinct = pg.value("SELECT count(*) FROM (SELECT DISTINCT series_id, ts FROM faultline.samples) d")
    check(stats["samples"] > 0, f"the agent produced no samples: {stats}")
    check(rows == distinct, f"duplicated samples: {rows} rows, {distinct} distinct")
    check(rows == stats["samples"], f"lost samples: agent produced {stats['samples']}, database has {rows}")
    check(stats["spool_count"] == 0, f"spool not drained: {stats}")
    hwm = pg.value("SELECT sequence FROM faultline.agent_sequence")
    check(hwm == stats["last_sequence"], f"high-water mark {hwm}, agent's last sequence {stats['last_sequence']}")
    # Every cycle's timestamp is there for every series: no gap in any series.
    per_series = pg.psql("SELECT count(*) FROM faultline.samples GROUP BY series_id")
    counts = {int(x) for x in per_series.split()}
    check(len(counts) == 1, f"series have different sample counts: {sorted(counts)}")


def test_agent_to_rows():
    with Env("pipeline") as env:
        port = free_port()
        env.start_collector(port)
        key = env.add_agent("fx01")
        cfg, state = env.agent_config("fx01", key, [port])
        agent = env.start_agent(cfg, "--cycles", "6", *fixture_args())
        check(agent.wait(timeout=60) == 0, "agent did not deliver everything:\n" + env.log("agent-a.log"))
        stats = read_stats(state)
        assert_all_delivered(env, state, stats)
        pg = env.pg
        keys = set(pg.psql("SELECT key FROM faultline.nodes").split())
        for k in ("host:fx01", "disk:fx01/sda", "disk:fx01/sdb", "dm:fx01/vg0-root", "nic:fx01/eth0"):
            check(k in keys, f"node {k} missing from {sorted(keys)}")
        check("disk:fx01/loop0" not in keys and "nic:fx01/lo" not in keys, f"loop0/lo not skipped: {keys}")
        edges = pg.value("SELECT count(*) FROM faultline.edges e JOIN faultline.nodes t ON t.id = e.to_id "
                         "WHERE t.key = 'host:fx01' AND e.type = 'part_of'")
        check(edges >= 4, f"expected part_of edges to host:fx01, got {edges}")
        check(pg.psql("SELECT own_state FROM faultline.status WHERE key = 'host:fx01'") == "ok", "host state")
        check(pg.psql("SELECT last_seen IS NOT NULL AND hostname = 'fx01' FROM faultline.agents") == "t",
              "heartbeat not stored")
        metrics = set(pg.psql("SELECT DISTINCT metric FROM faultline.series").split())
        for m in ("disk.write_iops", "disk.util_pct", "nic.rx_errors_per_s"):
            check(m in metrics, f"metric {m} missing from {sorted(metrics)}")
        out = env.cli("status", "--kind", "disk").stdout
        check("disk:fx01/sda" in out and "host:fx01" not in out, f"status --kind disk:\n{out}")
        # A second agent run (a restart) starts a new boot epoch and is accepted.
        agent = env.start_agent(cfg, "--cycles", "3", *fixture_args())
        check(agent.wait(timeout=60) == 0, "restarted agent did not deliver")
        stats2 = read_stats(state)
        check(stats2["boot_epoch"] > stats["boot_epoch"], "boot epoch did not grow across restarts")
        check(pg.value("SELECT boot_epoch FROM faultline.agent_sequence") == stats2["boot_epoch"], "epoch hwm")


def test_collector_restart():
    """The collector is killed (SIGKILL) twice while the agent sends."""
    with Env("restart") as env:
        port = free_port()
        collector = env.start_collector(port)
        key = env.add_agent("fx01")
        cfg, state = env.agent_config("fx01", key, [port])
        agent = env.start_agent(cfg, "--cycles", "50", "--drain-timeout", "60", *fixture_args())
        for _ in range(2):
            time.sleep(2)
            collector.send_signal(signal.SIGKILL)
            collector.wait(timeout=10)
            time.sleep(1.5)
            collector = env.start_collector(port)
        check(agent.wait(timeout=120) == 0, "agent did not deliver everything:\n" + env.log("agent-a.log"))
        assert_all_delivered(env, state, read_stats(state))


def test_postgres_outage():
    """PostgreSQL stops for 20 seconds; the collector withholds acks, the
    agent spools, and everything arrives once PostgreSQL is back."""
    with Env("pgdown") as env:
        port = free_port()
        # A tiny queue, so that resends during the outage find it full and
        # are answered "retry later" instead of piling up.
        env.start_collector(port, extra="queue = { max_batches = 2; };\n")
        key = env.add_agent("fx01")
        cfg, state = env.agent_config("fx01", key, [port])
        agent = env.start_agent(cfg, "--cycles", "130", "--drain-timeout", "90", *fixture_args())
        time.sleep(3)
        env.pg.stop("fast")
        time.sleep(20)
        spooled = len([f for f in os.listdir(os.path.join(state, "spool")) if f.endswith(".batch")])
        check(spooled > 10, f"expected batches to pile up in the spool during the outage, found {spooled}")
        env.pg.start()
        check(agent.wait(timeout=150) == 0, "agent did not deliver everything:\n" + env.log("agent-a.log"))
        stats = read_stats(state)
        assert_all_delivered(env, state, stats)
        check(stats["retry"] > 0, f"the full queue never asked the agent to retry: {stats}")
        log = env.log("collector-c1.log")
        check("database unavailable" in log and "re-established" in log, f"collector log:\n{log}")


def test_two_collectors():
    """Two collectors on one database; the agent lists both. One dies for
    good halfway: the other takes all the traffic, nothing is lost."""
    with Env("twocoll") as env:
        p1, p2 = free_port(), free_port()
        c1 = env.start_collector(p1, name="c1")
        env.start_collector(p2, name="c2")
        key = env.add_agent("fx01")
        cfg, state = env.agent_config("fx01", key, [p1, p2])
        agent = env.start_agent(cfg, "--cycles", "40", "--drain-timeout", "60", *fixture_args())
        time.sleep(3)
        c1.send_signal(signal.SIGKILL)
        check(agent.wait(timeout=90) == 0, "agent did not deliver everything:\n" + env.log("agent-a.log"))
        assert_all_delivered(env, state, read_stats(state))


if __name__ == "__main__":
    run([test_agent_to_rows, test_collector_restart, test_postgres_outage, test_two_collectors])
