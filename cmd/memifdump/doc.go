// Command memifdump is tcpdump for a memif link: it opens a memif interface
// (as a client by default, or as a server) and writes every frame the peer
// sends to a pcap or pcapng file, or prints one line per frame.
//
//	memifdump [flags]
//
// Connection (shared with memifinject and memifperf): -socket PATH
// (default /run/vpp/memif.sock; @name for an abstract socket), -id N, -role
// client|server, -secret S, -mode ethernet|ip|punt-inject, -ring-size N,
// -buffer-size N, -rx-queues N, -tx-queues N (VPP's names, 1 to 255),
// -rx-mode adaptive|poll|interrupt, -wait D.
//
// As a client, memifdump keeps trying, every 100 ms for up to -wait
// (default 10s; 0 tries once, forever waits until stopped), while the
// server is not there yet: no socket, or a server that answers "ID not
// found" (as DPDK's testpmd does until its port starts). It says so once
// on standard error ("no memif server on SOCK yet; waiting for up to 10s
// (-wait)", or "server refused the connection: ID not found; retrying for
// up to 10s (-wait)"); a refusal that waiting cannot cure (a wrong secret)
// ends it at once, said once. As a server it waits for clients until
// stopped, as tcpdump waits for packets, and prints one line for each
// client it refuses:
//
//	memifdump: refused client: Incorrect secret (id 0, "memifpcap")
//
// Tap mode, -tap-socket PATH: memifdump joins the link of the connection
// flags (upstream, such as VPP's socket) and a second link it offers on
// PATH (downstream, for the program that used to connect upstream), and
// forwards every frame between them both ways, exactly and losslessly,
// recording them (see package memiftap and the README). -tap-role
// (server), -tap-id, -tap-secret, -tap-ring-size and -tap-buffer-size
// describe the second link (defaults: the upstream's); -tap-both records
// each frame on both links; -tap-lossless holds forwarding back rather
// than leave frames unrecorded when the disk lags; -B KiB is how much may
// wait for the disk. -c, -C, -G, -W, -r and -queue do not apply.
//
// Every receive queue is captured, each by its own goroutine, into one
// output: a pcapng file has one interface block per queue, its index the
// queue id and its name "memif SOCKET id N queue Q"; a pcap file or the
// printed lines have all queues interleaved. -queue Q captures only queue
// Q. -c N writes exactly N frames across the queues; the closing counts
// are totals.
//
// Output, as tcpdump's options of the same letters:
//
//	-w FILE    write frames to FILE: pcap, or pcapng when FILE ends in .pcapng
//	           or -F pcapng is given; "-" is standard output. Without -w,
//	           one line per frame goes to standard output, in tcpdump -nn
//	           -S's format (below)
//	-F FORMAT  pcap or pcapng (overrides the name's extension)
//	-c N       stop after exactly N frames (exit 0)
//	-s LEN     snapshot length (default and 0: 262144); longer frames are
//	           cut, with the record's original length kept
//	-U         flush the output after every frame. Without it, records
//	           reach the file 64 KiB at a time, except that a batch read
//	           off the ring with frames of 512 bytes or more is written
//	           as it is read: those frames go from the ring to the file in
//	           one writev(2) with their records, without a copy
//	-nano      nanosecond pcap timestamps (pcapng is always nanosecond);
//	           --nano works too, as for every Go flag
//	-C SIZE    before writing a frame, if the file is already larger than
//	           SIZE, close it and open FILE1, FILE2, ... SIZE is in millions
//	           of bytes, or KiB, MiB, GiB with a k, m or g suffix (tcpdump's
//	           units)
//	-W N       with -C: a ring of N files FILE0..FILE(N-1) (zero-padded),
//	           overwritten in turn; with -G alone: stop after N files
//	-G SECS    rotate every SECS seconds (checked when a frame arrives, as
//	           tcpdump does). FILE may hold time fields, expanded in local
//	           time when each file is opened: %Y %m %d %H %M %S %y %j %s %F
//	           %T %%; without any, each file replaces the last
//	-bpf FILE  a classic BPF filter in `tcpdump -ddd` text form (a count
//	           line, then one "code jt jf k" line per instruction), run in
//	           pure Go on each frame before it is written
//	-r FILE    print the frames of a pcap or pcapng file (told apart by
//	           content; - is standard input) one per line instead of
//	           capturing, as tcpdump -r; with -bpf, only those the program
//	           accepts, cut to the length it returns. A file cut short or
//	           corrupt: the frames before the fault are printed, then an
//	           error naming the file and the packet, exit status 1
//
// Printing, as tcpdump's flags of the same letters (combined as getopt
// allows: -nnvX, -#eXXtttt). The line is tcpdump -nn -S's, byte for byte,
// for Ethernet, 802.1Q, ARP, IPv4 and IPv6 (fragments too), ICMP, ICMPv6
// echo and neighbour discovery, TCP, UDP and DNS; other protocols are
// named as gopacket decodes them. For all of tcpdump's text, pipe the
// frames to it: memifdump -w - ... | tcpdump -r -.
//
//	-n, -nn    accepted: nothing is ever resolved
//	-S         accepted: TCP sequence numbers are always absolute
//	-e         the link-level header first (addresses, ethertype, length,
//	           VLAN tags)
//	-q         shorter lines ("tcp N", "UDP, length N")
//	-v         the IP header's fields (-vv, -vvv: the same)
//	-x, -xx    hex dump after the line, from the network header; -xx
//	           from the link-level header
//	-X, -XX    hex and ASCII dump, likewise
//	-A         ASCII dump from the network header
//	-t         no time stamp; -tt seconds since 1970; -ttt since the
//	           previous packet; -tttt date and local time; -ttttt since
//	           the first packet (nine digits with -nano)
//	-#         the packet's number first (also -number)
//	-l         line-buffered output
//	-D         list the listening SOCK_SEQPACKET unix sockets (memif
//	           servers, by path or @abstract-name) and exit; they are not
//	           asked whether they speak memif, since a connection would
//	           start a handshake on the server
//	-Z USER    after opening the socket and the output file, become USER
//	           (its groups, group and user, every thread); Linux only
//
// The arguments after the flags are a filter expression, as tcpdump's
// (pcap-filter(7), all of them joined by spaces: `memifdump -socket S udp
// port 53`), compiled in pure Go by package pcapfilter for the link type of
// the capture (the memif mode) or of -r's file; numeric addresses only.
// -d, -dd and -ddd print its program as tcpdump does and exit; -bpf FILE
// takes a program compiled elsewhere instead (one or the other). With -r
// and -w, the frames the filter accepts are written to a file, as
// `tcpdump -r IN -w OUT EXPR` writes them.
//
// On standard error memifdump prints tcpdump's start line,
//
//	listening on memif /run/vpp/memif.sock id 0 (client), link-type EN10MB (Ethernet), snapshot length 262144 bytes
//
// a line when the link goes down and when it comes back (capture goes on:
// a client reconnects, a server accepts the next client), and at exit
//
//	N packets captured   frames written (or printed)
//	N packets received   frames taken off the memif ring: captured + filtered
//	N packets dropped    descriptors from the peer that failed a bounds check
//	N packets filtered   frames the -bpf program rejected (only if any)
//
// SIGUSR1 prints the same counts while running. SIGINT and SIGTERM stop the
// capture at once, whatever it waits for (a server, a handshake, a client,
// frames): every frame already read is written (the link is closed only
// after that, since closing hands its slots back to the peer), the file is
// flushed and complete, the counts are printed, and the exit status is 0. A signal before the link came up says what it
// interrupted ("memif: connect SOCK: interrupted"); nothing was captured,
// and no file was created. A third signal kills memifdump the default way. A pcapng file carries an
// interface block naming the memif socket and id, and an interface
// statistics block with the received and dropped counts when it is closed
// (cumulative since the capture started, in every file of a rotation).
//
// Exit status: 0 on success, 1 on a runtime error (a write error such as a
// full disk is one; nothing is dropped silently), 2 on bad usage.
package main
