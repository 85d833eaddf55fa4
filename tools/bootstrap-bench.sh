#!/bin/bash
# Installs what bench/compare/ needs and is missing: Postfix (for smtp-source,
# smtp-sink and a real Postfix instance to compare against), Dovecot's IMAP and
# POP3 servers (mailbox_vs_dovecot.sh), OpenLDAP's slapd and ldap-utils
# (ldap_vs_slapd.sh), procps, python3, and the build tools for tools/loadgen,
# tools/mailload and tools/ldapload. Only packages that are not already
# installed are asked for; `apt-get update` runs once, and only if something is
# missing.
#
# Postfix is installed noninteractively with debconf "No configuration": it
# gets no main.cf, does not take port 25 and no system instance is started.
# The benchmark runs its own instance from a private config_directory.
#
# Dovecot (dovecot-imapd, dovecot-pop3d, which bring dovecot-core) installs a
# system instance that Debian starts on ports 143/110 with /etc/dovecot. The
# benchmark never uses it: it runs `dovecot -c TMP/dovecot.conf` with its own
# base_dir and ports. The system instance is stopped and disabled here when
# this script installed it, so that it neither holds the standard ports nor
# uses CPU during a run; one that was there before is only reported.
#
# slapd is installed with debconf "Omit OpenLDAP server configuration" (no
# /etc/ldap/slapd.d database, so no system instance can start); if the package
# started one anyway, it is stopped here. The benchmark runs `slapd -f
# TMP/slapd.conf` with its own database directory and port.
#
# usage: tools/bootstrap-bench.sh          (as root, or with sudo available)
set -euo pipefail

packages=(postfix dovecot-core dovecot-imapd dovecot-pop3d slapd ldap-utils procps python3 iproute2 meson ninja-build g++ pkg-config)

SUDO=
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "bootstrap-bench: need root (or sudo)" >&2; exit 2; }
  SUDO=sudo
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "bootstrap-bench: nothing to install"
else
  echo "bootstrap-bench: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks its questions through debconf; answer them before it asks.
  if [[ " ${missing[*]} " == *" postfix "* ]]; then
    printf '%s\n' \
      "postfix postfix/main_mailer_type select No configuration" \
      "postfix postfix/mailname string localhost" |
      $SUDO debconf-set-selections
  fi
  if [[ " ${missing[*]} " == *" slapd "* ]]; then
    echo "slapd slapd/no_configuration boolean true" | $SUDO debconf-set-selections
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ " ${missing[*]} " == *" dovecot-core "* ]]; then
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
      $SUDO systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
    fi
    # Without systemd the package's init script may have started it.
    [[ -s /run/dovecot/master.pid ]] && $SUDO doveadm -c /etc/dovecot/dovecot.conf stop >/dev/null 2>&1 || true
  fi
  if [[ " ${missing[*]} " == *" slapd "* ]]; then
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
      $SUDO systemctl disable --now slapd.service >/dev/null 2>&1 || true
    fi
    pid=$(cat /run/slapd/slapd.pid 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      $SUDO kill -TERM "$pid" || true
      echo "bootstrap-bench: stopped the system slapd the package started (pid $pid)"
    fi
  fi
fi

# A package install may still start the system instance on some setups (or one
# may already run). With "No configuration" there is no /etc/postfix/main.cf
# and it cannot start; if one runs anyway, say so: it would compete for CPU.
if [[ -f /etc/postfix/main.cf ]] && postfix status >/dev/null 2>&1; then
  echo "bootstrap-bench: note: a system Postfix instance is running (it will share the CPU with the benchmark)" >&2
fi

if [[ -s /run/dovecot/master.pid ]] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
  echo "bootstrap-bench: note: a system Dovecot instance is running (it will share the CPU with the benchmark)" >&2
fi

if [[ -s /run/slapd/slapd.pid ]] && kill -0 "$(cat /run/slapd/slapd.pid)" 2>/dev/null; then
  echo "bootstrap-bench: note: a system slapd instance is running (it will share the CPU with the benchmark)" >&2
fi

for bin in /usr/sbin/slapd /usr/sbin/slapadd /usr/bin/ldapsearch /usr/sbin/dovecot /usr/bin/doveadm /usr/sbin/smtp-source /usr/sbin/smtp-sink /usr/sbin/postfix /usr/sbin/postconf; do
  [[ -x $bin ]] || { echo "bootstrap-bench: $bin missing after install" >&2; exit 1; }
done
echo "bootstrap-bench: ok"
