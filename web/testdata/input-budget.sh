#!/bin/sh
# Usage: make build && web/testdata/input-budget.sh   (docs/benchmarks.md, "Input budget")
# ROUTES and MODES (expect no-expect chunked) select; BIN is the binary.
# Oversized bodies against the real daemon: RSS before/after, peak (VmHWM).
set -eu
BIN=${BIN:-./bin/pbxgate}
WORK=$(mktemp -d)
PORT=${PORT:-18080}
BASE=http://127.0.0.1:$PORT
"$BIN" run --demo --data "$WORK/data" --listen 127.0.0.1:$PORT >"$WORK/out" 2>"$WORK/err" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for i in $(seq 100); do curl -sf $BASE/healthz >/dev/null && break; sleep 0.2; done
PW=$(sed -n 's/.*Password (shown only this once): \([^ ]*\).*/\1/p' "$WORK/out")
# first-run setup through the portal's form
J=$WORK/jar
FT=$(curl -s -c $J $BASE/setup | sed -n 's/.*name="form_token" value="\([^"]*\)".*/\1/p' | head -1)
curl -s -b $J -c $J -o /dev/null -w 'setup %{http_code}\n' $BASE/setup --data-urlencode "form_token=$FT" \
  --data-urlencode "current_password=$PW" --data-urlencode "password=budget test 1" --data-urlencode "password2=budget test 1" \
  -d language=en -d country=DE --data-urlencode timezone=Europe/Berlin
TOK=$("$BIN" user token admin --data "$WORK/data" 2>/dev/null)
{ printf %s "{\"label\":\""; head -c $((200<<20)) /dev/zero | tr "\0" a; } >"$WORK/body"
rss() { awk '/^VmRSS|^VmHWM|^RssAnon/{printf "%s %s kB  ", $1, $2}' /proc/$PID/status; echo; }
echo 5 >/proc/$PID/clear_refs 2>/dev/null || true
printf 'idle:            '; rss
for route in ${ROUTES:-/api/v1/tokens /api/v1/users /api/v1/rules/test}; do
  for mode in ${MODES:-expect no-expect chunked}; do
    case $mode in
      expect)    H='X-Mode: expect' ;;
      no-expect) H='Expect:' ;;
      chunked)   H='Transfer-Encoding: chunked' ;;
    esac
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -T "$WORK/body" -H "$H" -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $TOK" $BASE$route || true)
    printf '%-20s %-9s %s  ' $route $mode "$code"; rss
  done
done
