// Package report turns a coordinator's data dir (timeline.jsonl, the
// metrics.lp of the file sink and an optional verify.json) into one
// self-contained HTML file: inline SVG charts drawn in Go, inline CSS, no
// script, font or stylesheet fetched at view time, so the file can be
// mailed, archived and printed as it is.
//
// It reads files only: it must not import the agents, the server, the
// coordinator daemon or cli, and must not speak to a running coordinator.
// It imports coordinator/runrecord for the files' formats (and through it
// the API types they embed) and telemetry for the line protocol reader.
package report
