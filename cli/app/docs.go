package app

import (
	"fmt"
	"os"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// DocsPath is where the CLI reference lives, relative to the module root.
const DocsPath = "docs/cli.md"

// RegenerateDocs is the command that rewrites DocsPath; tests quote it.
const RegenerateDocs = "make docs  (or: go run ./cli/hbctl docs --out " + DocsPath + ")"

// docsCommand is `hbctl docs`, hidden: it renders the command tree as
// Markdown, the CLI reference of the repository.
func docsCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "docs",
		Usage:  "write the Markdown reference of every command and flag",
		Hidden: true,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "-", Usage: "write to `FILE` (- for stdout)"},
		},
		Action: func(c *ucli.Context) error {
			md, err := Markdown()
			if err != nil {
				return err
			}
			out := c.String("out")
			if out == "-" {
				_, err = fmt.Fprint(c.App.Writer, md)
				return err
			}
			if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			return nil
		},
	}
}

// Markdown is the CLI reference: urfave/cli's rendering of the command
// tree, followed by the table of every environment variable and the flags
// it feeds. It depends on nothing of the host it runs on, so the file in
// the repository can be compared with it.
func Markdown() (string, error) {
	a := New()
	md, err := a.ToMarkdown()
	if err != nil {
		return "", fmt.Errorf("render the command tree: %w", err)
	}
	var b strings.Builder
	b.WriteString("<!-- Generated from the command tree by `hbctl docs`; do not edit. Regenerate: " + RegenerateDocs + " -->\n\n")
	b.WriteString(strings.TrimRight(md, "\n"))
	b.WriteString("\n\n# ENVIRONMENT\n\nEvery flag also reads an environment variable; one variable means one thing\nwherever it is read.\n\n| variable | flags |\n|---|---|\n")
	uses := EnvUses(a)
	vars := make([]string, 0, len(uses))
	for v := range uses {
		vars = append(vars, v)
	}
	slices.Sort(vars)
	for _, v := range vars {
		var fl []string
		for _, u := range uses[v] {
			if !u.Hidden {
				fl = append(fl, "`"+u.Command+" --"+u.Flag+"`")
			}
		}
		if len(fl) > 0 {
			fmt.Fprintf(&b, "| `%s` | %s |\n", v, strings.Join(fl, ", "))
		}
	}
	return b.String(), nil
}

// EnvUse is one flag an environment variable feeds.
type EnvUse struct {
	Command string // "agent", "verify ledger", ...
	Flag    string
	Hidden  bool
}

// EnvUses walks the whole command tree and returns, for every environment
// variable, the flags that read it, in tree order.
func EnvUses(a *ucli.App) map[string][]EnvUse {
	uses := map[string][]EnvUse{}
	var walk func(prefix string, cmds []*ucli.Command)
	walk = func(prefix string, cmds []*ucli.Command) {
		for _, c := range cmds {
			name := strings.TrimSpace(prefix + " " + c.Name)
			for _, f := range c.Flags {
				ef, ok := f.(interface{ GetEnvVars() []string })
				if !ok {
					continue
				}
				hidden := false
				if vf, ok := f.(ucli.VisibleFlag); ok {
					hidden = !vf.IsVisible()
				}
				for _, v := range ef.GetEnvVars() {
					uses[v] = append(uses[v], EnvUse{Command: name, Flag: f.Names()[0], Hidden: hidden || c.Hidden})
				}
			}
			walk(name, c.Subcommands)
		}
	}
	walk("", a.Commands)
	return uses
}
