package remote

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

// ErrUnauthorized is returned when the coordinator refuses the token: the
// agent stops instead of retrying forever.
var ErrUnauthorized = errors.New("coordinator refused the token")

// errUnknown: the coordinator does not know this agent (it restarted):
// register again.
var errUnknown = errors.New("coordinator does not know this agent")

// call does one JSON request with its own timeout. It returns the HTTP
// status; 204 leaves out untouched.
func (a *Agent) call(ctx context.Context, timeout time.Duration, method, path string, in, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.cfg.Coordinator, "/")+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.cfg.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return res.StatusCode, err
	}
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		return res.StatusCode, ErrUnauthorized
	case res.StatusCode == http.StatusNotFound:
		return res.StatusCode, errUnknown
	case res.StatusCode == http.StatusNoContent:
		return res.StatusCode, nil
	case res.StatusCode/100 != 2:
		var e api.Error
		_ = json.Unmarshal(b, &e)
		return res.StatusCode, fmt.Errorf("coordinator: %s: %s", res.Status, e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("decode coordinator answer: %w", err)
		}
	}
	return res.StatusCode, nil
}
