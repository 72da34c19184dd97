#!/usr/bin/env bash
# Regenerates the checked-in seed corpus fuzz/corpus/<target>/seed-*. Not needed to fuzz
# (scripts/fuzz.sh uses the files as they are); run it after changing a *.txtpb here.
# Needs: protoc (PROTOC, else the one protoc-bin-vendored unpacked in the cargo registry,
# present after any build of the main workspace) and openssl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus="$root/fuzz/corpus"
protoc=${PROTOC:-$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*protoc-bin-vendored-linux-x86_64-*/bin/protoc' | head -n1)}
[ -x "$protoc" ] || { echo "no protoc: set PROTOC" >&2; exit 1; }
enc() { # enc MESSAGE TXTPB OUT
  "$protoc" -I "$root/proto" --encode="landmeter.v1.$1" \
    "$root/proto/landmeter/v1/ingest.proto" "$root/proto/landmeter/v1/facts.proto" \
    < <(grep -v '^#' "$here/$2") > "$3"
}
mkdir -p "$corpus"/{ingest_batch,collector_message,cli_filter,reference_tables,client_certificate}

enc AgentMessage facts_batch.txtpb "$corpus/ingest_batch/seed-facts-batch"
enc CollectorMessage ack.txtpb "$corpus/collector_message/seed-ack"
enc CollectorMessage reject.txtpb "$corpus/collector_message/seed-reject"
for f in encryption tags size; do
  enc Fact "fact_$f.txtpb" "$corpus/collector_message/seed-fact-$f"
done

printf -- '--provider aws,ovhcloud --country de,nl --eu true --custody-at-least byok --custody-at-most hyok --include-gone' \
  > "$corpus/cli_filter/seed-filters"
printf -- '--classification\0BBN2\0--process\0payroll\0--replicated-outside-eu\0false\0--cloud-act\0true\0--format\0json\0--server\0http://127.0.0.1:7400' \
  > "$corpus/cli_filter/seed-nul-separated"
printf 'customer-managed' > "$corpus/cli_filter/seed-custody"

# The first rows of the real tables (header included), so mutations start from valid CSV.
head -n 12 "$root/collector/data/regions.csv" > "$corpus/reference_tables/seed-regions"
head -n 4 "$root/collector/data/providers.csv" > "$corpus/reference_tables/seed-providers"

# A client certificate with the landmeter identity, as PEM and DER.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500 \
  -keyout "$tmp/k.pem" -out "$corpus/client_certificate/seed-agent.pem" \
  -subj "/CN=agent-1" -addext "subjectAltName=URI:spiffe://landmeter/tenant/t1/agent/agent-1" 2>/dev/null
openssl x509 -in "$corpus/client_certificate/seed-agent.pem" -outform DER \
  -out "$corpus/client_certificate/seed-agent.der"
