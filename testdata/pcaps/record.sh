#!/usr/bin/env bash
# record.sh — record the captures in this folder from real traffic.
#
# Every frame here was put on a real veth pair by the Linux kernel and
# captured with tcpdump (or dumpcap for the pcapng): two network namespaces
# of our own (mpc-a, mpc-b) joined by veth pairs, private addresses only
# (10.77.0.0/16 and fd00:77::/32). Nothing leaves the machine.
#
#   sudo ./record.sh            # install what is missing, record, verify, copy here
#   ./record.sh --verify        # only check the files already in this folder
#   OUT_DIR=/tmp/x sudo -E ./record.sh   # record somewhere else
#
# Debian 12, root. Takes about a minute: 15 s recording, the rest checking.
# Exits non-zero if a capture does not hold exactly the packets it should (the
# counts are checked below, in verify); then nothing in OUT_DIR is replaced and
# the work folder is kept.
#
# Determinism: MACs, addresses, payloads, sizes and counts are fixed; offloads
# are off so every checksum on the wire is the real one and no frame is larger
# than the MTU (GRO/TSO would hand the capture one 64 KB "super-frame"). What
# differs between runs: timestamps, ICMP echo ids, DNS ids, TCP ports and
# sequence numbers, and, in the two captures with an HTTP download, the exact
# number of pure ACKs (the TCP stack decides when to ACK).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT_DIR:-$HERE}
NSA=mpc-a
NSB=mpc-b
PY=/usr/bin/python3

# Link and addresses. The A side is where every capture is taken.
MAC_A=02:00:00:77:00:0a MAC_B=02:00:00:77:00:0b        # veth-a / veth-b, MTU 1500
MAC_JA=02:00:00:77:09:0a MAC_JB=02:00:00:77:09:0b      # veth-ja / veth-jb, MTU 9000
MAC_VA=02:00:00:77:64:0a MAC_VB=02:00:00:77:64:0b      # veth-va / veth-vb, carries VLAN 100
V4_A=10.77.0.1 V4_B=10.77.0.2 V6_A=fd00:77::1 V6_B=fd00:77::2
VL4_A=10.77.100.1 VL4_B=10.77.100.2 VL6_A=fd00:77:100::1 VL6_B=fd00:77:100::2   # VLAN 100
J4_A=10.77.9.1 J4_B=10.77.9.2 J6_A=fd00:77:9::1 J6_B=fd00:77:9::2               # jumbo

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'record.sh: %s\n' "$*" >&2; exit 1; }
a() { ip netns exec "$NSA" "$@"; }
b() { ip netns exec "$NSB" "$@"; }

# ---------------------------------------------------------------------------
# verify: the checks, usable on their own (--verify) without root.

FAILED=0
fail() { printf 'FAIL %s\n' "$*" >&2; FAILED=1; }

# count FILE FILTER: how many frames of FILE match the display filter.
count() {
	tshark -r "$1" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
		-o udp.check_checksum:TRUE -Y "$2" -T fields -e frame.number 2>/dev/null | wc -l
}

