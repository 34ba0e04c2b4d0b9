package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/schedule"
)

// DefaultConnectTimeout bounds `wait_until: connected` when the scenario
// sets no connect_timeout.
const DefaultConnectTimeout = 5 * time.Minute

// ErrInvalid wraps every error about the scenario file itself, so callers
// can tell a bad file (exit 2) from a failed run.
var ErrInvalid = errors.New("invalid scenario")

// Scenario is a parsed, validated scenario file.
type Scenario struct {
	Name        string
	Description string
	Targets     Targets
	// Users are uids 0..Users-1, connected before the first step.
	Users int
	// ConnectRate is logins per second over all agents (0: the agents'
	// default).
	ConnectRate    int
	ConnectTimeout time.Duration
	Steps          []Step
	Thresholds     []Threshold
}

// Targets are the servers under test.
type Targets struct {
	Servers []string `yaml:"servers"`
	// Admins are the servers' admin API URLs, in Servers order; shake and
	// send need them.
	Admins []string `yaml:"admins"`
	// AdminToken is one token for every admin API, or empty.
	AdminToken string `yaml:"admin_token"`
	// AdminTokenFile is read when AdminToken is empty (a local server's
	// DATA-DIR/admin-token).
	AdminTokenFile string `yaml:"admin_token_file"`
	// AdminTokens and AdminTokenFiles come from the command line and take
	// the place of the two above: one for every admin API, or one per
	// admin API in Admins order (servers that each have their own token).
	AdminTokens     []string `yaml:"-"`
	AdminTokenFiles []string `yaml:"-"`
}

// Step is one action of the scenario; exactly one of its action fields is
// set.
type Step struct {
	Line int // in the scenario file, for messages

	QPS        *int64        // qps: N
	Shake      *Release      // shake: {rate, total}
	Send       *Release      // send: {rate, total, recipients}
	Wait       time.Duration // wait: 30s
	WaitUntil  Condition     // wait_until: shake_released
	Timeout    time.Duration // bounds wait_until (0: a default per condition)
	Verify     string        // verify: ledger
	Disconnect bool          // disconnect: true
}

// Release is the body of a shake or send step.
type Release struct {
	Rate       int `yaml:"rate"`
	Total      int `yaml:"total"`
	Recipients int `yaml:"recipients"`
	MinAmount  int `yaml:"min_amount"`
	MaxAmount  int `yaml:"max_amount"`
}

// Condition is what a wait_until step waits for.
type Condition string

// Conditions of wait_until.
const (
	Connected     Condition = "connected"      // every user logged in
	ShakeReleased Condition = "shake_released" // the last shake release finished on every server
	SendReleased  Condition = "send_released"  // the last send release finished on every server
)

// String names the step as the progress line and messages show it.
func (s Step) String() string {
	switch {
	case s.QPS != nil:
		return fmt.Sprintf("qps %d", *s.QPS)
	case s.Shake != nil:
		return fmt.Sprintf("shake %d/s total %d", s.Shake.Rate, s.Shake.Total)
	case s.Send != nil:
		return fmt.Sprintf("send %d/s total %d to %d", s.Send.Rate, s.Send.Total, s.Send.Recipients)
	case s.Wait > 0:
		return "wait " + s.Wait.String()
	case s.WaitUntil != "":
		return "wait_until " + string(s.WaitUntil)
	case s.Verify != "":
		return "verify " + s.Verify
	case s.Disconnect:
		return "disconnect"
	}
	return "?"
}

// The file's shape. Decoded with unknown keys refused.
type fileDoc struct {
	Name           string      `yaml:"name"`
	Description    string      `yaml:"description"`
	Targets        Targets     `yaml:"targets"`
	Users          int         `yaml:"users"`
	ConnectRate    int         `yaml:"connect_rate"`
	ConnectTimeout *duration   `yaml:"connect_timeout"`
	Steps          []fileStep  `yaml:"steps"`
	Thresholds     []yaml.Node `yaml:"thresholds"`
}

type fileStep struct {
	QPS        *int64    `yaml:"qps"`
	Shake      *Release  `yaml:"shake"`
	Send       *Release  `yaml:"send"`
	Wait       *duration `yaml:"wait"`
	WaitUntil  string    `yaml:"wait_until"`
	Timeout    *duration `yaml:"timeout"`
	Verify     string    `yaml:"verify"`
	Disconnect bool      `yaml:"disconnect"`
}

// duration is a Go duration string in YAML ("30s", "2m").
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 2m", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

// Load reads and parses a scenario file.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return Parse(path, b)
}

// Parse parses a scenario; name is used in messages. Unknown keys are
// errors that name their line.
func Parse(name string, b []byte) (*Scenario, error) {
	sc, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalid, name, err)
	}
	return sc, nil
}

