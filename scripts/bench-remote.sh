#!/usr/bin/env bash
# Remote images (#25): `guestfix check --quick` over HTTP (nginx) and S3 (s3rver or moto) with
# latency added on loopback by scripts/delay-proxy.py (default 25 ms each way = 50 ms RTT),
# against checking the local file and against downloading it first. Prints a markdown table
# (requests, bytes transferred, wall time) for BENCHMARKS.md.
#   scripts/bench-remote.sh [IMAGES_DIR] [IMAGE...]
# Env: GUESTFIX_BIN (default target/debug/guestfix), ONE_WAY_MS (25), NO_S3=1 skips S3,
#      S3_SERVER=moto uses moto_server instead of s3rver.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-${GUESTFIX_TEST_IMAGES:?set GUESTFIX_TEST_IMAGES or pass the images folder}}
shift || true
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(debian12-bios.qcow2 debian12-bios.raw win2019.raw)
bin=${GUESTFIX_BIN:-$PWD/target/debug/guestfix}
delay=${ONE_WAY_MS:-25}
for c in nginx python3 curl; do command -v $c >/dev/null || { echo "bench-remote: $c missing (scripts/install-deps.sh)" >&2; exit 2; }; done
[ -x "$bin" ] || { echo "bench-remote: no $bin (cargo build)" >&2; exit 2; }

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "bench-remote: nothing on port $1" >&2; exit 2; }
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

mkdir -p "$tmp/www" "$tmp/ngx/tmp"
for i in "${images[@]}"; do ln -s "$dir/$i" "$tmp/www/$i"; done
np=$(port); hp=$(port)
cat > "$tmp/ngx/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $tmp/ngx/pid; error_log $tmp/ngx/error.log;
events { worker_connections 256; }
http { access_log off; default_type application/octet-stream;
  client_body_temp_path $tmp/ngx/tmp; proxy_temp_path $tmp/ngx/tmp; fastcgi_temp_path $tmp/ngx/tmp;
  uwsgi_temp_path $tmp/ngx/tmp; scgi_temp_path $tmp/ngx/tmp;
  server { listen 127.0.0.1:$np; root $tmp/www; } }
CONF
nginx -p "$tmp/ngx" -c "$tmp/ngx/nginx.conf" -e "$tmp/ngx/error.log" & pids+=($!)
python3 scripts/delay-proxy.py "$hp" "$np" "$delay" & pids+=($!)
wait_port "$np"; wait_port "$hp"

s3=0 s3name=-
# The S3 server: s3rver (npm, installed into the cache on first use) answers a range GET in
# time independent of the object's size; moto_server (S3_SERVER=moto; the S3 server of the
# tests) spends ~0.2 s per authenticated range GET of a 192 MiB object, which would measure
# moto rather than guestfix.
s3srv=${S3_SERVER:-s3rver}
s3rver_bin="${XDG_CACHE_HOME:-$HOME/.cache}/guestfix/s3rver/node_modules/.bin/s3rver"
if [ "${NO_S3:-}" != 1 ] && [ "$s3srv" = s3rver ] && command -v npm >/dev/null; then
  [ -x "$s3rver_bin" ] || npm install --silent --no-audit --no-fund --prefix "$(dirname "$(dirname "$(dirname "$s3rver_bin")")")" s3rver@3.7.1 >/dev/null 2>&1 || true
fi
if [ "${NO_S3:-}" != 1 ] && [ "$s3srv" = s3rver ] && [ -x "$s3rver_bin" ]; then
  mp=$(port); sp=$(port)
  mkdir -p "$tmp/s3rver"
  "$s3rver_bin" -d "$tmp/s3rver" -a 127.0.0.1 -p "$mp" --silent --configure-bucket bench >/dev/null 2>&1 & pids+=($!)
  s3=1 s3name="s3rver 3.7.1"
elif [ "${NO_S3:-}" != 1 ] && python3 -c 'import moto.server, flask' 2>/dev/null; then
  mp=$(port); sp=$(port)
  python3 -m moto.server -H 127.0.0.1 -p "$mp" >/dev/null 2>&1 & pids+=($!)
  s3=1 s3name="moto_server"
fi
if [ $s3 = 1 ]; then
  python3 scripts/delay-proxy.py "$sp" "$mp" "$delay" & pids+=($!)
  wait_port "$mp"; wait_port "$sp"
  # both accept unsigned PUTs: the bucket (moto; s3rver made it at start), then the images
  curl -sf -X PUT "http://127.0.0.1:$mp/bench" >/dev/null || true
  for i in "${images[@]}"; do curl -sf -T "$dir/$i" "http://127.0.0.1:$mp/bench/$i" >/dev/null; done
fi
# s3rver knows one key pair (S3RVER/S3RVER); moto takes any
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
[ $s3 = 1 ] && export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$sp

# run NAME IMAGE -> "requests bytes seconds" (and the JSON in $tmp/NAME.json)
run() {
  local t0 t1
  t0=$(now)
  GUESTFIX_STATS=1 GUESTFIX_TODAY=2026-01-01 "$bin" check --quick --json "$2" >"$tmp/$1.json" 2>"$tmp/$1.err" || true
  t1=$(since "$t0")
  awk -v t="$t1" '/guestfix: stats/ { for (i=1;i<=NF;i++) { if ($i=="requests,") r+=$(i-1); if ($i=="bytes" && $(i+1)=="transferred,") b+=$(i-1) } }
    END { printf "%d %d %.2f\n", r, b, t }' "$tmp/$1.err"
}
same() { diff <(sed "s#$(printf %s "$2" | sed 's/[#.]/\\&/g')#IMAGE#g" "$tmp/$1.json") <(sed "s#$(printf %s "$4" | sed 's/[#.]/\\&/g')#IMAGE#g" "$tmp/$3.json") >/dev/null && echo same || echo DIFFERS; }

echo "RTT $((2 * delay)) ms (scripts/delay-proxy.py), binary $bin, S3 server $s3name"
echo
echo "| image | size | local check | download (curl, loopback) | HTTP: requests / bytes (% of image) / wall | S3: requests / bytes / wall | output |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for i in "${images[@]}"; do
  size=$(stat -L -c %s "$dir/$i")
  read -r _ _ lt < <(run local "$dir/$i")
  t0=$(now); curl -sf -o /dev/null "http://127.0.0.1:$hp/$i"; dl=$(since "$t0")
  read -r hr hb ht < <(run http "http://127.0.0.1:$hp/$i")
  s3col="-"
  if [ $s3 = 1 ]; then
    read -r sr sb st < <(run s3 "s3://bench/$i")
    s3col="$sr / $sb / ${st} s"
  fi
  pct=$(awk -v b="$hb" -v s="$size" 'BEGIN { printf "%.3f", 100 * b / s }')
  out=$(same local "$dir/$i" http "http://127.0.0.1:$hp/$i")
  printf '| %s | %s MiB | %s s | %.2f s | %s / %s (%s %%) / %s s | %s | %s |\n' \
    "$i" $((size >> 20)) "$lt" "$dl" "$hr" "$hb" "$pct" "$ht" "$s3col" "$out"
done
