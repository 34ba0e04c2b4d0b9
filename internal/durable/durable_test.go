package durable

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReplaceThenRewriteAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Replace(path, []byte(`{"t":1700000000000,"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	if err := RewriteAt(f, []byte("1800000000000"), 5); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"t":1800000000000,"x":1}` {
		t.Fatalf("after RewriteAt: %s", got)
	}
	if err := RewriteAt(f, []byte("ab"), SectorLen-1); err == nil {
		t.Fatal("a rewrite across a sector boundary was accepted")
	}
}

func TestReplaceFailsWithoutDir(t *testing.T) {
	if _, err := Replace(filepath.Join(t.TempDir(), "missing", "c"), []byte("x")); err == nil {
		t.Fatal("Replace into a missing directory succeeded")
	}
}

func TestWriteFileAndAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	if err := WriteFile(path, []byte("a\n")); err != nil {
		t.Fatal(err)
	}
	if err := Append(path, []byte("b\n")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path+"2", nil); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "a\nb\n" {
		t.Fatalf("got %q", got)
	}
	if fi, err := os.Stat(path + "2"); err != nil || fi.Size() != 0 {
		t.Fatalf("empty WriteFile: %v %v", fi, err)
	}
}
