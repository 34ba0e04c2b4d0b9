package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIDocsCurrent fails when docs/cli.md no longer matches the command
// tree: a flag, a default or a variable changed without regenerating it.
func TestCLIDocsCurrent(t *testing.T) {
	want, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", DocsPath)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; create it with: %s", err, RegenerateDocs)
	}
	if string(got) == want {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s is stale; regenerate it with: %s\nfirst difference, line %d:\n  file:  %q\n  tree:  %q", DocsPath, RegenerateDocs, i+1, g, w)
		}
	}
}

// TestReadmeStaysShort keeps README.md the entrance it is meant to be:
// what hbctl is, the quick start, the workflow and a map of docs/. Guides,
// references and formats belong under docs/.
func TestReadmeStaysShort(t *testing.T) {
	const most = 25 << 10
	fi, err := os.Stat(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > most {
		t.Errorf("README.md is %d bytes, more than %d: move the detail to docs/", fi.Size(), most)
	}
}
