// Package layers has no code: its test turns the import rules that each
// package's doc.go states ("it must never import ...", "it imports nothing
// of hbctl but ...") into a check over `go list -deps`, in the spirit of
// Go's own deps_test, so that breaking one fails `go test ./internal/layers`
// instead of waiting for a reviewer. See docs/design.md.
package layers
