#!/bin/sh
# The appliance's offline installer (docs/installer.md), run from the extracted archive:
#   ./install.sh [--prefix /opt/appliance] [--data /var/lib/appliance] [--no-systemd] [--python python3]
# 1. checks the host's Python (the archive's minor version, with its venv module) and that every wheel
#    of the archive is there and intact, before anything is written;
# 2. makes (or upgrades in place) a virtual environment at --prefix from the archive's wheels only:
#    pip never reaches a package index (--no-index, hashes required, the host's pip configuration ignored);
# 3. runs `appliance init` with the vendor's root of trust and signed default model bundle
#    (the first ADMIN's password from APPLIANCE_ADMIN_PASSWORD, else a prompt);
# 4. unless --no-systemd: installs the systemd and USB units, the user and directories, and starts the
#    appliance; where systemd does not run this host, prints what it would do instead.
# Errors: one line on stderr, `install.sh: <reason>`, exit 1 (2 for a wrong option).
set -eu
umask 022 # the service user reads the virtual environment and the release files

here=$(cd "$(dirname "$0")" && pwd)
prefix=/opt/appliance
data=/var/lib/appliance
systemd=yes
python=python3
queues="default maintenance analysis resolution preview"

die() {
  echo "install.sh: $*" >&2
  exit 1
}
usage() {
  echo "usage: ./install.sh [--prefix DIR] [--data DIR] [--no-systemd] [--python PYTHON]" >&2
  exit 2
}
absolute() {
  case "$1" in
    /*) echo "$1" ;;
    *) echo "$(pwd)/$1" ;;
  esac
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix | --data | --python)
      [ $# -ge 2 ] || usage
      case "$1" in
        --prefix) prefix=$(absolute "$2") ;;
        --data) data=$(absolute "$2") ;;
        --python) python=$2 ;;
      esac
      shift 2
      ;;
    --no-systemd) systemd=no && shift ;;
    -h | --help) sed -n '2,13p' "$0" && exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2 && usage ;;
  esac
done

# 1. Checks: nothing is written before they pass --------------------------------------------------

for file in installer.env requirements.lock appliance.lock no-deps.lock root.json default.bundle wheels/SHA256SUMS; do
  [ -f "$here/$file" ] || die "$file is missing from the archive: extract the archive again"
done
# PYTHON_VERSION, APPLIANCE_VERSION, BUNDLE_ID, BUNDLE_VERSION: written by build.py
. "$here/installer.env"

found=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) ||
  die "cannot run $python: install Python $PYTHON_VERSION (Debian: apt install python3 python3-venv) or name one with --python"
minor=${found%.*}
if [ "${minor%%.*}" -lt 3 ] || { [ "${minor%%.*}" -eq 3 ] && [ "${minor#*.}" -lt 11 ]; }; then
  die "Python 3.11 or newer is needed; $python is $found"
fi
[ "$minor" = "$PYTHON_VERSION" ] ||
  die "the wheels of this archive are for Python $PYTHON_VERSION; $python is $found: name a Python $PYTHON_VERSION with --python"
"$python" -c 'import venv, ensurepip' 2>/dev/null ||
  die "$python has no venv module (with ensurepip): install it (Debian: apt install python3-venv)"

while read -r _ wheel; do
  [ -f "$here/wheels/$wheel" ] || die "wheels/$wheel is missing from the archive: extract the archive again"
done <"$here/wheels/SHA256SUMS"
damaged=$(cd "$here/wheels" && sha256sum --check --quiet SHA256SUMS 2>/dev/null) ||
  die "a wheel of the archive is damaged ($(echo "$damaged" | head -n 1)): extract the archive again"

# systemd runs this host (sd_booted(3)): then the units are installed, as root, for /var/lib/appliance
if [ "$systemd" = yes ] && [ -d /run/systemd/system ]; then
  [ "$(id -u)" -eq 0 ] || die "installing the systemd units needs root: run it as root, or with --no-systemd"
  [ "$data" = /var/lib/appliance ] ||
    die "the systemd units keep their data in /var/lib/appliance; --data is for --no-systemd"
  system_mode=install
elif [ "$systemd" = yes ]; then
  system_mode=print
else
  system_mode=none
fi

if [ -e "$prefix" ]; then
  if [ -f "$prefix/pyvenv.cfg" ] && [ -x "$prefix/bin/python" ]; then
    existing=$("$prefix/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])') ||
      die "$prefix/bin/python does not run: remove $prefix, then install again"
    [ "$existing" = "$PYTHON_VERSION" ] ||
      die "$prefix is a virtual environment of Python $existing, not $PYTHON_VERSION: remove it or choose another --prefix"
    fresh=no
  elif [ -n "$(ls -A "$prefix")" ]; then
    die "$prefix exists and is not a virtual environment: choose another --prefix"
  else
    fresh=yes
  fi
else
  fresh=yes
fi

# 2. The virtual environment, from the archive's wheels only --------------------------------------

installed=no
remove_unfinished() {
  if [ "$fresh" = yes ] && [ "$installed" = no ]; then
    rm -rf "$prefix"
  fi
}
trap remove_unfinished EXIT

echo "installing the appliance $APPLIANCE_VERSION into $prefix"
if [ "$fresh" = yes ]; then
  "$python" -m venv "$prefix"
fi
release="$prefix/share/appliance"
mkdir -p "$release"
log="$release/pip.log"
: >"$log"

# The host's pip configuration (files and PIP_* sources of packages) must not add an index, a link or a
# constraint: the archive is the only source.
pip_install() {
  (
    unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_CONSTRAINT PIP_REQUIREMENT PIP_TARGET PIP_PREFIX PIP_USER
    PIP_CONFIG_FILE=/dev/null
    export PIP_CONFIG_FILE
    "$prefix/bin/python" -m pip install --no-index --find-links "$here/wheels" --require-hashes --no-cache-dir \
      --disable-pip-version-check --quiet --log "$log" "$@"
  )
}
pip_install -r "$here/requirements.lock"
if [ "$fresh" = no ]; then
  # the same version rebuilt is another wheel: pip would keep the installed one
  pip_install --no-deps --force-reinstall -r "$here/appliance.lock"
fi
pip_install --no-deps -r "$here/no-deps.lock"
for file in root.json default.bundle installer.env; do
  cp "$here/$file" "$release/$file.new" && mv "$release/$file.new" "$release/$file"
done
installed=yes
echo "installed $(grep -c -- '--hash=' "$here/requirements.lock") distributions and $(grep -c -- '--hash=' "$here/no-deps.lock") without dependencies (pip's log: $log)"

# 3. and 4. The appliance's data, and systemd --------------------------------------------------------

init_arguments="--trust-root $release/root.json --bundle $release/default.bundle"

if [ "$system_mode" = none ]; then
  # shellcheck disable=SC2086  # the arguments are paths under $prefix, split on purpose
  APPLIANCE_DATA_DIR="$data" "$prefix/bin/appliance" init $init_arguments
  echo "done: APPLIANCE_DATA_DIR=$data $prefix/bin/appliance run"
  exit 0
fi

# The system part: run it, or print it where systemd does not run this host.
step() {
  if [ "$system_mode" = install ]; then
    "$@"
  else
    echo "  $*"
  fi
}
if [ "$system_mode" = print ]; then
  echo "install.sh: systemd does not run this host (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown));" \
    "the appliance is installed in $prefix, the system is left as it was. With systemd, this would run:"
fi
units="appliance-api.service appliance-scheduler.service appliance.target"
for queue in $queues; do units="$units appliance-worker@$queue.service"; done
state=/var/lib/appliance-updater
step install -m 0644 "$here/systemd/appliance-api.service" "$here/systemd/appliance-scheduler.service" \
  "$here/systemd/appliance-worker@.service" "$here/systemd/appliance.target" \
  "$here/usb/appliance-update-usb@.service" /etc/systemd/system/
step install -D -m 0644 "$here/systemd/sysusers.d/appliance.conf" /usr/lib/sysusers.d/appliance.conf
step install -D -m 0644 "$here/systemd/tmpfiles.d/appliance.conf" /usr/lib/tmpfiles.d/appliance.conf
step install -D -m 0644 "$here/usb/99-appliance-update-usb.rules" /etc/udev/rules.d/99-appliance-update-usb.rules
step install -D -m 0755 "$here/usb/appliance-update-usb" /usr/local/lib/appliance/appliance-update-usb
step install -d -m 0755 /usr/local/share/doc/appliance
step install -m 0644 "$here/doc/installer.md" "$here/doc/systemd.md" "$here/doc/updater.md" /usr/local/share/doc/appliance/
step ln -sfn "$prefix/bin/appliance" /usr/local/bin/appliance
step ln -sfn "$prefix/bin/appliance-update" /usr/local/bin/appliance-update
step systemd-sysusers appliance.conf
step systemd-tmpfiles --create appliance.conf
# one updater state for `appliance init` and the USB unit (docs/updater.md, "The default model bundle")
step install -d -m 0700 -o appliance -g appliance "$state"
env_file=/etc/appliance/appliance.env
if [ ! -f "$env_file" ]; then
  step install -m 0640 -g appliance /dev/null "$env_file"
fi
if ! grep -q '^APPLIANCE_UPDATER_STATE_DIR=' "$env_file" 2>/dev/null; then
  if [ "$system_mode" = install ]; then
    echo "APPLIANCE_UPDATER_STATE_DIR=$state" >>"$env_file"
  else
    echo "  echo APPLIANCE_UPDATER_STATE_DIR=$state >>$env_file"
  fi
fi
# shellcheck disable=SC2086
step runuser -u appliance -- env APPLIANCE_DATA_DIR=/var/lib/appliance APPLIANCE_CONFIG=/etc/appliance/appliance.toml \
  APPLIANCE_UPDATER_STATE_DIR="$state" "$prefix/bin/appliance" init $init_arguments
if command -v udevadm >/dev/null 2>&1; then
  step udevadm control --reload
fi
step systemctl daemon-reload
# shellcheck disable=SC2086
step systemctl enable $units
step systemctl restart appliance.target
