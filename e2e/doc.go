// Package e2e holds the end-to-end tests of memifdump and memifinject: the
// two commands are built once (CGO_ENABLED=0, as a user builds them) and run
// as processes, the way a user runs them, against each other and through
// DPDK's dpdk-testpmd.
//
//   - Every capture in testdata/pcaps is replayed with memifinject -topspeed
//     into memifdump -c N over a live memif link, with the default
//     2048-byte buffers (jumbo frames cross as descriptor chains): both
//     tools exit 0 by themselves, and the file memifdump wrote holds the
//     capture's frames, byte for byte, in order. Some captures also go the
//     other way round (memifdump the client, memifinject the server) and
//     into a pcapng file.
//   - Through DPDK: testpmd with two memif server ports forwards port 0 to
//     port 1 (io mode, paired topology); memifinject sends every capture
//     into port 0 and memifdump captures port 1, both clients with
//     -buffer-size 9216 (DPDK 22.11 corrupts descriptor chains it
//     transmits). The test skips when testpmd is absent, and fails then
//     with MEMIFPCAP_REQUIRE_TESTPMD=1 (see internal/testpmd).
//   - tshark -r counts the packets of some of the files memifdump wrote
//     (pcap and pcapng); skipped when tshark is absent.
//
// The package also tests e2e/cmd/pcapcmp, the comparison that demo.sh
// prints. It has no API: this file exists so that the package does.
package e2e
