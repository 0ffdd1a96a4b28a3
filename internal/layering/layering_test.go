// Package layering holds the test that keeps the design's layering: ring/
// and control/ never import gopacket, and nothing imports a command.
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/memifpcap/memifpcap/"

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", "{{.ImportPath}}|{{join .Deps \" \"}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}}|{{join .XTestImports \" \"}}", module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			t.Fatalf("go list line %q", line)
		}
		pkg, deps := f[0], strings.Fields(f[1])
		imports := strings.Fields(f[2] + " " + f[3] + " " + f[4])
		seen++
		for _, imp := range imports {
			if strings.HasPrefix(imp, module+"cmd/") && !strings.HasPrefix(pkg, strings.TrimSuffix(imp, "_test")) {
				t.Errorf("%s imports the command %s: nothing imports cmd/", pkg, imp)
			}
		}
		if pkg == module+"memifpcap" && !strings.Contains(f[1], "github.com/google/gopacket") {
			t.Errorf("memifpcap's dependencies lack gopacket: the listing is not what this test thinks")
		}
		if pkg == module+"ring" || pkg == module+"control" {
			for _, d := range deps {
				if strings.Contains(d, "gopacket") {
					t.Errorf("%s depends on %s: ring and control never import gopacket", pkg, d)
				}
			}
		}
	}
	if seen < 8 {
		t.Fatalf("go list listed %d packages; the module has more", seen)
	}
}
