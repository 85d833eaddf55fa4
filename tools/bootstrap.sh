#!/bin/sh
# Installs the Debian packages posthorn needs to build and test, and only the
# ones that are missing (so a machine that has them is left alone).
# usage: tools/bootstrap.sh [build|test|all]   (default: all)
set -eu

build_pkgs="g++ meson ninja-build pkg-config liburing-dev libmimalloc-dev libxxhash-dev libssl-dev
libtomlplusplus-dev libfmt-dev libc-ares-dev libcrypt-dev"
test_pkgs="libgtest-dev libbenchmark-dev python3 python3-pytest python3-aiosmtpd swaks netcat-openbsd procps postfix
dnsmasq-base"

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

[ -z "$missing" ] && exit 0
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
