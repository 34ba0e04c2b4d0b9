package server

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hbctl/hbctl/server/wire"
)

// TestWakeGridAnswersEverything: with a wake grid, a loop that holds its
// socket wake-ups between steps still answers every request, in order,
// whether requests come often enough to hold (a stream of SHAKEs) or one
// at a time (a lone SHAKE after a pause: no hold, no step to wait for).
func TestWakeGridAnswersEverything(t *testing.T) {
	for _, grid := range []time.Duration{0, 500 * time.Microsecond, 20 * time.Millisecond} {
		t.Run(fmt.Sprintf("grid=%v", grid), func(t *testing.T) {
			_, addr := startServer(t, Config{Sets: 8, Loops: 2, WakeGrid: grid})
			const conns, rounds = 20, 50
			cs := make([]*client, conns)
			for i := range cs {
				cs[i] = dial(t, addr)
				cs[i].login(uint32(i))
			}
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for i, c := range cs {
				wg.Add(1)
				go func(uid uint32, c *client) {
					defer wg.Done()
					for r := 0; r < rounds; r++ {
						// Two SHAKEs a round, the second before the first's
						// answer: a loop sees arrivals closer than its grid.
						f := wire.Shake(now(), uid)
						b := wire.Append(nil, &f)
						if _, err := c.nc.Write(b); err != nil {
							errs <- err
							return
						}
						if _, err := c.nc.Write(b); err != nil {
							errs <- err
							return
						}
						for k := 0; k < 2; k++ {
							f, err := c.read()
							if err != nil {
								errs <- fmt.Errorf("uid %d round %d: %w", uid, r, err)
								return
							}
							if f.Cmd != wire.CmdShakeResp || f.UID() != uid {
								errs <- fmt.Errorf("uid %d round %d: got %s %v", uid, r, f.Cmd, f.Fields)
								return
							}
						}
					}
				}(uint32(i), c)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// After the stream, one lone request on an idle server.
			cs[0].send(wire.Shake(now(), 0))
			cs[0].expect(wire.CmdShakeResp)
		})
	}
}
