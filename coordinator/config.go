package coordinator

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/hbctl/hbctl/internal/httpserve"
)

// Defaults of Config.
const (
	DefaultHeartbeat   = time.Second
	DefaultDeadAfter   = 3 * time.Second
	DefaultPollTimeout = 15 * time.Second
	// DefaultReplanLead is how far ahead of now a re-plan starts, at least:
	// agents must receive it before its first fire.
	DefaultReplanLead = 400 * time.Millisecond
	// DefaultPollGrace is how soon an agent whose long-poll connection
	// dropped must poll again or be declared dead.
	DefaultPollGrace = time.Second
	// DefaultSettle is how long after a second ends its windows are
	// awaited before it is final (agents close a window once their pacer
	// is past the next second and report once a second).
	DefaultSettle = 2500 * time.Millisecond
	// DefaultQPSDelay is the least lead of `qps set` without --at.
	DefaultQPSDelay = 2 * time.Second
	// SecondsKept is how many complete seconds status returns.
	SecondsKept = 120
	// EventsKept is how many events status returns.
	EventsKept = 50
)

// Config configures a Coordinator. Zero fields take the defaults above.
type Config struct {
	DataDir string // required: token, timeline.jsonl
	Token   string // required: bearer token of every /v1 call
	// TimePort is the UDP port of the time service, told to agents.
	TimePort int

	Heartbeat   time.Duration
	DeadAfter   time.Duration
	PollTimeout time.Duration
	PollGrace   time.Duration
	ReplanLead  time.Duration
	Settle      time.Duration

	// Sink receives every complete second and event besides the timeline
	// file (telemetry); nil for none.
	Sink Sink
	// AdminClient calls the servers' admin APIs; nil for a client with a
	// 10 s timeout.
	AdminClient *http.Client
	Now         func() time.Time
	Logger      *slog.Logger
	// HTTP are the API's HTTP timeouts (HTTPServer); httpserve's defaults
	// for zero fields.
	HTTP httpserve.Timeouts
}

// Sink is where complete seconds and events go besides the timeline file.
type Sink interface {
	Second(s TimelineSecond)
	Event(e TimelineEvent)
}

func (c *Config) setDefaults() {
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.DeadAfter <= 0 {
		c.DeadAfter = DefaultDeadAfter
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	if c.PollGrace <= 0 {
		c.PollGrace = DefaultPollGrace
	}
	if c.ReplanLead <= 0 {
		c.ReplanLead = DefaultReplanLead
	}
	if c.Settle <= 0 {
		c.Settle = DefaultSettle
	}
	if c.AdminClient == nil {
		c.AdminClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
