package common

import (
	"slices"
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
		if !strings.HasPrefix(a, "-") || a == "-" {
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
