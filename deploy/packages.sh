# Shared by ./quickstart and ./run-tests: the Debian packages faultline
# needs, and a function that installs the missing ones (as root, or through
# sudo). Sourced, not run.

FL_PACKAGES="build-essential meson ninja-build pkg-config python3
  protobuf-c-compiler libprotobuf-c-dev libnanomsg-dev libsodium-dev
  libpq-dev libjansson-dev libconfig-dev libcmocka-dev
  postgresql postgresql-client"

fl_sudo() {
        if [ "$(id -u)" -eq 0 ]; then
                "$@"
        elif command -v sudo >/dev/null 2>&1; then
                sudo "$@"
        else
                echo "error: need root or sudo to run: $*" >&2
                return 1
        fi
}

fl_install_packages() {
        missing=""
        for p in $FL_PACKAGES "$@"; do
                if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                        missing="$missing $p"
                fi
        done
        if [ -z "$missing" ]; then
                return 0
        fi
        echo "installing Debian packages:$missing"
        fl_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
                fl_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
                {
                        echo "error: could not install:$missing" >&2
                        return 1
                }
}

# The newest installed PostgreSQL server binaries.
fl_pg_bindir() {
        d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
        if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
                echo "error: PostgreSQL server binaries not found under /usr/lib/postgresql" >&2
                return 1
        fi
        echo "$d"
}
