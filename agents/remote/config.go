package remote

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hbctl/hbctl/agents"
)

// Defaults of Config.
const (
	DefaultBackoffMin = 250 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// DefaultBacklog is how many windows are kept for the coordinator while
	// it cannot be reached; older ones are dropped and counted.
	DefaultBacklog = 600
)

// Config configures an Agent.
type Config struct {
	Coordinator string // base URL, e.g. http://127.0.0.1:7070
	Token       string
	Name        string
	Capacity    int
	// Engine is the template of the engine's configuration: Name, Bind and
	// DataDir must be set; Servers, ConnectRate and Now are filled in from
	// the assignment and the clock.
	Engine agents.Config
	// ClockSkew shifts the local clock (a test hook: the time service must
	// measure it away).
	ClockSkew time.Duration

	BackoffMin, BackoffMax time.Duration
	Backlog                int
	HTTP                   *http.Client // nil: a client with sane timeouts per call
	Logger                 *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Coordinator == "" || c.Name == "" {
		return errors.New("remote: coordinator URL and name required")
	}
	if c.Capacity <= 0 {
		return errors.New("remote: capacity must be positive")
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.Backlog <= 0 {
		c.Backlog = DefaultBacklog
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Engine.Name = c.Name
	return nil
}
