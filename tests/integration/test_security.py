#!/usr/bin/env python3
"""Forged, tampered, replayed, stale, oversized, malformed and undecodable
messages are refused, counted by reason, and write nothing; a revoked agent
is refused."""

import os
import subprocess
import time

from harness import AGENT, FL_SEND, Env, check, free_port, run, wait_for


def send(env, port, mode, key="", epoch=1, seq=1, arg=None):
    args = [FL_SEND, f"tcp://127.0.0.1:{port}", env.collector_pk, mode, key, str(epoch), str(seq)]
    if arg:
        args.append(arg)
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, text=True, timeout=30).stdout.strip()


def rejections(env):
    out = env.pg.psql("SELECT reason, count FROM faultline.rejections ORDER BY reason")
    return {line.split("|")[0]: int(line.split("|")[1]) for line in out.splitlines() if line}


def test_rejections():
    with Env("security") as env:
        port = free_port()
        env.start_collector(port, extra="max_message_bytes = 1048576;\n")
        key = env.add_agent("fx01")
        pg = env.pg
        frame = os.path.join(env.dir, "frame.bin")

        check(send(env, port, "valid", key, 5, 1, frame) == "ack committed", "valid batch not committed")
        samples = pg.value("SELECT count(*) FROM faultline.samples")
        check(samples == 10, f"valid batch wrote {samples} samples, expected 10")

        expect = {
            "unknown-key": "no reply",
            "bad-auth": "no reply",
            "tamper": "no reply",
            "malformed": "no reply",
            "oversized": "no reply",
            "garbage-payload": "ack invalid",
        }
        for mode, want in expect.items():
            got = send(env, port, mode, key, 5, 2)
            check(got == want, f"{mode}: expected {want!r}, got {got!r}")
        # The same frame again, byte for byte: a replay.
        check(send(env, port, "replay", arg=frame).startswith("reply"), "replay got no answer")
        # Re-sealed with a sequence at the high-water mark: a resend.
        check(send(env, port, "valid", key, 5, 1) == "ack duplicate", "resend not seen as duplicate")
        # An older boot epoch than the one accepted.
        check(send(env, port, "valid", key, 4, 100) == "ack stale", "older epoch not refused as stale")

        want = {"unknown_agent": 1, "bad_auth": 2, "malformed": 1, "oversized": 1, "undecodable": 1,
                "duplicate": 2, "stale": 1}
        got = wait_for(lambda: rejections(env) if rejections(env) == want else None, 15,
                       f"rejection counters {want}")
        check(got == want, f"rejections {got}")
        check(pg.value("SELECT count(*) FROM faultline.samples") == samples, "a refused message wrote samples")
        check(pg.value("SELECT sequence FROM faultline.agent_sequence") == 1, "high-water mark moved")

        # A revoked agent is refused within the key refresh interval.
        env.cli("agent", "remove", "fx01")
        time.sleep(2.5)
        check(send(env, port, "valid", key, 6, 1) == "no reply", "revoked agent still accepted")
        wait_for(lambda: rejections(env).get("unknown_agent") == 2, 15, "revoked agent counted as unknown")
        check(pg.value("SELECT count(*) FROM faultline.samples") == samples, "revoked agent wrote samples")
        log = env.log("collector-c1.log")
        secret = open(key).read().strip()
        check(secret not in log, "a secret key appeared in the collector log")


def test_cli_agents():
    with Env("cli") as env:
        key = env.add_agent("web01")
        check(oct(os.stat(key).st_mode & 0o777) == "0o600", "generated key file is not mode 0600")
        p = env.cli("agent", "add", "web01", check_rc=False)
        check(p.returncode != 0 and "registered already" in p.stderr, f"duplicate name: {p.stderr}")
        p = env.cli("agent", "add", "web02", "--public-key", "not-a-key", check_rc=False)
        check(p.returncode == 2 and "invalid public key" in p.stderr, f"bad key: {p.stderr}")
        agent_key = os.path.join(env.dir, "web02.key")
        pub = subprocess.run([AGENT, "--keygen", "--key-file", agent_key], check=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True).stdout.strip()
        env.cli("agent", "add", "web02", "--public-key", pub)
        listing = env.cli("agent", "list", "--json").stdout
        check('"web01"' in listing and pub in listing, f"agent list: {listing}")
        p = env.cli("agent", "remove", "nosuch", check_rc=False)
        check(p.returncode == 1 and "no active agent" in p.stderr, f"remove unknown: {p.stderr}")
        env.cli("agent", "remove", "web02")
        check("web02" not in env.cli("agent", "list").stdout, "revoked agent still listed")
        check("revoked" in env.cli("agent", "list", "--all").stdout, "revoked agent not shown with --all")
        # The key of a revoked agent can never be registered again.
        p = env.cli("agent", "add", "web03", "--public-key", pub, check_rc=False)
        check(p.returncode == 1, "a revoked key was accepted again")
        p = subprocess.run([AGENT, "--keygen", "--key-file", agent_key], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        check(p.returncode != 0 and "already exists" in p.stderr, "keygen overwrote an existing key")


if __name__ == "__main__":
    run([test_rejections, test_cli_agents])
