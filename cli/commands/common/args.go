package common

import (
	"slices"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// Args returns the positional arguments of c and applies the flags written
// after them (`hbctl qps set 3000 --at +5s`), which urfave/cli otherwise
// leaves unparsed among the arguments.
func Args(c *ucli.Context) ([]string, error) {
	var pos []string
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" || isNegativeNumber(a) {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := lookup(c.Command.Flags, name)
		if f == nil {
			return nil, Usage("flag provided but not defined: %s", a)
		}
		if _, ok := f.(*ucli.BoolFlag); ok && !hasValue {
			value, hasValue = "true", true
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, Usage("flag needs an argument: %s", a)
			}
			i++
			value = args[i]
		}
		if err := c.Set(name, value); err != nil {
			return nil, Usage("invalid value %q for flag %s: %v", value, a, err)
		}
	}
	return pos, nil
}

func lookup(flags []ucli.Flag, name string) ucli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// NegativeNumber reports the negative number a flag parser took for an
// unknown flag ("flag provided but not defined: -5"): it is a value.
func NegativeNumber(err error) (string, bool) {
	v, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: ")
	if !ok || !isNegativeNumber(v) {
		return "", false
	}
	return v, true
}

func isNegativeNumber(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// OnUsageError makes a flag-parsing error a usage error (exit 2) that
// says which command to ask for help. A negative number is read as the
// value it is and refused as a value, not reported as an unknown flag.
func OnUsageError(c *ucli.Context, err error, _ bool) error {
	name := "hbctl"
	if c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName
	}
	if v, ok := NegativeNumber(err); ok {
		return Usage("%s: negative values are not accepted here (see '%s --help')", v, name)
	}
	return Usage("%v (see '%s --help')", err, name)
}