var typeSuffix = regexp.MustCompile(` (not found )?in type \S+`)

func parse(b []byte) (*Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, cleanYAML(err)
	}
	if len(root.Content) == 0 {
		return nil, errors.New("empty file")
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f fileDoc
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, cleanYAML(err)
	}
	sc := &Scenario{
		Name: f.Name, Description: f.Description, Targets: f.Targets,
		Users: f.Users, ConnectRate: f.ConnectRate, ConnectTimeout: DefaultConnectTimeout,
	}
	if f.ConnectTimeout != nil {
		sc.ConnectTimeout = time.Duration(*f.ConnectTimeout)
	}
	lines := stepLines(&root)
	for i, fs := range f.Steps {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		st, err := fs.step(line)
		if err != nil {
			return nil, err
		}
		sc.Steps = append(sc.Steps, st)
	}
	for i := range f.Thresholds {
		th, err := parseThresholdNode(&f.Thresholds[i])
		if err != nil {
			return nil, err
		}
		sc.Thresholds = append(sc.Thresholds, th)
	}
	if sc.Users < 0 || sc.ConnectRate < 0 {
		return nil, errors.New("users and connect_rate must not be negative")
	}
	if sc.Users > api.MaxUsers {
		return nil, fmt.Errorf("users: %d is more than %d", sc.Users, api.MaxUsers)
	}
	if sc.ConnectRate > api.MaxConnectRate {
		return nil, fmt.Errorf("connect_rate: %d is more than %d", sc.ConnectRate, api.MaxConnectRate)
	}
	return sc, nil
}

// cleanYAML turns yaml.v3's messages into ones that speak of keys, not Go
// types.
func cleanYAML(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			m = strings.Replace(m, "field ", "unknown key ", 1)
			msgs[i] = typeSuffix.ReplaceAllString(m, "")
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// stepLines is the line of each item of the top-level steps list.
func stepLines(root *yaml.Node) []int {
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == "steps" {
			var lines []int
			for _, it := range doc.Content[i+1].Content {
				lines = append(lines, it.Line)
			}
			return lines
		}
	}
	return nil
}

func (fs fileStep) step(line int) (Step, error) {
	st := Step{Line: line, QPS: fs.QPS, Shake: fs.Shake, Send: fs.Send, Verify: fs.Verify, Disconnect: fs.Disconnect}
	n := 0
	for _, set := range []bool{fs.QPS != nil, fs.Shake != nil, fs.Send != nil, fs.Wait != nil, fs.WaitUntil != "", fs.Verify != "", fs.Disconnect} {
		if set {
			n++
		}
	}
	if n != 1 {
		return st, fmt.Errorf("line %d: a step holds exactly one of qps, shake, send, wait, wait_until, verify, disconnect (found %d)", line, n)
	}
	if fs.Wait != nil {
		st.Wait = time.Duration(*fs.Wait)
		if st.Wait <= 0 {
			return st, fmt.Errorf("line %d: wait must be positive", line)
		}
	}
	if fs.Timeout != nil {
		if fs.WaitUntil == "" {
			return st, fmt.Errorf("line %d: timeout only bounds a wait_until step", line)
		}
		st.Timeout = time.Duration(*fs.Timeout)
	}
	switch {
	case fs.QPS != nil && schedule.CheckRate(*fs.QPS) != nil:
		return st, fmt.Errorf("line %d: qps %d: want 0 to %d", line, *fs.QPS, schedule.MaxRate)
	case fs.Shake != nil:
		if fs.Shake.Rate <= 0 || fs.Shake.Total <= 0 || fs.Shake.Recipients != 0 || fs.Shake.Rate > api.MaxRelease || fs.Shake.Total > api.MaxRelease {
			return st, fmt.Errorf("line %d: shake needs a positive rate and total (and no recipients)", line)
		}
	case fs.Send != nil:
		if fs.Send.Rate <= 0 || fs.Send.Total <= 0 || fs.Send.Recipients < 0 || fs.Send.Recipients > 3 || fs.Send.Rate > api.MaxRelease || fs.Send.Total > api.MaxRelease {
			return st, fmt.Errorf("line %d: send needs a positive rate and total and 0..3 recipients", line)
		}
	case fs.WaitUntil != "":
		st.WaitUntil = Condition(fs.WaitUntil)
		switch st.WaitUntil {
		case Connected, ShakeReleased, SendReleased:
		default:
			return st, fmt.Errorf("line %d: wait_until %q: want connected, shake_released or send_released", line, fs.WaitUntil)
		}
	case fs.Verify != "" && fs.Verify != "ledger":
		return st, fmt.Errorf("line %d: verify %q: only verify: ledger is known", line, fs.Verify)
	}
	return st, nil
}

