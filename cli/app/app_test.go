package app

import (
	"bytes"
	"strings"
	"testing"
)

// Bad input exits 2 and names the flag or value, before any coordinator
// is asked (none runs here), and a negative number is read as a value.
func TestBadInputExits2(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"qps", "set", "-5"}, "rate -5"},
		{[]string{"qps", "set", "1000000000000"}, "rate 1000000000000"},
		{[]string{"qps", "set", "9000000000000000000"}, "rate 9000000000000000000"},
		{[]string{"qps", "set", "--bogus", "1"}, "-bogus"},
		{[]string{"connect", "--users", "5", "--server", "not a host"}, "--server"},
		{[]string{"connect", "--users", "5", "--server", "127.0.0.1:1", "--admin", "ftp://x"}, "--admin"},
		{[]string{"connect", "--users", "5", "--server", "127.0.0.1:1", "--server", "127.0.0.1:2", "--admin", "http://127.0.0.1:3"}, "--admin"},
		{[]string{"connect", "--users", "5", "--server", "127.0.0.1:1", "--rate", "-1"}, "--rate"},
		{[]string{"status", "--coordinator", "ftp://x"}, "--coordinator"},
		{[]string{"agent", "--name", "a/b", "--coordinator", "http://127.0.0.1:1"}, "--name"},
		{[]string{"agent", "--name", "h01", "--capacity", "1000000000000000000", "--coordinator", "http://127.0.0.1:1"}, "--capacity"},
		{[]string{"agent", "--name", "h01", "--capacity", "10", "--bind", "not-an-ip", "--coordinator", "http://127.0.0.1:1", "--token", "t"}, "--bind"},
	} {
		app := New()
		var out bytes.Buffer
		app.Writer, app.ErrWriter = &out, &out
		err := app.Run(append([]string{"hbctl"}, c.args...))
		if code := ExitCode(err); code != 2 || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("hbctl %s: exit %d, %v; want 2 naming %s", strings.Join(c.args, " "), code, err, c.want)
		}
	}
}
