#!/usr/bin/env bash
# Prints an HS256 JWT for the user service, signed with JWT_SECRET.
#
#   JWT_SECRET=... hack/jwt.sh [subject] [ttl-seconds]
#
# Needs openssl. The token carries sub, iat and exp (default: one hour).
set -euo pipefail
: "${JWT_SECRET:?set JWT_SECRET to the secret the service uses}"
command -v openssl >/dev/null || { echo "jwt.sh: openssl is required (apt-get install -y openssl)" >&2; exit 1; }
sub="${1:-local-user}"
ttl="${2:-3600}"
now=$(date +%s)
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
payload=$(printf '{"sub":"%s","iat":%d,"exp":%d}' "$sub" "$now" "$((now + ttl))" | b64url)
sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$sig"
