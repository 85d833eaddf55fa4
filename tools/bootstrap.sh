#!/bin/sh
# Installs the Debian packages posthorn needs to build and test, and only the
# ones that are missing (so a machine that has them is left alone).
# usage: tools/bootstrap.sh [build|test|all]   (default: all)
set -eu

build_pkgs="g++ meson ninja-build pkg-config liburing-dev libmimalloc-dev libxxhash-dev libssl-dev
libtomlplusplus-dev libfmt-dev libc-ares-dev libcrypt-dev"
test_pkgs="libgtest-dev libbenchmark-dev python3 python3-pytest python3-aiosmtpd swaks netcat-openbsd procps postfix
dnsmasq-base isync ldap-utils python3-ldap3"

# isync (mbsync): the IMAP tests' independent client from Debian itself.
# imapflow from npm, another one, pinned by the committed package-lock.json,
# installed into tests/integration/imapflow/node_modules (again only when
# missing or older than the lock file); when npm fails that is a warning,
# not an error, and test_imap_imapflow.py skips.
npm_deps() {
  dir=tests/integration/imapflow
  [ -f "$dir/package-lock.json" ] || return 0
  if [ -f "$dir/node_modules/imapflow/package.json" ] && [ "$dir/node_modules" -nt "$dir/package-lock.json" ]; then
    return 0
  fi
  echo "bootstrap: npm ci in $dir"
  log=$(mktemp)
  if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1 || \
     (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    rm -f "$log"
    touch "$dir/node_modules"
    return 0
  fi
  # Not fatal: the imapflow tests skip (with this reason) and every other
  # test, mbsync's included, still runs. Typical cause: no route to the npm
  # registry, or a TLS-intercepting proxy whose CA Node does not trust
  # (SELF_SIGNED_CERT_IN_CHAIN).
  why=$(sed -n 's/^npm \(ERR!\|error\) code \([A-Za-z0-9_]*\).*/\2/p' "$log" | head -1)
  rm -f "$log"
  echo "bootstrap: WARNING: npm ci in $dir failed (${why:-npm printed no error code}); the imapflow tests (test_imap_imapflow.py) will be skipped" >&2
  rm -rf "$dir/node_modules/imapflow"
  return 0
}

cd "$(dirname "$0")/.."
case "${1:-all}" in
  build) wanted=$build_pkgs ;;
  test|all) wanted="$build_pkgs $test_pkgs" ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=""
for p in $wanted; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    "install ok installed") ;;
    *) missing="$missing $p" ;;
  esac
done
# node and npm count as there when on PATH (a nodejs build that bundles npm
# has no Debian npm package, and installing that one would fight it).
if [ "${1:-all}" != build ]; then
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi

if [ -z "$missing" ]; then
  [ "${1:-all}" = build ] || npm_deps
  exit 0
fi
echo "bootstrap: installing$missing"
if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: missing packages and not root; run as root or: apt-get install$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# dnsmasq-base, not dnsmasq: the binary for the MX tests' DNS server,
# without a system service that would take port 53.
# postfix (for the tests' smtp-sink peer): debconf "No configuration", so it
# gets no main.cf, takes no port and starts no system instance.
case " $missing " in
  *" postfix "*)
    printf '%s\n' "postfix postfix/main_mailer_type select No configuration" \
      "postfix postfix/mailname string localhost" | debconf-set-selections ;;
esac
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
[ "${1:-all}" = build ] || npm_deps
