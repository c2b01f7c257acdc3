#!/usr/bin/env bash
# Installs what the local mode and its tests need from Debian's packages, only if missing:
#   Ceph radosgw + one monitor + one OSD (the local S3), ClamAV's daemon (the local GuardDuty
#   stand-in's engine; clamscan/sigtool and Debian's test files, whose hashes local/clamav/ keeps),
#   and Chromium (the browser test). freshclam is never run: the signatures are the repo's.
# Idempotent; as root, or through sudo. Python packages (moto, PyJWT, playwright) come from
# requirements-dev.txt (`make setup`); the browser is Debian's, `playwright install` is not used.
set -euo pipefail

PACKAGES=(radosgw ceph-mon ceph-osd ceph-common clamav-daemon clamav clamav-testfiles chromium)
# The file that tells each package is there.
declare -A BINARY=(
  [radosgw]=/usr/bin/radosgw [ceph-mon]=/usr/bin/ceph-mon [ceph-osd]=/usr/bin/ceph-osd
  [ceph-common]=/usr/bin/radosgw-admin [clamav-daemon]=/usr/sbin/clamd [clamav]=/usr/bin/sigtool
  [clamav-testfiles]=/usr/share/clamav-testfiles/clam.exe [chromium]=/usr/bin/chromium
)

missing=()
for package in "${PACKAGES[@]}"; do
  [[ -e "${BINARY[$package]}" ]] || missing+=("$package")
done
command -v setpriv >/dev/null || missing+=(util-linux)

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "local/install.sh: radosgw, ceph-mon, ceph-osd, clamav-daemon, clamav, clamav-testfiles, chromium already installed"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null; then
  SUDO=(sudo -n)  # never prompt: local mode must run unattended
else
  echo "local/install.sh: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null; then
  echo "local/install.sh: no apt-get here; install these Debian/Ubuntu packages by hand: ${missing[*]}" >&2
  exit 1
fi

echo "local/install.sh: installing ${missing[*]} (about 30 s) ..."
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for package in "${missing[@]}"; do
  [[ $package == util-linux ]] && continue
  [[ -e "${BINARY[$package]}" ]] || { echo "local/install.sh: $package did not install ${BINARY[$package]}" >&2; exit 1; }
done
# Where systemd runs, Debian starts the clamav-daemon (and clamav-freshclam) services it just
# installed; the local mode needs neither (it starts its own clamd with the repo's signatures), and
# freshclam would only fail offline. Stop the ones installed here, never a ClamAV already in use.
if [[ " ${missing[*]} " == *" clamav-daemon "* ]] && command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  "${SUDO[@]}" systemctl disable --now clamav-freshclam.service clamav-daemon.service >/dev/null 2>&1 || true
fi
echo "local/install.sh: done"
