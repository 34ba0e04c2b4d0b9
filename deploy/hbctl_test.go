package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// hbctlBin is the hbctl binary the flag checks ask for --help: $HBCTL_BIN
// (the Makefile exports it), or one built from ../cli/hbctl by TestMain.
var hbctlBin string

func TestMain(m *testing.M) {
	code, err := testMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(code)
}

func testMain(m *testing.M) (int, error) {
	if bin := os.Getenv("HBCTL_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return 0, err
		}
		if _, err := os.Stat(abs); err != nil {
			return 0, fmt.Errorf("HBCTL_BIN: %w (run make build)", err)
		}
		hbctlBin = abs
		return m.Run(), nil
	}
	dir, err := os.MkdirTemp("", "hbctl-deploy-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	hbctlBin = filepath.Join(dir, "hbctl")
	build := exec.Command("go", "build", "-o", hbctlBin, "./cli/hbctl")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build hbctl: %w\n%s", err, out)
	}
	return m.Run(), nil
}

// flagSpec is one flag as `hbctl ... --help` lists it.
type flagSpec struct {
	takesValue bool
	env        []string // HBCTL_* variables that set it
}

// commandHelp is what `hbctl PATH... --help` says about one command.
type commandHelp struct {
	subcommands map[string]bool
	flags       map[string]flagSpec // by name without dashes, aliases included
	env         map[string]bool     // every variable any of its flags reads
}

var (
	helpMu    sync.Mutex
	helpCache = map[string]*commandHelp{}
)

var envRE = regexp.MustCompile(`\[(\$[A-Z0-9_]+(?:, \$[A-Z0-9_]+)*)\]\s*$`)

// helpFor runs `hbctl path... --help` once and parses its COMMANDS and
// OPTIONS sections (urfave/cli's layout).
func helpFor(path []string) (*commandHelp, error) {
	key := strings.Join(path, " ")
	helpMu.Lock()
	defer helpMu.Unlock()
	if h, ok := helpCache[key]; ok {
		return h, nil
	}
	cmd := exec.Command(hbctlBin, append(append([]string{}, path...), "--help")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("hbctl %s --help: %w: %s", key, err, stderr.String())
	}
	h := &commandHelp{subcommands: map[string]bool{}, flags: map[string]flagSpec{}, env: map[string]bool{}}
	section := ""
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && line[0] != ' ' {
			section = strings.TrimSuffix(strings.TrimSpace(line), ":")
			continue
		}
		text := strings.TrimSpace(line)
		if text == "" {
			continue
		}
		// The left column ends at the first run of two spaces.
		left, _, _ := strings.Cut(text, "  ")
		switch section {
		case "COMMANDS":
			for _, name := range strings.Split(left, ", ") {
				h.subcommands[name] = true
			}
		case "OPTIONS", "GLOBAL OPTIONS":
			if !strings.HasPrefix(left, "-") {
				continue // a wrapped description line
			}
			var spec flagSpec
			if m := envRE.FindStringSubmatch(text); m != nil {
				for _, v := range strings.Split(m[1], ", ") {
					spec.env = append(spec.env, strings.TrimPrefix(v, "$"))
					h.env[strings.TrimPrefix(v, "$")] = true
				}
			}
			// "--out FILE, -o FILE" takes a value; "--watch, -w" does not.
			aliases := strings.Split(left, ", ")
			spec.takesValue = strings.Contains(aliases[0], " ")
			for _, a := range aliases {
				name, _, _ := strings.Cut(a, " ")
				h.flags[strings.TrimLeft(name, "-")] = spec
			}
		}
	}
	if len(h.flags) == 0 && len(h.subcommands) == 0 {
		return nil, fmt.Errorf("hbctl %s --help: no COMMANDS or OPTIONS in:\n%s", key, out)
	}
	helpCache[key] = h
	return h, nil
}

// invocation is one run of hbctl: its arguments after the program name.
type invocation struct {
	where string // for messages: "deployment/hbctl-coordinator container coordinator"
	args  []string
}

