#!/usr/bin/env bash
# demo.sh: memifpcap's one-command demo, from a fresh clone with Go installed.
#
#   ./demo.sh [CAPTURE [MEMIFINJECT-FLAGS...]]
#
# It builds memifdump and memifinject (and the small pcapcmp) into a
# temporary directory, starts memifdump as a memif server writing a pcap file,
# replays CAPTURE into it with memifinject over a live memif link (shared
# memory and a unix socket, nothing else), stops memifdump with SIGINT as you
# would stop tcpdump, and shows the result: memifinject's tcpreplay-style
# summary, memifdump's counters, the first lines of `memifdump -r` on the file
# it wrote, and a byte-for-byte comparison of that file with CAPTURE.
#
# CAPTURE defaults to testdata/pcaps/http-tcp.pcap; a bare name such as
# jumbo-9000.pcap is looked up in testdata/pcaps. MEMIFINJECT-FLAGS replace
# the default -topspeed, e.g. `./demo.sh icmp-ping.pcap -multiplier 2`.
#
# Exit status: 0 when every frame arrived intact and in order, 1 otherwise,
# 2 on bad usage. Every step is bounded in time (the replay to 300 s); the
# temporary directory and any process still running are removed on exit,
# also on ^C.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
orig=$PWD

# die STATUS MESSAGE...
die() {
	local status=$1
	shift
	echo "demo.sh: $*" >&2
	exit "$status"
}

case ${1:-} in
-h | --help)
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac

cd "$root"
capture=testdata/pcaps/http-tcp.pcap
if [[ $# -gt 0 ]]; then
	arg=$1
	shift
	if [[ $arg == /* ]]; then
		capture=$arg
	elif [[ -f $orig/$arg ]]; then
		capture=$orig/$arg
		[[ $orig == "$root" ]] && capture=$arg
	elif [[ -f testdata/pcaps/$arg ]]; then
		capture=testdata/pcaps/$arg
	else
		capture=$arg
	fi
	if [[ ! -f $capture ]]; then
		shipped=(testdata/pcaps/*.pcap*)
		die 2 "no capture file $arg (shipped ones: ${shipped[*]##*/})"
	fi
fi
inject_flags=(-topspeed)
if [[ $# -gt 0 ]]; then
	inject_flags=("$@")
fi

command -v go >/dev/null || die 2 "needs Go (https://go.dev/dl/) in PATH"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memifpcap-demo.XXXXXX")
dump_pid=
inject_pid=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local pid
	for pid in $inject_pid $dump_pid; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sock=$tmp/memif.sock
out=$tmp/out.pcap

echo "== building memifdump, memifinject and pcapcmp (CGO_ENABLED=0) into $tmp"
CGO_ENABLED=0 timeout --foreground 600 go build -o "$tmp/" ./cmd/memifdump ./cmd/memifinject ./e2e/cmd/pcapcmp

# memifdump, the memif server: it listens on the socket and writes the pcap.
dump_args=(-role server -socket "$sock" -w "$out")
: >"$tmp/memifdump.err"
"$tmp/memifdump" "${dump_args[@]}" 2>"$tmp/memifdump.err" &
dump_pid=$!
# Its start line comes once the socket listens (as tcpdump's, on stderr).
for ((i = 0; ; i++)); do
	grep -q '^listening on memif ' "$tmp/memifdump.err" && break
	kill -0 "$dump_pid" 2>/dev/null || {
		cat "$tmp/memifdump.err" >&2
		die 1 "memifdump exited before it listened"
	}
	((i < 100)) || die 1 "memifdump did not listen on $sock within 10 s"
	sleep 0.1
done

# memifinject, the memif client: it waits for the link, replays the capture
# and waits until memifdump has taken every frame before it disconnects. In
# the background, so that a signal to this script is handled at once.
inject_args=(-socket "$sock" -wait 10s "${inject_flags[@]}" "$capture")
timeout 300 "$tmp/memifinject" "${inject_args[@]}" >"$tmp/memifinject.out" 2>&1 &
inject_pid=$!
inject_rc=0
wait "$inject_pid" || inject_rc=$?
inject_pid=

# Stop memifdump as you would stop tcpdump: it flushes the file and prints
# its counts.
kill -INT "$dump_pid" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do
	kill -0 "$dump_pid" 2>/dev/null || break
	sleep 0.1
done
dump_rc=0
if kill -0 "$dump_pid" 2>/dev/null; then
	kill -KILL "$dump_pid" 2>/dev/null || true
	wait "$dump_pid" 2>/dev/null || true
	dump_rc=timeout
else
	wait "$dump_pid" || dump_rc=$?
fi
dump_pid=

echo
echo "== memifinject ${inject_args[*]}"
cat "$tmp/memifinject.out"
echo
echo "== memifdump ${dump_args[*]}   (stopped with SIGINT after memifinject)"
cat "$tmp/memifdump.err"

failed=0
if [[ $inject_rc != 0 ]]; then
	echo "demo.sh: memifinject failed (exit status $inject_rc)" >&2
	failed=1
fi
if [[ $dump_rc != 0 ]]; then
	echo "demo.sh: memifdump failed (exit status $dump_rc)" >&2
	failed=1
fi
if [[ ! -s $out ]]; then
	echo "demo.sh: memifdump wrote no file" >&2
	exit 1
fi

echo
echo "== memifdump -r out.pcap   (first 10 lines)"
"$tmp/memifdump" -r "$out" >"$tmp/out.txt" || {
	echo "demo.sh: memifdump -r cannot read the file it wrote" >&2
	failed=1
}
head -n 10 "$tmp/out.txt"
lines=$(wc -l <"$tmp/out.txt")
if ((lines > 10)); then
	echo "... $((lines - 10)) more"
fi

echo
echo "== the frames memifdump wrote, byte for byte, against the capture"
"$tmp/pcapcmp" "$capture" "$out" || failed=1

exit "$failed"
