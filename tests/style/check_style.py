#!/usr/bin/env python3
"""The style suite: formatting, banned functions, no SQL built from strings,
and the layering rules of STYLE.md. Prints every violation with file:line."""

import os
import re
import shutil
import subprocess
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SOURCE_DIRS = ["common", "agent", "collector", "tests/unit", "tests/tools", "tests/fuzz", "tests/bench"]

# Unsafe or unchecked: use the fl_safe_* parsers, snprintf, strtok_r, memcpy.
BANNED = {
    "atoi": "fl_safe_atoi64", "atol": "fl_safe_atoi64", "atoll": "fl_safe_atoi64", "atof": "fl_safe_atod",
    "sscanf": "a parser with fl_safe_* helpers", "sprintf": "snprintf", "vsprintf": "vsnprintf",
    "strcpy": "memcpy or snprintf", "strcat": "snprintf", "gets": "fgets", "strtok": "strtok_r",
    "alloca": "fl_malloc", "strncpy": "snprintf",
}
# Bare strto* only inside the checked helpers.
BARE_STRTO = re.compile(r"\bstrto(l|ul|ll|ull|d|f)\s*\(")
STRTO_ALLOWED = {"common/util.c"}

# Layering: which headers each part may include.
LAYERS = [
    ("common/", re.compile(r"#include <(libpq-fe|libvirt/|net-snmp/|nanomsg/|jansson)"), "common/ uses libc, protobuf-c and libsodium only"),
    ("agent/", re.compile(r'#include "(store|ingest|migrations)\.h"'), "agent/ must not use collector/"),
    ("collector/", re.compile(r'#include "(collector|emit|sender|batch|identity)\.h"'), "collector/ must not use agent/"),
]
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP)\b")


def sources():
    for d in SOURCE_DIRS:
        root = os.path.join(TOP, d)
        for dirpath, _, files in os.walk(root):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, f), TOP)


def strip_comments_and_strings(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    return text


def main():
    errors = []
    files = list(sources())
    for rel in files:
        with open(os.path.join(TOP, rel), encoding="utf-8") as f:
            raw = f.read()
        code = strip_comments_and_strings(raw)
        for n, line in enumerate(code.splitlines(), 1):
            for fn, instead in BANNED.items():
                if re.search(rf"(?<![\w.>]){fn}\s*\(", line):
                    errors.append(f"{rel}:{n}: banned function {fn}(); use {instead}")
            if BARE_STRTO.search(line) and rel not in STRTO_ALLOWED:
                errors.append(f"{rel}:{n}: bare strto*(); use the fl_safe_* helpers")
        for n, line in enumerate(raw.splitlines(), 1):
            for prefix, pattern, rule in LAYERS:
                if rel.startswith(prefix) and pattern.search(line):
                    if not (rel == "common/conf.c"):
                        errors.append(f"{rel}:{n}: {rule}")
            if "#include <libpq-fe.h>" in line and rel.startswith(("common/", "agent/", "collector/")) \
                    and not re.match(r"collector/store(-[a-z]+)?\.c$", rel):
                errors.append(f"{rel}:{n}: only the store module (collector/store*.c) talks to libpq")
            # SQL text must be a literal handed to PQexecParams, never formatted.
            if re.search(r"\b(fl_asprintf|snprintf|asprintf)\s*\(", line) and SQL_WORDS.search(line):
                errors.append(f"{rel}:{n}: SQL built with a format string; pass values as parameters")
        for n, line in enumerate(raw.splitlines(), 1):
            m = re.search(r"\bPQexec\s*\(\s*[^,]+,\s*([^)]*)", line)
            if m and not m.group(1).lstrip().startswith('"') and m.group(1).strip() not in ("m->sql", "literal_sql"):
                errors.append(f"{rel}:{n}: PQexec with a non-literal query")

    fmt = shutil.which("clang-format")
    if fmt:
        p = subprocess.run([fmt, "--dry-run", "--Werror", "--style=file"] + files, cwd=TOP,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            shown = "\n".join(p.stdout.splitlines()[:40])
            errors.append(f"clang-format: files differ from .clang-format (run clang-format -i):\n{shown}")
    else:
        print("clang-format not installed: formatting not checked")

    for e in errors:
        print(e)
    print(f"checked {len(files)} files: {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