// checked is what checkInvocation learned: the command path, the flags
// given with their values, the positional arguments, and the variables its
// flags read.
type checked struct {
	path  []string
	rest  []string // the arguments after the command path
	flags map[string]string
	pos   []string
	env   map[string]bool
}

// dynamic stands for a word whose value is only known at run time ($VAR).
const dynamic = "\x00dynamic"

// checkInvocation checks that args name an hbctl command and that every
// flag is one its --help lists, with a value where it takes one.
func checkInvocation(inv invocation) (*checked, error) {
	c := &checked{flags: map[string]string{}, env: map[string]bool{}}
	args := inv.args
	h, err := helpFor(nil)
	if err != nil {
		return nil, err
	}
	for len(args) > 0 && len(h.subcommands) > 0 && !strings.HasPrefix(args[0], "-") {
		if !h.subcommands[args[0]] {
			return nil, fmt.Errorf("%s: hbctl %s: no such command (%s --help)",
				inv.where, strings.Join(append(c.path, args[0]), " "), strings.Join(append([]string{"hbctl"}, c.path...), " "))
		}
		c.path = append(c.path, args[0])
		args = args[1:]
		if h, err = helpFor(c.path); err != nil {
			return nil, err
		}
	}
	if len(c.path) == 0 {
		return nil, fmt.Errorf("%s: hbctl without a command: %q", inv.where, inv.args)
	}
	if len(h.subcommands) > 0 {
		return nil, fmt.Errorf("%s: hbctl %s needs a subcommand", inv.where, strings.Join(c.path, " "))
	}
	c.rest = args
	for k := range h.env {
		c.env[k] = true
	}
	var problems []error
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			c.pos = append(c.pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			c.pos = append(c.pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		spec, ok := h.flags[name]
		if !ok {
			problems = append(problems, fmt.Errorf("%s: hbctl %s has no flag --%s (hbctl %[2]s --help)",
				inv.where, strings.Join(c.path, " "), name))
			continue
		}
		if spec.takesValue && !hasValue {
			if i+1 >= len(args) {
				problems = append(problems, fmt.Errorf("%s: hbctl %s: --%s needs a value",
					inv.where, strings.Join(c.path, " "), name))
				continue
			}
			i++
			value = args[i]
		}
		c.flags[name] = value
	}
	return c, errors.Join(problems...)
}

// hbctlProgram reports whether word runs hbctl: "hbctl" or a path to it.
func hbctlProgram(word string) bool {
	return filepath.Base(word) == "hbctl"
}

// shellInvocations finds every hbctl command in a shell script, with its
// words as the shell would pass them (quotes removed; a word with an
// expansion in it is dynamic unless it starts with a literal flag name).
func shellInvocations(where, script string) ([]invocation, error) {
	f, err := syntax.NewParser().Parse(strings.NewReader(script), where)
	if err != nil {
		return nil, fmt.Errorf("%s: parse shell script: %w", where, err)
	}
	var invs []invocation
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 || !hbctlProgram(wordValue(call.Args[0])) {
			return true
		}
		var args []string
		for _, w := range call.Args[1:] {
			args = append(args, wordValue(w))
		}
		invs = append(invs, invocation{where: where, args: args})
		return true
	})
	return invs, nil
}

// wordValue is a shell word's value: its literal and quoted parts joined; a
// part that expands at run time adds dynamic.
func wordValue(w *syntax.Word) string {
	var b strings.Builder
	var add func(parts []syntax.WordPart)
	add = func(parts []syntax.WordPart) {
		for _, p := range parts {
			switch p := p.(type) {
			case *syntax.Lit:
				b.WriteString(p.Value)
			case *syntax.SglQuoted:
				b.WriteString(p.Value)
			case *syntax.DblQuoted:
				add(p.Parts)
			default:
				b.WriteString(dynamic)
			}
		}
	}
	add(w.Parts)
	return b.String()
}
