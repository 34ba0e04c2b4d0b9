package httpserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Timeouts of the servers New makes. A request's headers must arrive
// within ReadHeaderTimeout and the whole request within ReadTimeout; its
// answer must be written within WriteTimeout of the headers; a kept-alive
// connection is closed after IdleTimeout without a request. Handlers of
// long answers (a long poll, a ledger) or big uploads extend their own
// deadlines with Extend, after the token is checked.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 30 * time.Second
)

// Counters count what the limits did.
type Counters struct {
	deadline atomic.Int64
	tooLarge atomic.Int64
}

// Stats is a snapshot of Counters, for the servers' stats endpoints.
type Stats struct {
	// ClosedByDeadline counts connections closed because a read or write
	// deadline passed: a slow header or body, a slow reader of an answer,
	// an idle keep-alive.
	ClosedByDeadline int64 `json:"closed_by_deadline"`
	// TooLarge counts request bodies refused for their size.
	TooLarge int64 `json:"too_large"`
}

// Stats returns the counts so far.
func (c *Counters) Stats() Stats {
	return Stats{ClosedByDeadline: c.deadline.Load(), TooLarge: c.tooLarge.Load()}
}

// TooLarge reports whether err is a body over its http.MaxBytesReader
// limit, and counts it when it is.
func (c *Counters) TooLarge(err error) bool {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		c.tooLarge.Add(1)
		return true
	}
	return false
}

// Timeouts are a server's timeouts; zero fields take the defaults above.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// New returns an http.Server for h with timeouts t (the defaults above
// for zero fields), whose own error log (TLS handshake failures and the
// like) goes to log at debug level. Serve it on Listener(ln, c) so that c
// counts deadline closes.
func New(h http.Handler, log *slog.Logger, t Timeouts) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	or := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: or(t.ReadHeader, ReadHeaderTimeout),
		ReadTimeout:       or(t.Read, ReadTimeout),
		WriteTimeout:      or(t.Write, WriteTimeout),
		IdleTimeout:       or(t.Idle, IdleTimeout),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// Body wraps r's body in an http.MaxBytesReader of limit bytes whose
// refusal c counts.
func Body(w http.ResponseWriter, r *http.Request, limit int64, c *Counters) {
	r.Body = &countedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), c: c}
}

type countedBody struct {
	io.ReadCloser
	c       *Counters
	counted bool
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.counted {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			b.counted = true
			b.c.tooLarge.Add(1)
		}
	}
	return n, err
}

// Extend gives the request being served d more to be read and answered
// from now, for long polls, long answers and big uploads.
func Extend(w http.ResponseWriter, d time.Duration) {
	rc := http.NewResponseController(w)
	t := time.Now().Add(d)
	rc.SetReadDeadline(t)
	rc.SetWriteDeadline(t)
}

// Listener wraps ln so that c counts the connections a deadline closes.
func Listener(ln net.Listener, c *Counters) net.Listener {
	return &listener{Listener: ln, c: c}
}

type listener struct {
	net.Listener
	c *Counters
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: nc, c: l.c}, nil
}

// conn counts its first deadline error. net/http aborts a background read
// by setting a deadline in the distant past; that is not a deadline
// passing and is not counted.
type conn struct {
	net.Conn
	c       *Counters
	rd      atomic.Int64 // the read deadline set last, Unix ns; 0 none
	counted atomic.Bool
}

// abortBefore: a deadline before it is net/http's "abort the read now".
var abortBefore = time.Unix(1000, 0).UnixNano()

func (c *conn) SetReadDeadline(t time.Time) error {
	c.rd.Store(unixNano(t))
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) SetDeadline(t time.Time) error {
	c.rd.Store(unixNano(t))
	return c.Conn.SetDeadline(t)
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && isTimeout(err) {
		if rd := c.rd.Load(); rd == 0 || rd > abortBefore {
			c.count()
		}
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil && isTimeout(err) {
		c.count()
	}
	return n, err
}

func (c *conn) count() {
	if !c.counted.Swap(true) {
		c.c.deadline.Add(1)
	}
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
