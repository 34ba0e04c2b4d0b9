package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hbctl/hbctl/server/ledger"
)

// Errors callers test with errors.Is on an *Error.
var (
	// ErrUnauthorized: the token is missing or wrong (401); nothing changed.
	ErrUnauthorized = errors.New("admin API refused the token")
	// ErrBusy: a release of the same kind is still running (409); releases
	// are not queued.
	ErrBusy = errors.New("a release of this kind is already running")
)

// Error is an answer of the admin API with an error status.
type Error struct {
	Method, URL string
	Status      int    // HTTP status
	Message     string // ErrorBody.Error, or the body as text
	Field       string // ErrorBody.Field: the request field at fault
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.Status, e.Message)
}

// Unwrap gives ErrUnauthorized for 401 and ErrBusy for 409.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusConflict:
		return ErrBusy
	}
	return nil
}

// maxStats bounds a GET /v1/stats body.
const maxStats = 1 << 20

// Client calls one server's admin API.
type Client struct {
	url   string
	token string
	hc    *http.Client
}

// New returns a client of the admin API at url (http://host:port) with
// the bearer token; hc nil is http.DefaultClient (callers give one with a
// timeout).
func New(url, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{url: strings.TrimRight(url, "/"), token: token, hc: hc}
}

// URL is the API's base URL.
func (c *Client) URL() string { return c.url }

// Stats is GET /v1/stats.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := c.do(ctx, http.MethodGet, PathStats, nil, func(r io.Reader) error {
		// A stats answer is a few kilobytes; the bound keeps a wrong URL
		// from feeding the caller an endless body.
		return json.NewDecoder(io.LimitReader(r, maxStats)).Decode(&st)
	})
	return st, err
}

// Ledger is GET /v1/ledger: the server's journal.
func (c *Client) Ledger(ctx context.Context) ([]ledger.Record, error) {
	var recs []ledger.Record
	err := c.do(ctx, http.MethodGet, PathLedger, nil, func(r io.Reader) error {
		rp, err := ledger.Read(r)
		recs = rp.Records
		return err
	})
	return recs, err
}

// Users is GET /v1/users: the per-user counters of every user with any
// activity.
func (c *Client) Users(ctx context.Context) ([]ledger.ServerUser, error) {
	var users []ledger.ServerUser
	err := c.do(ctx, http.MethodGet, PathUsers, nil, func(r io.Reader) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			if len(sc.Bytes()) == 0 {
				continue
			}
			var u ledger.ServerUser
			if err := json.Unmarshal(sc.Bytes(), &u); err != nil {
				return fmt.Errorf("users line: %w", err)
			}
			users = append(users, u)
		}
		return sc.Err()
	})
	return users, err
}

// Shake is POST /v1/shake: it starts a release of shake envelopes.
func (c *Client) Shake(ctx context.Context, req ShakeRequest) error {
	return c.do(ctx, http.MethodPost, PathShake, req, nil)
}

// Send is POST /v1/send: it starts a release of sent envelopes.
func (c *Client) Send(ctx context.Context, req SendRequest) error {
	return c.do(ctx, http.MethodPost, PathSend, req, nil)
}

// do makes one call, with body (JSON) when not nil, and hands a 2xx
// answer's body to read when not nil. Errors name the call.
func (c *Client) do(ctx context.Context, method, path string, body any, read func(io.Reader) error) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s%s: encode: %w", method, c.url, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s%s: %w", method, c.url, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s%s: %w", method, c.url, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		e := &Error{Method: method, URL: c.url + path, Status: res.StatusCode, Message: strings.TrimSpace(string(msg))}
		var eb ErrorBody
		if json.Unmarshal(msg, &eb) == nil && eb.Error != "" {
			e.Message, e.Field = eb.Error, eb.Field
		}
		return e
	}
	if read == nil {
		io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return nil
	}
	if err := read(res.Body); err != nil {
		return fmt.Errorf("%s %s%s: %w", method, c.url, path, err)
	}
	return nil
}
