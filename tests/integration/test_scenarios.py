#!/usr/bin/env python3
"""Whole-pipeline scenarios: agents read captured host trees, a collector
writes what they find to PostgreSQL, its propagation leader derives the
effective states, and the views and the CLI answer. Operators declare the
services on top with the CLI, as they would."""

import os
import signal
import time

from harness import DATA, Env, check, free_port, run, wait_for
from test_dump import copy_tree


def start_host(env, port, tree, name=None, extra=""):
    """Runs an agent over a private copy of a captured tree; returns the
    copy's root (update it with copy_tree to change the host) and the
    process."""
    root = os.path.join(env.dir, f"root-{tree}")
    copy_tree(os.path.join(DATA, "hosts", tree), root)
    with open(os.path.join(root, "proc", "sys", "kernel", "hostname")) as f:
        host = f.read().strip()
    key = env.add_agent(name or host)
    cfg, _ = env.agent_config(host, key, [port], interval=0.3, ack_timeout=1.0,
                              extra='flush_interval = 0.3;\npaths = { rootfs = "%s"; procfs = "%s/proc"; '
                                    'sysfs = "%s/sys"; devfs = "%s/dev"; };\n' % (root, root, root, root) + extra)
    agent = env.start_agent(cfg, name=host)
    return root, agent


def effective(env, key):
    return env.pg.psql(f"SELECT effective_state FROM faultline.nodes WHERE key = '{key}'")


def wait_state(env, key, state, timeout=30):
    wait_for(lambda: effective(env, key) == state, timeout, f"{key} {state}")


def root_causes(env, key):
    out = env.pg.psql(f"SELECT cause_key, cause_state, cause_reason, array_to_string(path, ' > ') "
                      f"FROM faultline.root_cause_of('{key}')")
    return [line.split("|") for line in out.splitlines() if line]


def test_raid1_disk_failures():
    """One member of the RAID1 under the datastore fails: the service is at
    risk (warning) with that member as root cause and the whole path; the
    second fails: critical, both named."""
    with Env("scen-raid") as env:
        port = free_port()
        env.start_collector(port)
        root, _ = start_host(env, port, "raid1-lvm")
        wait_for(lambda: env.pg.value("SELECT count(*) FROM faultline.nodes WHERE key = "
                                      "'filesystem:raid1host/var/lib/libvirt/images'") == 1, 30, "inventory")
        env.cli("service", "add", "shop", "--needs", "filesystem:raid1host/var/lib/libvirt/images")
        wait_state(env, "service:shop", "ok")

        copy_tree(os.path.join(DATA, "hosts", "raid1-lvm-sdb-faulty"), root)
        wait_state(env, "service:shop", "warning")
        # The failed member first; the array, degraded by its own account,
        # is a cause too (at risk).
        causes = root_causes(env, "service:shop")
        check([c[0] for c in causes] == ["partition:raid1host/sdb2", "raid:raid1host/md0"], f"causes {causes}")
        check(causes[0][1] == "critical" and causes[1][1] == "warning", f"cause states {causes}")
        check(causes[1][2] == "degraded: 1 of 2 members working", f"array reason {causes}")
        check(causes[0][2] == "marked faulty in md0", f"reason {causes}")
        check(causes[0][3] == "service:shop > filesystem:raid1host/var/lib/libvirt/images > "
              "dm:raid1host/vg0-images > raid:raid1host/md0 > partition:raid1host/sdb2", f"path {causes}")
        why = env.cli("why", "service:shop").stdout
        check("partition:raid1host/sdb2" in why and "marked faulty in md0" in why, f"why:\n{why}")
        impact = env.pg.psql("SELECT node_key FROM faultline.impact_of('partition:raid1host/sdb2')").split()
        check(impact and impact[0] == "service:shop", f"impact, services first: {impact}")

        copy_tree(os.path.join(DATA, "hosts", "raid1-lvm-both-faulty"), root)
        wait_state(env, "service:shop", "critical")
        keys = sorted(c[0] for c in root_causes(env, "service:shop"))
        check(keys == ["partition:raid1host/sda2", "partition:raid1host/sdb2", "raid:raid1host/md0"],
              f"causes {keys}")
        # Only the root causes and the service notify; what lies between is
        # suppressed by its cause.
        rows = env.pg.psql("SELECT key, notify, coalesce(suppressed_by, '') FROM faultline.notifications "
                           "WHERE new_state = 'critical' ORDER BY id")
        notified = {line.split("|")[0] for line in rows.splitlines() if line.split("|")[1] == "t"}
        check(notified == {"partition:raid1host/sda2", "partition:raid1host/sdb2", "raid:raid1host/md0",
                           "service:shop"}, f"notified {notified}:\n{rows}")
        suppressed = {line.split("|")[0]: line.split("|")[2] for line in rows.splitlines()
                      if line.split("|")[1] == "f"}
        check(suppressed.get("dm:raid1host/vg0-images") == "raid:raid1host/md0", f"suppressed {suppressed}")


