// Package durable writes the small files that must survive a crash: a
// file replaced whole and atomically, bytes rewritten in place, a line
// appended, each made durable before it returns.
//
// It imports nothing of hbctl.
package durable
