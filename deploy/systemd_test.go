package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// installedBin is where the units run hbctl from on a host.
const installedBin = "/usr/local/bin/hbctl"

// unitFile is a unit's [Service] settings (last value wins, as systemd
// reads single-valued settings; all kept for lists).
type unitFile struct {
	name    string
	service map[string][]string
}

func parseUnit(name string, b []byte) (*unitFile, error) {
	u := &unitFile{name: name, service: map[string][]string{}}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		case section == "Service":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("%s: %q is not KEY=VALUE", name, line)
			}
			u.service[strings.TrimSpace(k)] = append(u.service[strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

func (u *unitFile) last(key string) string {
	v := u.service[key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// units lists deploy/systemd's unit files.
func units(t *testing.T) []string {
	t.Helper()
	us, err := filepath.Glob(filepath.Join("systemd", "*.service"))
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 3 {
		t.Fatalf("units %v: want hbctl-coordinator, hbctl-agent@ and hbctl-server", us)
	}
	return us
}

// envFileVar matches a variable an environment file sets, or documents in a
// commented-out line.
var envFileVar = regexp.MustCompile(`^#?\s*([A-Za-z_][A-Za-z0-9_]*)=`)

// checkUnit checks one unit: ExecStart runs hbctl with flags its --help
// lists, the data dir is the StateDirectory, LimitNOFILE, Restart= and the
// environment files are set, and every HBCTL_* variable in the environment
// files shipped beside it (set or commented out) is read by a flag of the
// command.
func checkUnit(path string, b []byte) error {
	u, err := parseUnit(filepath.Base(path), b)
	if err != nil {
		return err
	}
	var problems []error
	fail := func(format string, a ...any) { problems = append(problems, fmt.Errorf(u.name+": "+format, a...)) }

	exec := u.service["ExecStart"]
	if len(exec) != 1 {
		return fmt.Errorf("%s: %d ExecStart lines, want 1", u.name, len(exec))
	}
	line := strings.TrimLeft(exec[0], "@-:+!")
	f, err := syntax.NewParser().Parse(strings.NewReader(line), u.name)
	if err != nil {
		return fmt.Errorf("%s: ExecStart: %w", u.name, err)
	}
	var argv []string
	syntax.Walk(f, func(n syntax.Node) bool {
		if call, ok := n.(*syntax.CallExpr); ok && argv == nil {
			for _, w := range call.Args {
				argv = append(argv, wordValue(w))
			}
		}
		return true
	})
	if len(argv) == 0 || argv[0] != installedBin {
		return fmt.Errorf("%s: ExecStart must run %s: %q", u.name, installedBin, exec[0])
	}
	ch, err := checkInvocation(invocation{u.name + " ExecStart", argv[1:]})
	if err != nil {
		return err
	}

	state := u.last("StateDirectory")
	if state == "" {
		fail("no StateDirectory=")
	} else if dir := ch.flags["data-dir"]; dir != "%S/"+state {
		fail("--data-dir %q is not the StateDirectory %%S/%s", dir, state)
	}
	if n, err := strconv.Atoi(u.last("LimitNOFILE")); err != nil || n < 65536 {
		fail("LimitNOFILE=%q: want a number of 65536 or more", u.last("LimitNOFILE"))
	}
	if r := u.last("Restart"); r != "on-failure" && r != "always" {
		fail("Restart=%q: want on-failure or always", r)
	}
	envFiles := u.service["EnvironmentFile"]
	if len(envFiles) == 0 {
		fail("no EnvironmentFile= for its token and settings")
	}
	for _, ef := range envFiles {
		optional := strings.HasPrefix(ef, "-")
		ef = strings.TrimPrefix(ef, "-")
		if !strings.HasPrefix(ef, "/etc/hbctl/") {
			fail("EnvironmentFile=%s: want it under /etc/hbctl/ (where tune-host.sh --install-units puts them)", ef)
			continue
		}
		shipped := filepath.Join(filepath.Dir(path), strings.TrimPrefix(ef, "/etc/hbctl/"))
		b, err := os.ReadFile(shipped)
		if errors.Is(err, os.ErrNotExist) && optional {
			continue
		}
		if err != nil {
			fail("EnvironmentFile=%s: nothing shipped as %s: %v", ef, shipped, err)
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			m := envFileVar.FindStringSubmatch(strings.TrimSpace(sc.Text()))
			if m == nil {
				continue
			}
			if !ch.env[m[1]] {
				fail("%s:%d: %s is read by no flag of hbctl %s", shipped, n, m[1], strings.Join(ch.path, " "))
			}
		}
	}
	return errors.Join(problems...)
}

// TestSystemdUnits checks every unit's ExecStart flags, data dir, limits and
// environment files.
func TestSystemdUnits(t *testing.T) {
	for _, p := range units(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkUnit(p, b); err != nil {
			t.Error(err)
		}
	}
}

// analyzeVerify runs systemd-analyze verify on a copy of the unit whose
// ExecStart runs the hbctl built here instead of /usr/local/bin/hbctl: verify
// checks that the program exists and is executable on this machine, and the
// units name where it is installed on the hosts, not here. Everything else
// is verified as shipped. systemd-analyze reports unknown keys and bad
// values as warnings with exit status 0, so any output is a failure.
func analyzeVerify(t *testing.T, name string, unit []byte) error {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return fmt.Errorf("systemd-analyze (systemd's package) is needed to verify the units: %w", err)
	}
	if !bytes.Contains(unit, []byte(installedBin)) {
		return fmt.Errorf("%s does not run %s", name, installedBin)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, bytes.ReplaceAll(unit, []byte(installedBin), []byte(hbctlBin)), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(analyze, "verify", p)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		return fmt.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
	}
	return nil
}

// TestSystemdAnalyzeVerify runs systemd-analyze verify on every unit.
func TestSystemdAnalyzeVerify(t *testing.T) {
	for _, p := range units(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := analyzeVerify(t, filepath.Base(p), b); err != nil {
			t.Error(err)
		}
	}
}

// TestSystemdChecksReject proves the unit checks can fail.
func TestSystemdChecksReject(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("systemd", "hbctl-agent@.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, from, to string }{
		{"misspelt hbctl flag", "--name %i", "--nmae %i"},
		{"data dir off the StateDirectory", "--data-dir %S/hbctl/agent-%i", "--data-dir /tmp/agent-%i"},
		{"no LimitNOFILE", "LimitNOFILE=1048576", ""},
		{"no restart", "Restart=on-failure", "Restart=no"},
	} {
		bad := bytes.Replace(orig, []byte(c.from), []byte(c.to), 1)
		if bytes.Equal(bad, orig) {
			t.Fatalf("%s: %q not in the unit", c.name, c.from)
		}
		if err := checkUnit(filepath.Join("systemd", "hbctl-agent@.service"), bad); err == nil {
			t.Errorf("%s: no error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	// A variable in an environment file that no flag reads.
	dir := t.TempDir()
	unit := filepath.Join(dir, "hbctl-agent@.service")
	if err := os.WriteFile(filepath.Join(dir, "agent.env"), []byte("HBCTL_COORDINATOR=http://x:7070\n#HBCTL_CAPACTY=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkUnit(unit, orig); err == nil {
		t.Error("misspelt variable in agent.env: no error")
	} else {
		t.Logf("misspelt variable: %v", err)
	}
	// systemd-analyze itself: a misspelt key and a bad value.
	for _, c := range []struct{ name, from, to string }{
		{"unknown key", "LimitNOFILE=", "LimitNOFLE="},
		{"bad value", "Restart=on-failure", "Restart=sometimes"},
	} {
		bad := bytes.Replace(orig, []byte(c.from), []byte(c.to), 1)
		if err := analyzeVerify(t, "hbctl-agent@.service", bad); err == nil {
			t.Errorf("systemd-analyze verify, %s: no error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// TestTuneHostInstallsUnits checks that scripts/tune-host.sh --install-units
// installs every unit and environment file shipped here (dry run: it only
// says what it would do).
func TestTuneHostInstallsUnits(t *testing.T) {
	out, err := exec.Command("bash", filepath.Join("..", "scripts", "tune-host.sh"), "--dry-run", "--install-units").CombinedOutput()
	if err != nil {
		t.Fatalf("tune-host.sh --dry-run --install-units: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join("systemd", "*"))
	for _, f := range files {
		var want string
		switch filepath.Ext(f) {
		case ".service":
			want = "install /etc/systemd/system/" + filepath.Base(f)
		case ".env":
			want = "/etc/hbctl/" + filepath.Base(f)
		default:
			continue
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("tune-host.sh --install-units does not say %q:\n%s", want, out)
		}
	}
}
