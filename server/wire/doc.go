// Package wire is the frame codec of the hongbao protocol (docs/protocol.md):
// fixed 12-byte headers and fixed bodies of big-endian u32 fields.
//
// It is a contract shared by the reference server, the agents and the
// checks, so it imports nothing else of hbctl. Encoding and decoding never
// allocate: a Frame is a plain value and the caller owns every buffer.
package wire
