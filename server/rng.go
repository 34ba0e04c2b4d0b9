package server

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
)

// newRNG is a PCG stream derived from the configured seed and a stream
// number, so each goroutine has its own reproducible generator.
func newRNG(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream*0x9e3779b97f4a7c15+1))
}

// randomSeed is the seed used when none is configured.
func randomSeed() int64 {
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return int64(binary.LittleEndian.Uint64(b[:]) &^ (1 << 63))
}
