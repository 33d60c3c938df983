#!/bin/sh
# Assembles the FROM scratch image layout in OUT: the node binary, exactly the
# shared libraries `ldd` reports for it (and the dynamic loader), the relay
# bundle, CA certificates (for rediss://) and an /etc/passwd with the
# unprivileged user the relay runs as (uid 10001). The Dockerfile and
# `make rootfs` both run this script, so the image and the tested tree match.
#   usage: scripts/rootfs.sh OUT NODE_BINARY BUNDLE_DIR
set -eu
out=$1
node=$2
bundle=$3

rm -rf "$out"
mkdir -p "$out/usr/local/bin" "$out/app" "$out/etc/ssl/certs" "$out/data" "$out/tmp"

cp -L "$node" "$out/usr/local/bin/node"
# Every library ldd resolves ("name => /path (addr)") and the loader ("/path (addr)").
ldd "$node" | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }' | sort -u | while read -r lib; do
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
done

cp "$bundle/relay.mjs" "$out/app/relay.mjs"
[ -f "$bundle/relay.mjs.LEGAL.txt" ] && cp "$bundle/relay.mjs.LEGAL.txt" "$out/app/"
# /docs: Swagger UI, served by the relay itself (no CDN)
cp -r "$bundle/docs" "$out/app/docs"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-certificates.crt"
else
  echo "rootfs: /etc/ssl/certs/ca-certificates.crt missing (apt-get install ca-certificates)" >&2
  exit 1
fi

printf 'root:x:0:0:root:/:/sbin/nologin\nnpchat:x:10001:10001:npchat-relay:/data:/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nnpchat:x:10001:\n' >"$out/etc/group"
chmod 1777 "$out/tmp"
chown 10001:10001 "$out/data" 2>/dev/null || true

bytes=$(du -sb "$out" | cut -f1)
echo "rootfs: $out, $((bytes / 1024 / 1024)) MiB ($(find "$out" -type f | wc -l) files)"
