package coordinator

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/internal/httpserve"
)

// maxBody bounds the bodies agents send (a heartbeat carries a few
// histograms); maxControlBody those of control commands.
const (
	maxBody        = 64 << 20
	maxControlBody = 1 << 20
)

// bodyLimit is the largest body accepted on path.
func bodyLimit(path string) int64 {
	switch {
	case strings.HasPrefix(path, "/v1/agents/") && strings.HasSuffix(path, "/ledger"):
		return maxLedgerBody
	case strings.HasPrefix(path, "/v1/agents/"), path == api.PathRegister:
		return maxBody
	}
	return maxControlBody
}

// limitBody bounds every request body (the ledger upload has its own,
// larger bound) and counts what is refused for its size. It runs after
// the token check, so an unauthenticated body is never read.
func (c *Coordinator) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			httpserve.Body(w, r, bodyLimit(r.URL.Path), &c.http)
		}
		next.ServeHTTP(w, r)
	})
}

// HTTPServer returns the API's HTTP server, with the timeouts of
// Config.HTTP, and ln wrapped to count the connections a deadline closes
// and, when tlsCfg is not nil, to serve TLS. Serve it with hs.Serve on
// the returned listener.
func (c *Coordinator) HTTPServer(ln net.Listener, tlsCfg *tls.Config) (*http.Server, net.Listener) {
	return httpserve.New(c.Handler(), c.log, c.cfg.HTTP), httpserve.Listen(ln, &c.http, tlsCfg)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.Error{Error: msg})
}

// decode reads a JSON body into v, answering 400 itself when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", mb.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad request body: %v", err))
		return false
	}
	return true
}
