package api

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Limits of what the API accepts.
const (
	// MaxAgentName is the longest agent name.
	MaxAgentName = 64
	// MaxCapacity is the most users one agent may declare: far above what
	// one host holds, low enough that capacities times users stay exact.
	MaxCapacity = 10_000_000
	// MaxUsers is the most users a run may have: uids are u32.
	MaxUsers = math.MaxUint32
	// MaxConnectRate bounds connect's logins a second over all agents.
	MaxConnectRate = 100_000_000
	// MaxServers bounds the servers of a run.
	MaxServers = 4096
	// MaxRelease bounds the rate and the total of a shake or send over all
	// servers; each server checks its own share against its own limits.
	MaxRelease = 1_000_000_000
)

// CheckAgentName says whether name can name an agent: 1 to MaxAgentName
// letters, digits, '.', '_' or '-', not starting with '.' or '-' (it is a
// path element of the agent's URLs and a directory name in ledgers).
func CheckAgentName(name string) error {
	if name == "" || len(name) > MaxAgentName {
		return fmt.Errorf("%q: want 1 to %d characters", name, MaxAgentName)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("%q: must not start with %q", name, name[0])
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("%q: %q not allowed (letters, digits, '.', '_' and '-' only)", name, r)
		}
	}
	return nil
}

// CheckHostPort says whether addr is a dialable HOST:PORT with a port in
// 1..65535.
func CheckHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q: no host", addr)
	}
	if strings.ContainsAny(host, " /\\@?#") {
		return fmt.Errorf("%q: not a host name or address", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port must be 1 to 65535", addr)
	}
	return nil
}

// CheckBaseURL says whether u is an http or https URL with a host and no
// query, fragment or user info: the base of an API.
func CheckBaseURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("%q: %w", u, err)
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", u)
	}
	if p.Host == "" || p.Hostname() == "" {
		return fmt.Errorf("%q: no host", u)
	}
	if p.User != nil || p.RawQuery != "" || p.Fragment != "" {
		return fmt.Errorf("%q: want only scheme, host, port and path", u)
	}
	if port := p.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port must be 1 to 65535", u)
		}
	}
	return nil
}

// CheckToken says whether t can be a bearer token: printable ASCII
// without spaces, at most 4096 bytes. Empty is allowed where a token is
// optional; callers that need one check that.
func CheckToken(t string) error {
	if len(t) > 4096 {
		return fmt.Errorf("longer than 4096 bytes")
	}
	for _, r := range t {
		if r <= ' ' || r > '~' {
			return fmt.Errorf("only printable ASCII without spaces")
		}
	}
	return nil
}
