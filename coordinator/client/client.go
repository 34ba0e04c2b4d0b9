// Package client calls the coordinator's HTTP API: the control calls of
// hbctl's commands (connect, qps, shake, send, status, disconnect, verify)
// and, through Call, the agents' own (register, heartbeat, assignment,
// ledger upload, made by agents/remote). It imports only coordinator/api.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

// DefaultURL is where control commands look for the coordinator.
const DefaultURL = "http://127.0.0.1:7070"

// Errors an *APIError unwraps to, for errors.Is.
var (
	// ErrUnauthorized: the coordinator refuses the token (401).
	ErrUnauthorized = errors.New("coordinator refused the token")
	// ErrNotFound: the coordinator does not know what was named (404), such
	// as an agent it forgot by restarting.
	ErrNotFound = errors.New("coordinator does not know it")
)

// APIError is a non-2xx answer of the coordinator.
type APIError struct {
	Status    int
	Message   string
	Shortfall int // connect: users beyond the agents' capacity
}

func (e *APIError) Error() string {
	return fmt.Sprintf("coordinator: %s (HTTP %d)", e.Message, e.Status)
}

// Unwrap lets callers test errors.Is(err, ErrUnauthorized) and
// errors.Is(err, ErrNotFound).
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

// Client is a coordinator's control API.
type Client struct {
	URL   string
	Token string
	HTTP  *http.Client
}

// New returns a client of the coordinator at url with token.
func New(url, token string) *Client {
	return &Client{URL: strings.TrimRight(url, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Do sends in (nil for none) as JSON and decodes the answer into out (nil
// to discard). A non-2xx answer is an *APIError.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	_, err := c.Call(ctx, method, path, in, out)
	return err
}

// Call is Do that also returns the HTTP status (0 when there was no
// answer), for the calls where a 2xx status says something: 204 leaves out
// untouched.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return 0, fmt.Errorf("coordinator request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the coordinator at %s: %w", c.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return res.StatusCode, fmt.Errorf("read coordinator answer: %w", err)
	}
	if res.StatusCode/100 != 2 {
		var e api.Error
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		if res.StatusCode == http.StatusUnauthorized {
			e.Error += ": check --token / HBCTL_TOKEN (the coordinator prints it at start and keeps it in <data-dir>/token)"
		}
		return res.StatusCode, &APIError{Status: res.StatusCode, Message: e.Error, Shortfall: e.Shortfall}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("decode coordinator answer: %w", err)
		}
	}
	return res.StatusCode, nil
}

// Connect asks the agents to hold users.
func (c *Client) Connect(ctx context.Context, r api.ConnectRequest) (api.ConnectResponse, error) {
	var out api.ConnectResponse
	return out, c.Do(ctx, http.MethodPost, api.PathConnect, r, &out)
}

// SetQPS schedules a rate change.
func (c *Client) SetQPS(ctx context.Context, r api.QPSRequest) (api.QPSResponse, error) {
	var out api.QPSResponse
	return out, c.Do(ctx, http.MethodPost, api.PathQPS, r, &out)
}

// QPS returns the current and scheduled rates.
func (c *Client) QPS(ctx context.Context) (api.QPSResponse, error) {
	var out api.QPSResponse
	return out, c.Do(ctx, http.MethodGet, api.PathQPS, nil, &out)
}

// Shake forwards a shake release to the servers.
func (c *Client) Shake(ctx context.Context, r api.ShakeRequest) (api.ForwardResponse, error) {
	var out api.ForwardResponse
	return out, c.Do(ctx, http.MethodPost, api.PathShake, r, &out)
}

// Send forwards a send release to the servers.
func (c *Client) Send(ctx context.Context, r api.SendRequest) (api.ForwardResponse, error) {
	var out api.ForwardResponse
	return out, c.Do(ctx, http.MethodPost, api.PathSend, r, &out)
}

// Status returns the run's status.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var out api.Status
	return out, c.Do(ctx, http.MethodGet, api.PathStatus, nil, &out)
}

// Disconnect closes every user connection and ends the plan.
func (c *Client) Disconnect(ctx context.Context) (api.DisconnectResponse, error) {
	var out api.DisconnectResponse
	return out, c.Do(ctx, http.MethodPost, api.PathDisconnect, nil, &out)
}