# in_range N WANT: N is WANT, or within WANT if that is "lo-hi".
in_range() {
	if [[ $2 == *-* ]]; then
		(($1 >= ${2%-*} && $1 <= ${2#*-}))
	else
		(($1 == $2))
	fi
}

# expect FILE FILTER WANT: the number of frames of FILE matching FILTER is WANT
# (a number, or "lo-hi" where the TCP stack's timing decides).
expect() {
	local n
	n=$(count "$1" "$2")
	in_range "$n" "$3" || fail "$(basename "$1"): '$2' matched $n frames, want $3"
}

# check_file FILE TOTAL MAXLEN: what every capture must satisfy. TOTAL is a
# range ("lo-hi") for the captures holding a TCP download: how many pure ACKs
# the receiver sends depends on how many segments each softirq run hands it.
check_file() {
	local f=$1 total=$2 maxlen=$3 name info n big
	name=$(basename "$f")
	[[ -s $f ]] || { fail "$name: missing or empty"; return; }
	info=$(capinfos "$f" 2>/dev/null) || { fail "$name: capinfos cannot read it"; return; }
	grep -q '^File encapsulation: *Ethernet$' <<<"$info" || fail "$name: link type is not Ethernet"
	n=$(awk -F': *' '/Number of packets/ {print $2}' <<<"$info" | tr -d ' ')
	in_range "$n" "$total" || fail "$name: $n packets, want $total"
	big=$(tshark -r "$f" -T fields -e frame.len 2>/dev/null | sort -n | tail -1)
	[[ $big == "$maxlen" ]] || fail "$name: largest frame $big bytes, want $maxlen"
	# Captured length is the wire length: nothing truncated.
	expect "$f" 'frame.cap_len != frame.len' 0
	# Offloads off: every checksum the dissectors can check is right, and
	# all IP fragments reassemble.
	expect "$f" 'ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad"' 0
	# No malformed frame, no expert warning or error, except the flow-control
	# warnings a fast sender earns for itself (the receiver's window filled up).
	expect "$f" '_ws.malformed || (_ws.expert.severity >= 6291456 && !(tcp.analysis.window_full || tcp.analysis.zero_window || tcp.analysis.zero_window_probe || tcp.analysis.zero_window_probe_ack))' 0
	printf '%-20s %8s bytes %4s packets  largest %4s  %s, %s\n' "$name" "$(stat -c %s "$f")" "$n" "$big" \
		"$(awk -F': *' '/^File type/ {print $2}' <<<"$info")" \
		"$(awk -F': *' '/^File timestamp precision/ {print $2}' <<<"$info")"
}

# check_http FILE: one complete download, no loss, handshake to FIN.
check_http() {
	local f=$1
	expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' 1
	expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 1' 1
	expect "$f" 'tcp.flags.fin == 1' 2
	expect "$f" 'tcp.flags.reset == 1' 0
	expect "$f" 'tcp.analysis.retransmission || tcp.analysis.lost_segment || tcp.analysis.out_of_order || tcp.analysis.duplicate_ack' 0
	expect "$f" 'http.request.method == "GET"' 1
	expect "$f" 'http.response.code == 200' 1
}

verify() {
	local d=$1 f
	log "verify $d"
	f=$d/icmp-ping.pcap
	check_file "$f" 22 98
	expect "$f" 'arp.opcode == 1' 1
	expect "$f" 'arp.opcode == 2' 1
	expect "$f" 'icmp.type == 8' 10
	expect "$f" 'icmp.type == 0 && icmp.resp_to' 10

	f=$d/icmp-ping-nano.pcap
	check_file "$f" 12 98
	expect "$f" 'arp' 2
	expect "$f" 'icmp.type == 8' 5
	expect "$f" 'icmp.type == 0 && icmp.resp_to' 5
	capinfos "$f" 2>/dev/null | grep -q '^File type:.*nanosecond pcap$' || fail "icmp-ping-nano.pcap: not a nanosecond pcap"

	f=$d/icmpv6-ping.pcap
	check_file "$f" 22 118
	expect "$f" 'icmpv6.type == 135' 1
	expect "$f" 'icmpv6.type == 136' 1
	expect "$f" 'icmpv6.type == 128' 10
	expect "$f" 'icmpv6.type == 129 && icmpv6.resp_to' 10

	f=$d/dns-udp.pcap
	check_file "$f" 16 133
	expect "$f" 'dns.flags.response == 0' 8
	expect "$f" 'dns.flags.response == 1 && dns.response_to' 8
	expect "$f" 'ipv6 && dns' 4
	expect "$f" 'dns.a == 10.77.0.2' 2
	expect "$f" 'dns.aaaa == fd00:77::2' 2
	expect "$f" 'dns.a == 10.77.0.20' 1
	expect "$f" 'dns.txt' 1
	expect "$f" 'dns.flags.rcode == 3' 1
	expect "$f" 'dns.flags.response == 1 && dns.flags.rcode == 0 && dns.count.answers == 0' 1

	f=$d/http-tcp.pcap
	check_file "$f" 160-330 1514
	check_http "$f"
	expect "$f" 'not tcp' 0
	expect "$f" 'tcp.srcport == 8080 && tcp.len > 0' 142-150
	expect "$f" 'http.content_length == 204800' 1

	f=$d/vlan-8021q.pcap
	check_file "$f" 24 122
	expect "$f" 'not vlan' 0
	expect "$f" 'vlan.id == 100' 24
	expect "$f" 'arp' 2
	expect "$f" 'icmp' 10
	expect "$f" 'icmpv6.type == 135 || icmpv6.type == 136' 2
	expect "$f" 'icmpv6.type == 128 || icmpv6.type == 129' 10

	f=$d/ipv6-udp-tcp.pcap
	check_file "$f" 20-40 1514
	expect "$f" 'not ipv6' 0
	expect "$f" 'icmpv6.type == 135 || icmpv6.type == 136' 2
	expect "$f" 'udp.port == 7' 10
	expect "$f" 'udp.port == 7 && frame.len == 1514' 2
	check_http "$f"
	expect "$f" 'http.content_length == 3000' 1

	f=$d/jumbo-9000.pcap
	check_file "$f" 22 9014
	expect "$f" 'arp || icmpv6.type == 135 || icmpv6.type == 136' 4
	expect "$f" 'frame.len == 9014' 12
	expect "$f" 'frame.len == 9000' 6
	expect "$f" 'ip.flags.mf == 1 || ip.frag_offset > 0 || ipv6.fraghdr' 0

	f=$d/ip-fragments.pcap
	check_file "$f" 52 1514
	expect "$f" 'arp || icmpv6.type == 135 || icmpv6.type == 136' 4
	expect "$f" 'ip.flags.mf == 1 || ip.frag_offset > 0' 30
	expect "$f" 'ipv6.fraghdr' 18
	expect "$f" 'icmp.type == 8' 3
	expect "$f" 'icmp.type == 0' 3
	expect "$f" 'icmpv6.type == 128' 3
	expect "$f" 'icmpv6.type == 129' 3
	expect "$f" 'udp.port == 7 && udp.length == 3008' 4

	f=$d/mixed.pcapng
	check_file "$f" 30-50 1514
	capinfos -t "$f" 2>/dev/null | grep -q 'pcapng' || fail "mixed.pcapng: not pcapng"
	expect "$f" 'arp' 2
	expect "$f" 'icmp' 6
	expect "$f" 'icmpv6.type == 135 || icmpv6.type == 136' 2
	expect "$f" 'icmpv6.type == 128 || icmpv6.type == 129' 6
	expect "$f" 'dns' 4
	expect "$f" 'udp.port == 7' 2
	check_http "$f"

	local total
	total=$(du -cb "$d"/*.pcap "$d"/*.pcapng | tail -1 | cut -f1)
	printf 'total %s bytes\n' "$total"
	((total < 1572864)) || fail "captures total $total bytes, want < 1.5 MB"
	for f in "$d"/*.pcap "$d"/*.pcapng; do
		tshark -r "$f" -q -z io,stat,0 2>/dev/null | awk -v n="$(basename "$f")" '/<>/ {print "  io,stat " n ": " $0}'
	done
	((FAILED == 0))
}

if [[ ${1:-} == --verify ]]; then
	verify "$OUT" && echo "all captures verified" && exit 0
	exit 1
fi

# ---------------------------------------------------------------------------
# Recording.

((EUID == 0)) || die "run as root (namespaces, veths and captures need it)"
START=$SECONDS

install_deps() {
	local pkgs=(iproute2 tcpdump dnsmasq-base curl iputils-ping bind9-dnsutils python3 tshark ethtool) missing=() p
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return
	log "installing ${missing[*]}"
	# tshark asks whether non-root users may capture; answer no, without asking.
	echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# dnsmasq-base is the binary alone: the dnsmasq package would also start a
	# system-wide resolver on the host.
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Everything we start runs inside our namespaces, so the namespaces' own pid
# lists are exactly our processes.
kill_ns_pids() {
	local ns=$1 pids
	pids=$(ip netns pids "$ns" 2>/dev/null || true)
	[[ -n $pids ]] || return 0
	# shellcheck disable=SC2086
	kill $pids 2>/dev/null || true
	sleep 0.3
	pids=$(ip netns pids "$ns" 2>/dev/null || true)
	# shellcheck disable=SC2086
	[[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
}

teardown() {
	local ns
	for ns in "$NSA" "$NSB"; do
		if [[ -e /run/netns/$ns ]]; then
			kill_ns_pids "$ns"
			ip netns del "$ns"   # takes its end of each veth pair with it
		fi
	done
}

WORK=
cleanup() {
	local rc=$?
	teardown
	if [[ -n $WORK && -d $WORK ]]; then
		if ((rc == 0)); then rm -rf "$WORK"; else echo "record.sh: failed (exit $rc); work folder kept: $WORK" >&2; fi
	fi
	exit "$rc"
}

# no_offloads NS DEV: tx checksum offload off, so the kernel computes every
# checksum itself and the capture sees the real ones (with it on, a veth
# carries TCP/UDP checksums that are only partial); TSO/GSO/GRO off, so one
# frame on the wire is one frame in the capture, never a 64 KB super-frame
# larger than the MTU; VLAN offload off, so the 802.1Q tag is in the frame.
# Features a device has fixed are skipped; on the veths the ones that matter
# must then read "off".
no_offloads() {
	local ns=$1 dev=$2 f
	for f in tx rx sg tso gso gro txvlan rxvlan; do
		ip netns exec "$ns" ethtool -K "$dev" "$f" off >/dev/null 2>&1 || true
	done
	if [[ $dev == veth-?? || $dev == veth-? ]] && ip netns exec "$ns" ethtool -k "$dev" |
		grep -E '^(tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload): on'; then
		die "$dev: offloads still on"
	fi
}

setup() {
	log "namespaces $NSA, $NSB"
	teardown   # a previous run killed with -9 may have left ours behind
	ip netns add "$NSA"
	ip netns add "$NSB"
	local ns
	for ns in "$NSA" "$NSB"; do
		ip netns exec "$ns" ip link set lo up
		# No spontaneous IPv6 traffic once the links are up: no router
		# solicitations, no DAD probes. MLD reports on joining groups remain;
		# they are over before the first capture (the sleep before record).
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
			net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0 \
			net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done

	ip link add veth-a netns "$NSA" address "$MAC_A" type veth peer name veth-b netns "$NSB" address "$MAC_B"
	ip link add veth-ja netns "$NSA" address "$MAC_JA" mtu 9000 type veth peer name veth-jb netns "$NSB" address "$MAC_JB" mtu 9000
	ip link add veth-va netns "$NSA" address "$MAC_VA" type veth peer name veth-vb netns "$NSB" address "$MAC_VB"

	# VLAN 100 on the veth-va/veth-vb pair. The usual way is a VLAN
	# sub-interface on each end (the kernel tags on transmit and untags on
	# receive). A kernel built without 802.1Q (CONFIG_VLAN_8021Q unset, as on
	# some VM kernels) refuses "type vlan"; there the same tagging is done by
	# two tiny tc programs on each end (tcx egress: bpf_skb_vlan_push, tcx
	# ingress: bpf_skb_vlan_pop) and the addresses sit on veth-va/veth-vb
	# themselves. The frames on the wire are the same either way: the capture
	# on veth-va sees every frame with its 802.1Q tag, VID 100.
	if a ip link add link veth-va name veth-va.100 type vlan id 100 2>/dev/null; then
		b ip link add link veth-vb name veth-vb.100 type vlan id 100
		VDEV_A=veth-va.100 VDEV_B=veth-vb.100 VLAN_HOW="VLAN sub-interfaces veth-va.100/veth-vb.100"
	else
		VDEV_A=veth-va VDEV_B=veth-vb VLAN_HOW="tcx programs (no 802.1Q in this kernel)"
	fi

	local d
	for d in veth-a veth-ja veth-va "$VDEV_A"; do no_offloads "$NSA" "$d"; done
	for d in veth-b veth-jb veth-vb "$VDEV_B"; do no_offloads "$NSB" "$d"; done

	a ip addr add "$V4_A/24" dev veth-a
	b ip addr add "$V4_B/24" dev veth-b
	a ip addr add "$V6_A/64" dev veth-a nodad
	b ip addr add "$V6_B/64" dev veth-b nodad
	a ip addr add "$VL4_A/24" dev "$VDEV_A"
	b ip addr add "$VL4_B/24" dev "$VDEV_B"
	a ip addr add "$VL6_A/64" dev "$VDEV_A" nodad
	b ip addr add "$VL6_B/64" dev "$VDEV_B" nodad
	a ip addr add "$J4_A/24" dev veth-ja
	b ip addr add "$J4_B/24" dev veth-jb
	a ip addr add "$J6_A/64" dev veth-ja nodad
	b ip addr add "$J6_B/64" dev veth-jb nodad
	for d in veth-a veth-ja veth-va "$VDEV_A"; do a ip link set "$d" up; done
	for d in veth-b veth-jb veth-vb "$VDEV_B"; do b ip link set "$d" up; done
	if [[ $VDEV_A == veth-va ]]; then
		vlan_tcx "$NSA" veth-va
		vlan_tcx "$NSB" veth-vb
	fi
}

# vlan_tcx NS DEV: tag everything DEV sends with VLAN 100 and untag what it
# receives, with two eBPF programs on DEV's tcx hooks (Linux >= 6.6). The
# programs are five instructions, assembled here, so no compiler is needed.
# The process holds the links; they go when it ends.
vlan_tcx() {
	local ns=$1 dev=$2
	[[ -f $WORK/vlan_tcx.py ]] || cat >"$WORK/vlan_tcx.py" <<-'EOF'
		import ctypes, os, platform, signal, socket, struct, sys

		SYS_BPF = {"x86_64": 321, "aarch64": 280}[platform.machine()]
		BPF_PROG_LOAD, BPF_LINK_CREATE = 5, 28
		BPF_PROG_TYPE_SCHED_CLS = 3
		BPF_TCX_INGRESS, BPF_TCX_EGRESS = 46, 47
		FUNC_SKB_VLAN_PUSH, FUNC_SKB_VLAN_POP = 18, 19
		MOV64_IMM, CALL, EXIT = 0xB7, 0x85, 0x95

		libc = ctypes.CDLL(None, use_errno=True)
		libc.syscall.restype = ctypes.c_long

		def bpf(cmd, attr):
		    buf = ctypes.create_string_buffer(attr, 128)
		    fd = libc.syscall(SYS_BPF, cmd, buf, 128)
		    if fd < 0:
		        e = ctypes.get_errno()
		        raise OSError(e, "bpf(%d): %s" % (cmd, os.strerror(e)))
		    return fd

		def insn(op, dst=0, imm=0):
		    return struct.pack("<BBhi", op, dst, 0, imm)

		def load(name, body):
		    code = ctypes.create_string_buffer(body + insn(MOV64_IMM, 0, 0) + insn(EXIT), len(body) + 16)
		    lic = ctypes.create_string_buffer(b"GPL")
		    log = ctypes.create_string_buffer(65536)
		    attr = struct.pack("<IIQQIIQII16s", BPF_PROG_TYPE_SCHED_CLS, len(code) // 8,
		                       ctypes.addressof(code), ctypes.addressof(lic),
		                       1, len(log), ctypes.addressof(log), 0, 0, name)
		    try:
		        return bpf(BPF_PROG_LOAD, attr)
		    except OSError as e:
		        sys.exit("%s %s: %s\n%s" % (sys.argv[1], name.decode(), e, log.value.decode(errors="replace")))

		dev, vid = sys.argv[1], int(sys.argv[2])
		ifindex = socket.if_nametoindex(dev)
		# r1 = skb (the context); r2 = htons(ETH_P_8021Q); r3 = VLAN TCI; return TCX_PASS.
		push = load(b"mpc_vlan_push", insn(MOV64_IMM, 2, socket.htons(0x8100)) + insn(MOV64_IMM, 3, vid) + insn(CALL, 0, FUNC_SKB_VLAN_PUSH))
		pop = load(b"mpc_vlan_pop", insn(CALL, 0, FUNC_SKB_VLAN_POP))
		links = [bpf(BPF_LINK_CREATE, struct.pack("<IIII", prog, ifindex, hook, 0))
		         for prog, hook in ((push, BPF_TCX_EGRESS), (pop, BPF_TCX_INGRESS))]
		print("ready", flush=True)
		signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
		while True:
		    signal.pause()
	EOF
	ip netns exec "$ns" "$PY" "$WORK/vlan_tcx.py" "$dev" 100 >"$WORK/vlan_tcx.$dev.log" 2>&1 &
	local pid=$! i
	for ((i = 0; i < 200; i++)); do
		grep -q ready "$WORK/vlan_tcx.$dev.log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	die "cannot tag VLAN 100 on $dev (no 802.1Q in the kernel, and tcx needs Linux >= 6.6): $(cat "$WORK/vlan_tcx.$dev.log")"
}

# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 20; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "timed out waiting for: $*"
}

servers() {
	log "servers in $NSB: dnsmasq :53, http.server :8080, udp echo :7"
	mkdir -p "$WORK/www"
	# Fixed content: the same bytes on every run.
	"$PY" - "$WORK/www" <<-'EOF'
		import random, sys
		d = sys.argv[1]
		open(d + "/blob.bin", "wb").write(random.Random(20240601).randbytes(204800))
		line = b"memifpcap test data: a small text file served over TCP.\n"
		open(d + "/small.txt", "wb").write((line * 60)[:3000])
	EOF

	ip netns exec "$NSB" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
		--pid-file= --log-facility="$WORK/dnsmasq.log" --user=root --group=root \
		--bind-interfaces --interface=veth-b --listen-address="$V4_B" --listen-address="$V6_B" \
		--local=/mpc.test/ \
		--host-record=alpha.mpc.test,"$V4_B","$V6_B" \
		--host-record=beta.mpc.test,10.77.0.20 \
		--txt-record=info.mpc.test,"memifpcap test data" \
		>"$WORK/dnsmasq.out" 2>&1 &
	ip netns exec "$NSB" "$PY" -m http.server 8080 --bind :: --directory "$WORK/www" >"$WORK/http.log" 2>&1 &
	ip netns exec "$NSB" "$PY" -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 7))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
' >"$WORK/echo.log" 2>&1 &
	wait_for 10 bash -c "ip netns exec $NSB ss -Hlun 'sport = :53' | grep -q ."
	wait_for 10 bash -c "ip netns exec $NSB ss -Hltn 'sport = :8080' | grep -q ."
	wait_for 10 bash -c "ip netns exec $NSB ss -Hlun 'sport = :7' | grep -q ."
}

# flush_neigh: forget every neighbour, so the next exchange starts with ARP/ND.
flush_neigh() {
	local d
	for d in veth-a veth-ja "$VDEV_A"; do a ip neigh flush dev "$d"; a ip -6 neigh flush dev "$d"; done
	for d in veth-b veth-jb "$VDEV_B"; do b ip neigh flush dev "$d"; b ip -6 neigh flush dev "$d"; done
}

CAP_PID=
# capture FILE IFACE FILTER [tcpdump options...]: start tcpdump in $NSA, return
# once it is listening.
capture() {
	local file=$1 dev=$2 filter=$3
	shift 3
	flush_neigh
	: >"$WORK/cap.log"
	# shellcheck disable=SC2086 # the filter is words for tcpdump to join
	ip netns exec "$NSA" tcpdump -i "$dev" -Z root -U --immediate-mode -s 262144 "$@" -w "$WORK/out/$file" $filter 2>"$WORK/cap.log" &
	CAP_PID=$!
	wait_for 10 grep -q 'listening on' "$WORK/cap.log"
}

# end_capture: stop the capturing process the way an operator would (^C: it
# writes what it has and closes the file), and make sure it is gone.
end_capture() {
	local i
	kill -INT "$CAP_PID"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$CAP_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$CAP_PID" 2>/dev/null && { kill -KILL "$CAP_PID"; die "capture did not stop on SIGINT: $(cat "$WORK/cap.log")"; }
	wait "$CAP_PID" || true
}

# stop: let the last frames arrive, stop the capture, insist that nothing was dropped.
stop() {
	sleep 0.5
	end_capture
	grep -q '^0 packets dropped by kernel' "$WORK/cap.log" || die "capture dropped packets: $(cat "$WORK/cap.log")"
	CAP_PID=
}

ping_v4() { a ping -q -n -c "$1" -i 0.2 -W 2 "${@:3}" "$2" >/dev/null; }
ping_v6() { a ping -6 -q -n -c "$1" -i 0.2 -W 2 "${@:3}" "$2" >/dev/null; }
# udp_echo HOST SIZE...: one datagram of each SIZE to the echo server, each echo awaited.
udp_echo() {
	a "$PY" - "$@" <<-'EOF'
		import socket, sys
		host, sizes = sys.argv[1], [int(x) for x in sys.argv[2:]]
		fam = socket.AF_INET6 if ":" in host else socket.AF_INET
		s = socket.socket(fam, socket.SOCK_DGRAM)
		s.settimeout(2)
		for n in sizes:
		    msg = (b"memifpcap udp %5d " % n * (n // 20 + 1))[:n]
		    s.sendto(msg, (host, 7))
		    data, _ = s.recvfrom(65535)
		    assert data == msg, "echo mismatch"
	EOF
}
get() { a curl --noproxy '*' -sS -f -o /dev/null --max-time 10 "$1"; }
dig4() { a dig @"$V4_B" +tries=1 +time=2 +nocookie "$@" >/dev/null; }
dig6() { a dig @"$V6_B" +tries=1 +time=2 +nocookie "$@" >/dev/null; }

record() {
	log "icmp-ping.pcap: ARP, 10 IPv4 echo request/reply pairs"
	capture icmp-ping.pcap veth-a 'arp or icmp'
	ping_v4 10 "$V4_B"
	stop

	log "icmp-ping-nano.pcap: the same, 5 pairs, nanosecond time stamps"
	capture icmp-ping-nano.pcap veth-a 'arp or icmp' --time-stamp-precision=nano
	ping_v4 5 "$V4_B"
	stop

	log "icmpv6-ping.pcap: neighbour discovery, 10 IPv6 echo request/reply pairs"
	capture icmpv6-ping.pcap veth-a 'icmp6'
	ping_v6 10 "$V6_B"
	stop

	log "dns-udp.pcap: 8 DNS queries and answers over UDP (6 over IPv4, 2 over IPv6)"
	capture dns-udp.pcap veth-a 'udp port 53'
	dig4 alpha.mpc.test A
	dig4 alpha.mpc.test AAAA
	dig4 beta.mpc.test A
	dig4 info.mpc.test TXT
	dig4 missing.mpc.test A
	dig4 beta.mpc.test AAAA
	dig6 alpha.mpc.test AAAA
	dig6 alpha.mpc.test A
	stop

	log "http-tcp.pcap: HTTP/1.0 download of a 204800-byte file over IPv4"
	capture http-tcp.pcap veth-a 'tcp port 8080'
	get "http://$V4_B:8080/blob.bin"
	stop

	log "vlan-8021q.pcap: 802.1Q VLAN 100: ARP, 5 IPv4 pings, ND, 5 IPv6 pings"
	log "  tagged by: $VLAN_HOW"
	capture vlan-8021q.pcap veth-va 'vlan'
	ping_v4 5 "$VL4_B"
	ping_v6 5 "$VL6_B"
	stop

	log "ipv6-udp-tcp.pcap: ND, 5 UDP echoes over IPv6, HTTP download of 3000 bytes over IPv6"
	capture ipv6-udp-tcp.pcap veth-a 'ip6'
	udp_echo "$V6_B" 1 64 512 1000 1452
	get "http://[$V6_B]:8080/small.txt"
	stop

	log "jumbo-9000.pcap: MTU 9000: full 9014-byte frames and exact 9000-byte frames"
	capture jumbo-9000.pcap veth-ja ''
	ping_v4 3 "$J4_B" -M "do" -s 8972   # IPv4 packet 9000, frame 9014
	ping_v4 3 "$J4_B" -M "do" -s 8958   # IPv4 packet 8986, frame 9000
	ping_v6 3 "$J6_B" -M "do" -s 8952   # IPv6 packet 9000, frame 9014
	stop

	log "ip-fragments.pcap: IPv4 and IPv6 fragments over MTU 1500"
	capture ip-fragments.pcap veth-a ''
	ping_v4 3 "$V4_B" -s 4000        # 4028-byte datagram: 3 fragments each way
	udp_echo "$V4_B" 3000 3000     # 3028-byte datagram: 3 fragments each way
	ping_v6 3 "$V6_B" -s 4000        # 3 fragments each way, fragment header
	stop

	log "mixed.pcapng: dumpcap, pcapng: ARP, pings, ND, DNS, UDP echo, HTTP over IPv4"
	flush_neigh
	: >"$WORK/cap.log"
	ip netns exec "$NSA" dumpcap -i veth-a -n -q -s 262144 -w "$WORK/out/mixed.pcapng" 2>"$WORK/cap.log" &
	CAP_PID=$!
	wait_for 10 grep -q 'Capturing on' "$WORK/cap.log"
	ping_v4 3 "$V4_B"
	ping_v6 3 "$V6_B"
	dig4 alpha.mpc.test A
	dig6 alpha.mpc.test AAAA
	udp_echo "$V4_B" 100
	get "http://$V4_B:8080/small.txt"
	sleep 1   # dumpcap hands packets over in batches
	end_capture
	grep -q 'Packets received/dropped on interface .*/0 ' "$WORK/cap.log" || die "capture dropped packets: $(cat "$WORK/cap.log")"
	CAP_PID=
}

install_deps
trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d /tmp/mpc-record.XXXXXX)
mkdir -p "$WORK/out"
setup
servers
# MLD reports for the groups the new addresses joined go out over the first
# couple of seconds; start capturing after them.
sleep 3
record
teardown
log "recorded in $((SECONDS - START)) s"
verify "$WORK/out" || die "verification failed; new captures left in $WORK/out"
mkdir -p "$OUT"
cp "$WORK"/out/* "$OUT"/
chmod 644 "$OUT"/*.pcap "$OUT"/*.pcapng
log "done in $((SECONDS - START)) s; captures in $OUT"
