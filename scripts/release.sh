#!/usr/bin/env bash
# Builds a release into dist/: the collector (release profile) and the agent (release-small:
# opt-level z, fat LTO, one codegen unit, panic=abort, stripped; the size target is 15 MB),
# their .deb packages, a CycloneDX SBOM per binary crate, and SHA-256 sums of everything.
#
#   scripts/release.sh            # dist/<version>/
# Needs cargo-deb and cargo-cyclonedx (installed here, pinned, when missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo_deb_version="3.8.0"
cyclonedx_version="0.5.9"
[ "$(cargo deb --version 2>/dev/null)" = "$cargo_deb_version" ] \
    || cargo install --locked --quiet "cargo-deb@$cargo_deb_version"
cargo cyclonedx --version 2>/dev/null | grep -q "$cyclonedx_version" \
    || cargo install --locked --quiet "cargo-cyclonedx@$cyclonedx_version"

version="$(cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="landmeter-agent"))')"
dist="$root/dist/$version"
rm -rf "$dist" && mkdir -p "$dist"
target="${CARGO_TARGET_DIR:-$root/target}"

cargo build --locked --release -p landmeter-collector --bin landmeter
cargo build --locked --profile release-small -p landmeter-agent --bin landmeter-agent
cargo deb --no-build -p landmeter-collector -o "$dist/"
cargo deb --no-build -p landmeter-agent --profile release-small -o "$dist/"
cp "$target/release/landmeter" "$target/release-small/landmeter-agent" "$dist/"

# One SBOM per workspace member, written beside each Cargo.toml; the shipped two are kept.
cargo cyclonedx --format json --spec-version 1.5 --override-filename sbom.cdx
for crate in collector agent; do
    mv "$crate/sbom.cdx.json" "$dist/landmeter-$crate.cdx.json"
done
rm -f -- */sbom.cdx.json

agent_bytes="$(stat -c %s "$dist/landmeter-agent")"
echo "agent binary: $agent_bytes bytes ($((agent_bytes / 1024 / 1024)) MiB; target 15 MB)"
(cd "$dist" && sha256sum -- * > SHA256SUMS)
ls -l "$dist"
