// Package api holds what the coordinator, its agents and hbctl's control
// commands say to each other: the UDP time packet and the JSON types and
// paths of the HTTP API under /v1/. It is a contract shared by both sides,
// so it imports nothing of hbctl but the other shared contracts:
// coordinator/schedule (plans), server/ledger (the records and counters an
// agent uploads for verification) and checks (the report verification
// answers with). It holds no behaviour beyond encoding.
package api
