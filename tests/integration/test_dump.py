#!/usr/bin/env python3
"""What `faultline-agent --once --dump` prints: golden files for the captured
host trees in tests/data/hosts, a sane inventory of the machine the tests run
on, and no crash on a missing /proc. No PostgreSQL needed.

FL_REGENERATE=1 writes tests/data/hosts/*/expected-dump.json from the
current output instead of comparing; review the diff before committing it."""

import difflib
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile

from harness import AGENT, DATA, Failure, check, run

HOSTNAME = "fixture01"
KEY_RE = re.compile(r"^[a-z]+:[^ ]+$")


def agent_version():
    p = subprocess.run([AGENT, "--version"], stdout=subprocess.PIPE, text=True, timeout=30, check=True)
    return p.stdout.split()[-1]


def dump(*args):
    """Runs one --once --dump cycle; returns (exit status, parsed stdout or
    None, stderr)."""
    p = subprocess.run([AGENT, "--once", "--dump"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    check(p.returncode >= 0, f"agent killed by signal {-p.returncode}; stderr:\n{p.stderr}")
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else None
    except json.JSONDecodeError as e:
        raise Failure(f"--dump printed invalid JSON ({e}):\n{p.stdout[:2000]}")
    return p.returncode, out, p.stderr


def normalise(d):
    """Drops what changes from run to run (sample times, the version) and
    puts every list in a fixed order, so that only what the agent found is
    compared."""
    version = agent_version()
    nodes = []
    for n in d["nodes"]:
        n = dict(n)
        attrs = dict(n.get("attributes", {}))
        if n.get("kind") == "host":
            check(attrs.get("agent_version") == version,
                  f"host agent_version {attrs.get('agent_version')!r}, expected {version!r}")
            attrs["agent_version"] = "@VERSION@"
        n["attributes"] = attrs
        nodes.append(n)
    samples = []
    for s in d["samples"]:
        check(isinstance(s.get("time_us"), int) and s["time_us"] > 0, f"sample without a time: {s}")
        s = {k: v for k, v in s.items() if k != "time_us"}
        samples.append(s)
    return {
        "nodes": sorted(nodes, key=lambda n: n["key"]),
        "edges": sorted(d["edges"], key=lambda e: (e["from"], e["to"], e["type"])),
        "states": sorted(d["states"], key=lambda s: (s["key"], s["state"], s.get("reason") or "")),
        "samples": sorted(samples, key=lambda s: (s["key"], s["metric"])),
    }


def as_text(d):
    return json.dumps(d, indent=2, sort_keys=True) + "\n"


# Scenarios: a base tree and the overlays applied before each later cycle
# (see tests/data/hosts/README.md). Each is replayed through the agent with
# --dump --cycles, one cycle per line on its standard input and a fixed
# clock step of 10 s, in a temporary copy of the tree that the test updates
# between cycles; the golden file holds every cycle's output.
SCENARIOS = {
    "plain": [],
    "raid1-lvm": [],
    "raid5-faulty": [],
    "raid5-faulty-rebuild": [],
    "nvme": [],
    "disk-ioerr": ["disk-ioerr-later", "disk-ioerr-offline"],
    "bond-crc": ["bond-crc-later"],
}


def copy_tree(src, dst):
    """cp -a src/. dst/: files are rewritten in place (same inode, as the
    kernel updates /proc and /sys), symlinks replaced."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = os.path.join(dst, rel)
        os.makedirs(target, exist_ok=True)
        for name in dirnames + filenames:
            s_path, d_path = os.path.join(dirpath, name), os.path.join(target, name)
            if os.path.islink(s_path):
                if os.path.lexists(d_path):
                    if os.path.isdir(d_path) and not os.path.islink(d_path):
                        shutil.rmtree(d_path)
                    else:
                        os.unlink(d_path)
                os.symlink(os.readlink(s_path), d_path)
                if name in dirnames:
                    dirnames.remove(name)  # do not descend through a link
            elif name in filenames:
                with open(s_path, "rb") as fi, open(d_path, "wb") as fo:
                    fo.write(fi.read())


def replay(name, overlays):
    """Runs the scenario; returns the normalised output of every cycle."""
    base = os.path.join(DATA, "hosts", name)
    with tempfile.TemporaryDirectory(prefix="fl-dump-") as tmp:
        root = os.path.join(tmp, "root")
        copy_tree(base, root)
        # Two readings of the base tree so rates exist, then one per overlay.
        cycles = 2 + len(overlays)
        p = subprocess.Popen([AGENT, "--dump", "--cycles", str(cycles), "--step-on-input", "--clock-step", "10",
                              "--rootfs", root, "--procfs", os.path.join(root, "proc"), "--sysfs",
                              os.path.join(root, "sys"), "--devfs", os.path.join(root, "dev")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        outs = []
        try:
            for i in range(cycles):
                line = p.stdout.readline()
                if not line:  # (read stderr only then: it blocks until the agent exits)
                    raise Failure(f"{name}: the agent stopped after {i} cycles: {p.stderr.read()}")
                outs.append(normalise(json.loads(line)))
                if i >= 1 and i - 1 < len(overlays):
                    copy_tree(os.path.join(DATA, "hosts", overlays[i - 1]), root)
                if i + 1 < cycles:
                    p.stdin.write("next\n")  # the tree is ready for the next cycle
                    p.stdin.flush()
            p.stdin.close()
            if p.wait(timeout=30) != 0:
                raise Failure(f"{name}: exit status {p.returncode}: {p.stderr.read()}")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outs[1:]  # the first cycle has no rates yet


def test_dump():
    regenerate = os.environ.get("FL_REGENERATE") == "1"
    failures = []
    for name, overlays in SCENARIOS.items():
        path = os.path.join(DATA, "hosts", name, "expected-dump.json")
        got = as_text({"cycles": replay(name, overlays)})
        if regenerate:
            with open(path, "w") as f:
                f.write(got)
            print(f"wrote {path}")
            continue
        check(os.path.exists(path), f"{path} missing (FL_REGENERATE=1 writes it)")
        with open(path) as f:
            want = f.read()
        if json.loads(want) != json.loads(got):
            diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), path, "agent output"))
            failures.append(f"{name} differs from {path}:\n{diff}")
    check(not failures, "\n".join(failures) + "\n(FL_REGENERATE=1 rewrites the files; review the diff)")


def check_inventory(d):
    """What any dump must satisfy, whatever the host."""
    nodes = d["nodes"]
    keys = [n["key"] for n in nodes]
    dups = sorted(set(k for k in keys if keys.count(k) > 1))
    check(not dups, f"nodes listed more than once: {dups}")
    for n in nodes:
        check(KEY_RE.match(n["key"]), f"bad node key {n['key']!r}")
        check(n["key"].split(":", 1)[0] == n["kind"], f"node {n['key']!r} has kind {n['kind']!r}")
        check(all(isinstance(v, str) for v in n.get("attributes", {}).values()), f"non-string attribute: {n}")
    known = set(keys)
    for e in d["edges"]:
        check(e["from"] in known, f"edge from unknown node: {e}")
        check(e["to"] in known, f"edge to unknown node: {e}")
        check(e["type"], f"edge without a type: {e}")
    for s in d["states"]:
        check(s["key"] in known, f"state of unknown node: {s}")
    for s in d["samples"]:
        check(s["key"] in known, f"sample of unknown node: {s}")
        check(KEY_RE.match(s["key"]), f"bad sample key {s['key']!r}")
        check(re.match(r"^[a-z]+\.[a-z0-9_]+$", s["metric"]), f"bad metric name {s['metric']!r}")
        check(isinstance(s["value"], (int, float)), f"non-numeric sample {s}")
        check(isinstance(s["time_us"], int) and s["time_us"] > 0, f"sample without a time: {s}")
    hosts = [n for n in nodes if n["kind"] == "host"]
    check(len(hosts) == 1, f"expected one host node, got {[n['key'] for n in hosts]}")
    return hosts[0]


def test_dump_real_host():
    rc, out, err = dump()
    check(rc == 0, f"exit status {rc}; stderr:\n{err}")
    check(out is not None, "nothing on stdout")
    host = check_inventory(out)
    name = host["attributes"].get("hostname")
    check(name and host["key"] == f"host:{name}", f"host node {host}")
    check(host["attributes"].get("kernel"), f"host node without a kernel attribute: {host}")
    with open("/proc/sys/kernel/osrelease") as f:
        check(host["attributes"]["kernel"] == f.read().strip(), f"kernel attribute {host['attributes']['kernel']!r}")
    devices = [n for n in out["nodes"] if n["kind"] in ("disk", "nic", "raid", "dm")]
    check(devices, f"no disk or nic found on this machine: {[n['key'] for n in out['nodes']]}")
    for n in devices:
        check(n["key"].startswith(f"{n['kind']}:{name}/"), f"device {n['key']!r} not scoped to host {name!r}")
        check({"from": n["key"], "to": host["key"], "type": "part_of"} in out["edges"],
              f"{n['key']} is not part_of the host")
    check(not any(n["key"] == f"nic:{name}/lo" for n in devices), "loopback listed")
    check(any(s["key"] == host["key"] and s["state"] == "ok" for s in out["states"]), "host state missing")


def test_dump_missing_procfs():
    """Collectors that cannot read /proc fail and back off; the others (from
    /sys) still report, and the agent exits normally."""
    root = os.path.join(DATA, "hosts", "plain")
    missing = os.path.join(root, "does-not-exist")
    check(not os.path.exists(missing), f"{missing} exists")
    rc, out, err = dump("--procfs", missing, "--sysfs", os.path.join(root, "sys"), "--rootfs", root, "--hostname",
                        HOSTNAME)
    check(rc == 0, f"exit status {rc}; stderr:\n{err}")
    check(out is not None, "nothing on stdout")
    check_inventory(out)
    keys = [n["key"] for n in out["nodes"]]
    check(f"host:{HOSTNAME}" in keys, f"no host node in {keys}")
    check(f"disk:{HOSTNAME}/sda" in keys, f"the /sys collectors did not report: {keys}")
    check(out["samples"] == [], "samples without a /proc")
    for name in ("proc_diskstats", "proc_net_dev"):
        check(f'collector "{name}" failed: No such file or directory' in err,
              f"no warning about {name} on stderr:\n{err}")


if __name__ == "__main__":
    run([test_dump, test_dump_real_host, test_dump_missing_procfs])