def test_silent_agent_is_a_blind_spot():
    """The agent goes silent: its nodes and the service become unknown, not
    critical, and availability counts that time as blind, not down."""
    with Env("scen-silent") as env:
        port = free_port()
        env.start_collector(port, extra="silent_intervals = 2;\n")
        _, agent = start_host(env, port, "raid1-lvm")
        wait_for(lambda: env.pg.value("SELECT count(*) FROM faultline.nodes WHERE key = 'filesystem:raid1host/'")
                 == 1, 30, "inventory")
        env.cli("service", "add", "intranet", "--needs", "filesystem:raid1host/")
        wait_state(env, "service:intranet", "ok")
        start = env.pg.psql("SELECT now()")
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
        wait_state(env, "service:intranet", "unknown", timeout=40)
        check(effective(env, "filesystem:raid1host/") == "unknown", "filesystem not unknown")
        reason = env.pg.psql("SELECT reason FROM faultline.status WHERE key = 'disk:raid1host/sda'")
        check(reason == "agent silent", f"reason {reason!r}")
        time.sleep(1)
        sla = env.pg.psql(f"SELECT down_minutes, blind_minutes > 0, uptime_pct "
                          f"FROM faultline.availability('service:intranet', '{start}', now())")
        down, blind, uptime = sla.split("|")
        check(float(down) == 0 and blind == "t" and float(uptime) == 100, f"availability {sla}")


def test_web_tier_and_maintenance():
    """A 2-of-3 tier over three hosts: one member critical makes the service
    warning; maintenance on the failing node keeps the service's downtime
    out of one availability figure but not the other."""
    with Env("scen-tier") as env:
        port = free_port()
        env.start_collector(port)
        start_host(env, port, "raid1-lvm")
        root_io, _ = start_host(env, port, "disk-ioerr")
        start_host(env, port, "nvme")
        members = ["filesystem:raid1host/", "filesystem:ioerrhost/data", "filesystem:nvmehost/var"]
        wait_for(lambda: env.pg.value("SELECT count(*) FROM faultline.nodes WHERE key = ANY ('{%s}')"
                                      % ",".join(members)) == 3, 40, "inventories of three hosts")
        env.cli("service", "add", "web", "--needs", ",".join(members), "--min-ok", "2")
        wait_state(env, "service:web", "ok")

        copy_tree(os.path.join(DATA, "hosts", "disk-ioerr-later"), root_io)
        wait_state(env, "service:web", "warning")
        check(effective(env, "filesystem:ioerrhost/data") == "critical", "member not critical")
        causes = {c[0] for c in root_causes(env, "service:web")}
        check("filesystem:ioerrhost/data" in causes and "disk:ioerrhost/sdb" in causes, f"causes {causes}")

        # The third member fails too (a declared dependency on a node of the
        # second host going critical): fewer than 2 ok, the tier is down.
        t_down = env.pg.psql("SELECT now()")
        env.pg.psql("UPDATE faultline.nodes SET own_state = 'critical', reason = 'test: array lost' "
                    "WHERE key = 'filesystem:nvmehost/var'")
        # (the nvme agent reports its states only on change; the override
        # holds until it does)
        wait_state(env, "service:web", "critical")
        env.cli("maintenance", "add", "filesystem:nvmehost/var", "--from", t_down, "--until", "+1h",
                "--reason", "array rebuild")
        time.sleep(2)
        sla = env.pg.psql(f"SELECT down_minutes > 0, down_outside_maintenance_minutes, uptime_pct < 100, "
                          f"uptime_excluding_maintenance_pct FROM faultline.availability('service:web', "
                          f"'{t_down}'::timestamptz - interval '1 minute', now())")
        down, down_out, below, excl = sla.split("|")
        check(down == "t" and below == "t", f"the users' figure must count the downtime: {sla}")
        check(float(down_out) == 0 and float(excl) == 100, f"maintenance not excluded: {sla}")
        note = env.pg.psql("SELECT notify, suppressed_by FROM faultline.notifications "
                           "WHERE key = 'filesystem:nvmehost/var' ORDER BY id DESC LIMIT 1")
        check(note == "f|maintenance", f"a node in maintenance notified: {note}")


if __name__ == "__main__":
    run([test_raid1_disk_failures, test_silent_agent_is_a_blind_spot, test_web_tier_and_maintenance])
