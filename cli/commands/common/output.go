package common

import (
	"encoding/json"
	ucli "github.com/urfave/cli/v2"
	"io"
)

// FlagJSON is the name of the --json flag.
const FlagJSON = "json"

// JSONFlag prints machine-readable output instead of text.
var JSONFlag = func() *ucli.BoolFlag {
	return &ucli.BoolFlag{Name: FlagJSON, EnvVars: []string{"HBCTL_JSON"}, Usage: "print JSON instead of text"}
}

// PrintJSON writes v as indented JSON.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
