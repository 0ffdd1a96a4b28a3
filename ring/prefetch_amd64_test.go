package ring

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestCPUHasPrefetchW checks the CPUID decoding against the flags Linux
// reads from the same leaf.
func TestCPUHasPrefetchW(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo to compare with: %v", err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		if name, flags, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
			want := slices.Contains(strings.Fields(flags), "3dnowprefetch")
			if got := cpuHasPrefetchW(); got != want {
				t.Fatalf("cpuHasPrefetchW() = %v; /proc/cpuinfo lists 3dnowprefetch: %v", got, want)
			}
			return
		}
	}
	t.Skip("/proc/cpuinfo has no flags line")
}
