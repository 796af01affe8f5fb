#!/bin/sh
# Installs the citadel command from a GitHub release, without root:
#
#   curl -fsSL https://github.com/OWNER/REPO/releases/latest/download/install.sh | sh
#
# It picks citadel_vX.Y.Z_<os>_<arch>.tar.gz for this machine (the names
# .github/workflows/release.yml publishes), checks it against the release's
# checksums.txt (SHA-256) before unpacking anything, and puts `citadel` in
# ~/.local/bin. A checksum that does not match, or a machine no release is
# built for, stops it with nothing installed. It never edits shell profiles;
# it says what to add to PATH when needed.
#
# Settings (environment):
#   CITADEL_INSTALL_DIR       where to put citadel (default ~/.local/bin)
#   CITADEL_INSTALL_VERSION   a release tag such as v0.1.0 (default: the latest)
#   CITADEL_INSTALL_REPO      owner/name of the GitHub repository
#   CITADEL_INSTALL_BASE_URL  the releases URL (default https://github.com/<repo>/releases):
#                             <base>/latest redirects to <base>/tag/<version>, and files
#                             are under <base>/download/<version>/. Plain http:// is
#                             accepted for 127.0.0.1, ::1 and localhost only (tests, mirrors).
#
# POSIX sh only (dash, busybox ash, bash --posix); needs curl or wget, tar, and
# sha256sum, shasum or openssl.
set -eu

# Stamped with the repository by the release workflow.
default_repo="__CITADEL_REPO__"

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

repo="${CITADEL_INSTALL_REPO:-$default_repo}"
base="${CITADEL_INSTALL_BASE_URL:-}"
if [ -z "$base" ]; then
  case "$repo" in
  __*__ | "") die "this copy of install.sh does not know its repository; set CITADEL_INSTALL_REPO=owner/name" ;;
  */*) base="https://github.com/$repo/releases" ;;
  *) die "CITADEL_INSTALL_REPO must be owner/name, not '$repo'" ;;
  esac
fi
base="${base%/}"
case "$base" in
https://*) ;;
http://127.0.0.1:* | http://127.0.0.1/* | http://localhost:* | http://localhost/* | http://\[::1\]:* | http://\[::1\]/*) ;;
*) die "refusing $base: releases are fetched over https:// (http:// only on the loopback address)" ;;
esac

# --- the machine -------------------------------------------------------------
os_name="$(uname -s)"
case "$os_name" in
Linux) os=linux ;;
Darwin) os=darwin ;;
*) die "no release is built for this operating system ($os_name); on Windows, download citadel_<version>_windows_x64.zip from $base" ;;
esac
machine="$(uname -m)"
case "$machine" in
x86_64 | amd64) arch=x64 ;;
aarch64 | arm64) arch=arm64 ;;
*) die "no release is built for this architecture ($machine); releases exist for x86_64 and arm64" ;;
esac
# A shell under Rosetta 2 reports x86_64 on Apple silicon; the arm64 build runs natively.
if [ "$os" = darwin ] && [ "$arch" = x64 ] &&
  [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || echo 0)" = 1 ]; then
  arch=arm64
fi

# --- tools ---------------------------------------------------------------------
if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 2 -o "$2" "$1"; }
  final_url() { curl -fsSLI -o /dev/null -w '%{url_effective}' "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
  final_url() {
    wget -q -S --spider "$1" 2>&1 | sed -n 's/^ *[Ll]ocation: *//p' | tail -n 1 | tr -d '\r'
  }
else
  die "curl or wget is needed"
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
elif command -v openssl >/dev/null 2>&1; then
  sha256() { openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1; }
else
  die "sha256sum, shasum or openssl is needed to check the download"
fi
command -v tar >/dev/null 2>&1 || die "tar is needed"

# --- the release ---------------------------------------------------------------
version="${CITADEL_INSTALL_VERSION:-}"
if [ -z "$version" ]; then
  latest="$(final_url "$base/latest")" || die "could not ask $base/latest for the latest release"
  version="${latest##*/}"
fi
case "$version" in
v[0-9]*.[0-9]*.[0-9]*) ;;
*) die "'$version' is not a release tag like v1.2.3" ;;
esac
case "$version" in
*[!A-Za-z0-9.+-]*) die "'$version' is not a release tag like v1.2.3" ;;
esac
name="citadel_${version}_${os}_${arch}"
archive="$name.tar.gz"

tmp="$(mktemp -d 2>/dev/null || mktemp -d -t citadel-install)"
trap 'rm -rf "$tmp"' EXIT INT TERM HUP

say "downloading $archive ($version for $os/$arch)"
fetch "$base/download/$version/checksums.txt" "$tmp/checksums.txt" ||
  die "could not download $base/download/$version/checksums.txt"
fetch "$base/download/$version/$archive" "$tmp/$archive" ||
  die "could not download $base/download/$version/$archive"

# checksums.txt is sha256sum's output: "<64 hex>  <file>" ("*<file>" in binary mode).
expected="$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1; exit }' "$tmp/checksums.txt")"
[ -n "$expected" ] || die "checksums.txt has no line for $archive; nothing was installed"
case "$expected" in
*[!0-9a-fA-F]* | "") die "checksums.txt has a malformed line for $archive; nothing was installed" ;;
esac
[ "${#expected}" -eq 64 ] || die "checksums.txt has a malformed line for $archive; nothing was installed"
actual="$(sha256 "$tmp/$archive")"
expected="$(printf '%s' "$expected" | tr 'A-F' 'a-f')"
if [ "$actual" != "$expected" ]; then
  die "checksum mismatch for $archive: expected $expected, got $actual; nothing was installed"
fi

mkdir "$tmp/x"
tar -xzf "$tmp/$archive" -C "$tmp/x" || die "could not unpack $archive"
binary="$tmp/x/$name/citadel"
[ -f "$binary" ] && [ ! -L "$binary" ] || die "$archive does not hold $name/citadel"

# --- install -------------------------------------------------------------------
dir="${CITADEL_INSTALL_DIR:-}"
if [ -z "$dir" ]; then
  [ -n "${HOME:-}" ] || die "HOME is not set; set CITADEL_INSTALL_DIR"
  dir="$HOME/.local/bin"
fi
mkdir -p "$dir" || die "could not create $dir"
# Copy next to the target, then rename: a running citadel is never half-overwritten.
cp "$binary" "$dir/.citadel.new.$$" || die "could not write to $dir"
chmod 0755 "$dir/.citadel.new.$$"
mv -f "$dir/.citadel.new.$$" "$dir/citadel" || {
  rm -f "$dir/.citadel.new.$$"
  die "could not install $dir/citadel"
}

if ! installed="$("$dir/citadel" version 2>&1)"; then
  say "installed $dir/citadel, but it does not run:"
  printf '%s\n' "$installed" >&2
  exit 1
fi
say "installed $dir/citadel: $(printf '%s\n' "$installed" | head -n 1)"
case ":${PATH:-}:" in
*":$dir:"*) ;;
*) say "$dir is not on your PATH; add this line to your shell profile: export PATH=\"$dir:\$PATH\"" ;;
esac
