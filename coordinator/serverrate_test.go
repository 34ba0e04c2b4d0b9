package coordinator

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server"
	"github.com/hbctl/hbctl/server/servertest"
	"github.com/hbctl/hbctl/server/wire"
)

// startRefServer runs a reference server (server/servertest) and returns
// its client address and admin.
func startRefServer(t *testing.T) (string, api.Admin) {
	t.Helper()
	s := servertest.Start(t, server.Config{})
	return s.Addr, api.Admin{URL: s.AdminURL, Token: s.Token}
}

// shakeN logs user uid in at addr and sends n SHAKEs, returning once all n
// are answered (so the server has counted them).
func shakeN(t *testing.T, addr string, uid uint32, n int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	f := wire.Login(0, uid)
	out := wire.Append(nil, &f)
	for i := range n {
		f = wire.Shake(uint64(i+1), uid)
		out = wire.Append(out, &f)
	}
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	buf := make([]byte, 0, 4096)
	answers := 0
	for answers < n {
		chunk := make([]byte, 1024)
		k, err := r.Read(chunk)
		if err != nil {
			t.Fatalf("read after %d answers: %v", answers, err)
		}
		buf = append(buf, chunk[:k]...)
		for {
			var fr wire.Frame
			m, err := wire.Decode(buf, &fr)
			if errors.Is(err, wire.ErrShort) {
				break
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			buf = buf[m:]
			if fr.Cmd == wire.CmdShakeResp {
				answers++
			}
		}
	}
}

func TestServerRatesPollsRealServers(t *testing.T) {
	addr1, adm1 := startRefServer(t)
	addr2, adm2 := startRefServer(t)
	// An admin URL that answers every request with 404: its polls fail,
	// and the seconds must not wait for it.
	broken := httptest.NewServer(http.NotFoundHandler())
	defer broken.Close()
	bad := api.Admin{URL: broken.URL, Token: "x"}
	// A wrong token is a failed poll too.
	wrongTok := api.Admin{URL: adm2.URL, Token: "wrong"}

	shakeN(t, addr1, 1, 30)
	shakeN(t, addr2, 2, 12)
	after := time.Now().Unix()

	var logBuf strings.Builder
	r := newServerRates(http.DefaultClient, slog.New(slog.NewTextHandler(&logBuf, nil)))
	admins := []api.Admin{adm1, adm2, bad}
	total := func() (sum int64) {
		for sec := after - 10; sec <= after; sec++ {
			n, missing, ok := r.at(sec)
			if ok {
				sum += n
				// Both servers were up in every second with a SHAKE; earlier
				// seconds may predate the second one's start.
				if n > 0 && missing != 1 {
					t.Fatalf("second %d: %d servers missing, want 1 (the broken one)", sec, missing)
				}
			}
		}
		return sum
	}
	// The seconds of the SHAKEs are complete once the clock is past them.
	waitFor(t, 10*time.Second, "both servers' counts", func() bool {
		r.poll(context.Background(), admins, time.Now())
		return total() == 42
	})
	if r.pending(after) {
		t.Fatalf("second %d still pending after both answering servers reported it", after)
	}
	if got := r.failures(); got == 0 {
		t.Fatal("the broken server's failed polls were not counted")
	}
	// Failures of one server are logged once a minute, not per poll.
	if n := strings.Count(logBuf.String(), "server stats poll failed"); n != 1 {
		t.Fatalf("%d log lines for the broken server, want 1:\n%s", n, logBuf.String())
	}

	// A second the answering servers have not reported yet waits for them.
	future := time.Now().Unix() + 30
	if !r.pending(future) {
		t.Fatal("a second no server reported yet is not pending")
	}

	// A wrong token fails like a dead server: counted, not awaited.
	r2 := newServerRates(http.DefaultClient, slog.New(slog.DiscardHandler))
	r2.poll(context.Background(), []api.Admin{wrongTok}, time.Now())
	if r2.failures() != 1 || r2.pending(future) {
		t.Fatalf("wrong token: %d failures, pending %v", r2.failures(), r2.pending(future))
	}
	if _, _, ok := r2.at(after); ok {
		t.Fatal("a second with no answering server has a count")
	}

	// No targets: nothing is awaited and nothing is known.
	r.setTargets(nil)
	if r.pending(future) {
		t.Fatal("pending with no targets")
	}
	if _, _, ok := r.at(after); ok {
		t.Fatal("a count with no targets")
	}
}

func TestServerRatesPollTimeoutIsBounded(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	r := newServerRates(http.DefaultClient, slog.New(slog.DiscardHandler))
	r.timeout = 50 * time.Millisecond
	done := make(chan struct{})
	go func() {
		r.poll(context.Background(), []api.Admin{{URL: slow.URL}}, time.Now())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a poll of a server that never answers did not end")
	}
	if r.failures() != 1 {
		t.Fatalf("%d failures, want 1", r.failures())
	}
}

// TestTimelineWaitsForServers drives the timeline by hand: a second waits
// for an answering server's count up to serverWait seconds, then is written
// with or without it.
func TestTimelineWaitsForServers(t *testing.T) {
	dir := t.TempDir()
	tl, err := openTimeline(dir, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r := newServerRates(http.DefaultClient, slog.New(slog.DiscardHandler))
	tl.srv, tl.serverWait = r, 3
	admins := []api.Admin{{URL: "http://a"}, {URL: "http://b"}}
	r.setTargets(admins)
	const t0 = 1_800_000_000
	target := func(int64) int64 { return 100 }
	tl.add("h01", []api.Window{{T: t0, Sent: 100, Received: 100}, {T: t0 + 1, Sent: 100, Received: 100}}, t0+2)

	// Neither server polled yet: the seconds wait.
	tl.flush(t0+1, target, api.Connections{})
	if tl.flushed != 0 {
		t.Fatalf("flushed up to %d before any server reported", tl.flushed)
	}
	// a reports both seconds, b only the first; b answers, so t0+1 waits.
	r.merge("http://a", shakeStats{ShakePerSecond: [][2]int64{{t0, 60}, {t0 + 1, 61}}}, nil, time.Now())
	r.merge("http://b", shakeStats{ShakePerSecond: [][2]int64{{t0 - 1, 0}, {t0, 40}}}, nil, time.Now())
	tl.flush(t0+1, target, api.Connections{})
	if tl.flushed != t0 {
		t.Fatalf("flushed up to %d, want %d", tl.flushed, t0)
	}
	// Past the wait, t0+1 is written with a's count only; t0+2 waits on.
	tl.flush(t0+1+3, target, api.Connections{})
	if tl.flushed != t0+1 {
		t.Fatalf("flushed up to %d, want %d", tl.flushed, t0+1)
	}
	tl.flush(t0+2+3, target, api.Connections{})
	if tl.flushed != t0+2 {
		t.Fatalf("flushed up to %d, want %d", tl.flushed, t0+2)
	}
	var st api.Status
	tl.fill(&st)
	if err := tl.close(); err != nil {
		t.Fatal(err)
	}
	if len(st.Seconds) < 2 || st.Seconds[0].ServerReceived == nil || *st.Seconds[0].ServerReceived != 100 ||
		st.Seconds[1].ServerReceived == nil || *st.Seconds[1].ServerReceived != 61 {
		t.Fatalf("status seconds: %+v", st.Seconds)
	}

	f, err := os.Open(filepath.Join(dir, TimelineFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[int64]TimelineSecond{}
	raw := map[int64]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s TimelineSecond
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		got[s.T] = s
		raw[s.T] = sc.Text()
	}
	for _, c := range []struct {
		sec     int64
		want    int64 // -1: absent
		missing int
	}{
		{t0, 100, 0},    // both servers reported
		{t0 + 1, 61, 1}, // b never did: written after the wait with a alone
		{t0 + 2, 0, 1},  // a reported nothing past t0+1 either: absent
	} {
		s, ok := got[c.sec]
		if !ok {
			t.Fatalf("second %d not written", c.sec)
		}
		switch {
		case c.sec == t0+2 && s.ServerReceived != nil:
			t.Errorf("second %d: server_received %d, want absent: %s", c.sec, *s.ServerReceived, raw[c.sec])
		case c.sec != t0+2 && (s.ServerReceived == nil || *s.ServerReceived != c.want || s.ServersMissing != c.missing):
			t.Errorf("second %d: %s, want server_received %d, servers_missing %d", c.sec, raw[c.sec], c.want, c.missing)
		}
	}

	// A zero count is written, not left out.
	tl2, err := openTimeline(t.TempDir(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer tl2.close()
	r2 := newServerRates(http.DefaultClient, slog.New(slog.DiscardHandler))
	tl2.srv, tl2.serverWait = r2, 3
	r2.setTargets(admins[:1])
	r2.merge("http://a", shakeStats{ShakePerSecond: [][2]int64{{t0, 0}}}, nil, time.Now())
	tl2.add("h01", []api.Window{{T: t0}}, t0+2)
	tl2.flush(t0, target, api.Connections{})
	b, err := json.Marshal(tl2.done[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"server_received":0`) {
		t.Fatalf("zero count not written: %s", b)
	}
}