// Overrides replace parts of a scenario from the command line, so one file
// runs on the lab and locally.
type Overrides struct {
	Servers []string
	Admins  []string
	// AdminTokens and AdminTokenFiles: one for every admin, or one per
	// admin in Admins order. Tokens win over files.
	AdminTokens     []string
	AdminTokenFiles []string
	Users           int
	// QPS, when positive, scales every qps step so that the first
	// non-zero one becomes QPS and the others keep their ratio to it.
	QPS int64
}

// Apply applies o to sc.
func (sc *Scenario) Apply(o Overrides) {
	if len(o.Servers) > 0 {
		sc.Targets.Servers = o.Servers
		// Admins belong to the servers they were given with.
		sc.Targets.Admins = nil
	}
	if len(o.Admins) > 0 {
		sc.Targets.Admins = o.Admins
	}
	switch {
	case len(o.AdminTokens) > 0:
		sc.Targets.AdminToken, sc.Targets.AdminTokenFile = "", ""
		sc.Targets.AdminTokens, sc.Targets.AdminTokenFiles = o.AdminTokens, nil
	case len(o.AdminTokenFiles) > 0:
		sc.Targets.AdminToken, sc.Targets.AdminTokenFile = "", ""
		sc.Targets.AdminTokens, sc.Targets.AdminTokenFiles = nil, o.AdminTokenFiles
	}
	if o.Users > 0 {
		sc.Users = o.Users
	}
	if o.QPS > 0 {
		var first int64
		for _, st := range sc.Steps {
			if st.QPS != nil && *st.QPS > 0 {
				first = *st.QPS
				break
			}
		}
		for i, st := range sc.Steps {
			if st.QPS != nil && first > 0 {
				q := (*st.QPS*o.QPS + first/2) / first
				sc.Steps[i].QPS = &q
			}
		}
	}
}

// Check says whether the scenario can run: targets and users set, the
// admin token readable when shake or send need it.
func (sc *Scenario) Check() error {
	if len(sc.Targets.Servers) == 0 {
		return fmt.Errorf("%w: no target servers (targets.servers or --server)", ErrInvalid)
	}
	if sc.Users <= 0 {
		return fmt.Errorf("%w: users must be positive (users or --users)", ErrInvalid)
	}
	if len(sc.Targets.Admins) > 0 && len(sc.Targets.Admins) != len(sc.Targets.Servers) {
		return fmt.Errorf("%w: %d admins for %d servers: give one admin URL per server, in order", ErrInvalid, len(sc.Targets.Admins), len(sc.Targets.Servers))
	}
	for _, st := range sc.Steps {
		if (st.Shake != nil || st.Send != nil) && len(sc.Targets.Admins) == 0 {
			return fmt.Errorf("%w: line %d: %s needs the servers' admin URLs (targets.admins or --admin)", ErrInvalid, st.Line, st)
		}
	}
	for what, n := range map[string]int{"admin tokens": len(sc.Targets.AdminTokens), "admin token files": len(sc.Targets.AdminTokenFiles)} {
		if n > 1 && n != len(sc.Targets.Admins) {
			return fmt.Errorf("%w: %d %s for %d admins: give one for all or one per admin, in order", ErrInvalid, n, what, len(sc.Targets.Admins))
		}
	}
	_, err := sc.AdminList()
	return err
}

// AdminList is the admin APIs with their token resolved.
func (sc *Scenario) AdminList() ([]api.Admin, error) {
	t := sc.Targets
	toks := t.AdminTokens
	if len(toks) == 0 {
		files := t.AdminTokenFiles
		if len(files) == 0 && t.AdminToken == "" && t.AdminTokenFile != "" {
			files = []string{t.AdminTokenFile}
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%w: admin token: %w", ErrInvalid, err)
			}
			toks = append(toks, strings.TrimSpace(string(b)))
		}
	}
	if len(toks) == 0 && t.AdminToken != "" {
		toks = []string{t.AdminToken}
	}
	if n := len(t.Admins); n > 0 && n != len(t.Servers) {
		return nil, fmt.Errorf("%w: targets.admins: %d for %d servers: give one per server, in order (none for a server without admin API)", ErrInvalid, n, len(t.Servers))
	}
	if n := len(toks); n > 1 && n != len(t.Admins) {
		return nil, fmt.Errorf("%w: %d admin tokens for %d admins: give one token for all or one per admin, in order", ErrInvalid, n, len(t.Admins))
	}
	var out []api.Admin
	for i, u := range t.Admins {
		if u == "none" {
			out = append(out, api.Admin{}) // a server without admin API
			continue
		}
		a := api.Admin{URL: u}
		if len(toks) > 0 {
			a.Token = toks[min(i, len(toks)-1)]
		}
		out = append(out, a)
	}
	return out, nil
}
