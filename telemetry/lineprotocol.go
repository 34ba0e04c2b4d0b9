package telemetry

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidPoint is returned for a point that cannot be written as line
// protocol InfluxDB 1.8 would read back identically: no measurement, no
// writable field, or a name holding a backslash, a control character or a
// leading '#'.
var ErrInvalidPoint = errors.New("invalid point")

// ErrSyntax is wrapped by ReadLineProtocol's errors for malformed lines.
var ErrSyntax = errors.New("line protocol syntax error")

// MaxLineBytes bounds one line ReadLineProtocol accepts.
const MaxLineBytes = 1 << 20

// AppendLineProtocol appends p as one line of InfluxDB line protocol,
// terminated by '\n', with a nanosecond timestamp (none when p.Time is zero).
// Float fields that are NaN or infinite are left out, since InfluxDB rejects
// the whole batch holding them; tags with an empty value are left out, as
// InfluxDB does. On error dst is returned unchanged.
func AppendLineProtocol(dst []byte, p *Point) ([]byte, error) {
	start := len(dst)
	if p.Measurement == "" || p.Measurement[0] == '#' || !validName(p.Measurement) {
		return dst, fmt.Errorf("%w: measurement %q", ErrInvalidPoint, p.Measurement)
	}
	dst = appendEscaped(dst, p.Measurement, false)
	for i := range p.Tags {
		t := &p.Tags[i]
		if t.Value == "" {
			continue
		}
		if t.Key == "" || !validName(t.Key) || !validName(t.Value) {
			return dst[:start], fmt.Errorf("%w: tag %q=%q of %s", ErrInvalidPoint, t.Key, t.Value, p.Measurement)
		}
		dst = append(dst, ',')
		dst = appendEscaped(dst, t.Key, true)
		dst = append(dst, '=')
		dst = appendEscaped(dst, t.Value, true)
	}
	sep := byte(' ')
	for i := range p.Fields {
		f := &p.Fields[i]
		if f.Key == "" || !validName(f.Key) {
			return dst[:start], fmt.Errorf("%w: field %q of %s", ErrInvalidPoint, f.Key, p.Measurement)
		}
		v := f.Value
		if v.kind == KindFloat && (math.IsNaN(v.f) || math.IsInf(v.f, 0)) {
			continue
		}
		if v.kind == KindString && strings.ContainsAny(v.s, "\n\r") {
			return dst[:start], fmt.Errorf("%w: field %s of %s holds a newline", ErrInvalidPoint, f.Key, p.Measurement)
		}
		if v.kind < KindInt || v.kind > KindBool {
			return dst[:start], fmt.Errorf("%w: field %s of %s has no value", ErrInvalidPoint, f.Key, p.Measurement)
		}
		dst = append(dst, sep)
		sep = ','
		dst = appendEscaped(dst, f.Key, true)
		dst = append(dst, '=')
		switch v.kind {
		case KindInt:
			dst = append(strconv.AppendInt(dst, v.n, 10), 'i')
		case KindFloat:
			dst = strconv.AppendFloat(dst, v.f, 'g', -1, 64)
		case KindString:
			dst = append(dst, '"')
			for j := 0; j < len(v.s); j++ {
				if c := v.s[j]; c == '"' || c == '\\' {
					dst = append(dst, '\\')
				}
				dst = append(dst, v.s[j])
			}
			dst = append(dst, '"')
		case KindBool:
			dst = strconv.AppendBool(dst, v.n != 0)
		}
	}
	if sep == ' ' {
		return dst[:start], fmt.Errorf("%w: %s has no writable field", ErrInvalidPoint, p.Measurement)
	}
	if !p.Time.IsZero() {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, p.Time.UnixNano(), 10)
	}
	return append(dst, '\n'), nil
}

// validName refuses what InfluxDB 1.8's scanner cannot round-trip: it treats
// any character after a backslash as escaped (so a name ending in one, or
// holding an escaped backslash, is split wrongly) and ends lines at newlines.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func appendEscaped(dst []byte, s string, equals bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ',' || c == ' ' || (equals && c == '='):
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// ReadLineProtocol reads every point of line protocol in r, as written by
// AppendLineProtocol (and by InfluxDB's other writers): blank lines and
// '#' comments are skipped, tags are returned sorted, unsigned integers
// ("12u") become int64 fields clamped at math.MaxInt64, a missing timestamp
// gives a zero Time. The error names the line number.
func ReadLineProtocol(r io.Reader) ([]Point, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	var ps []Point
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimLeft(bytes.TrimRight(sc.Bytes(), "\r"), " \t")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		p, err := parseLine(line)
		if err != nil {
			return ps, fmt.Errorf("line %d: %w", n, err)
		}
		ps = append(ps, p)
	}
	if err := sc.Err(); err != nil {
		return ps, fmt.Errorf("read line protocol: %w", err)
	}
	return ps, nil
}

func syntaxErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, a...))
}

// scanName reads an escaped name from b[i:] up to an unescaped stop byte,
// returning the unescaped name and the index of the stop byte (len(b) if none).
func scanName(b []byte, i int, stops string) (string, int) {
	var sb []byte
	start := i
	escaped := false
	for ; i < len(b); i++ {
		c := b[i]
		if c == '\\' && i+1 < len(b) && (b[i+1] == ',' || b[i+1] == ' ' || b[i+1] == '=') {
			if sb == nil {
				sb = append(make([]byte, 0, i-start+8), b[start:i]...)
			}
			sb = append(sb, b[i+1])
			i++
			escaped = true
			continue
		}
		if strings.IndexByte(stops, c) >= 0 {
			break
		}
		if escaped {
			sb = append(sb, c)
		}
	}
	if escaped {
		return string(sb), i
	}
	return string(b[start:i]), i
}

func parseLine(b []byte) (Point, error) {
	var p Point
	name, i := scanName(b, 0, ", ")
	if name == "" {
		return p, syntaxErr("missing measurement")
	}
	p.Measurement = name
	for i < len(b) && b[i] == ',' {
		k, j := scanName(b, i+1, "=, ")
		if k == "" || j >= len(b) || b[j] != '=' {
			return p, syntaxErr("bad tag key after %q", name)
		}
		v, j2 := scanName(b, j+1, ",= ")
		if v == "" || (j2 < len(b) && b[j2] == '=') {
			return p, syntaxErr("bad value of tag %q", k)
		}
		if _, dup := p.Tag(k); dup {
			return p, syntaxErr("duplicate tag %q", k)
		}
		p.Tags = setTag(p.Tags, k, v)
		i = j2
	}
	if i >= len(b) || b[i] != ' ' {
		return p, syntaxErr("missing fields")
	}
	i++
	for {
		k, j := scanName(b, i, "= ,")
		if k == "" || j >= len(b) || b[j] != '=' {
			return p, syntaxErr("bad field key")
		}
		v, j2, err := parseValue(b, j+1)
		if err != nil {
			return p, fmt.Errorf("field %q: %w", k, err)
		}
		p.Fields = append(p.Fields, Field{k, v})
		i = j2
		if i >= len(b) || b[i] == ' ' {
			break
		}
		i++ // ','
	}
	if i < len(b) {
		ts := b[i+1:]
		n, err := strconv.ParseInt(string(ts), 10, 64)
		if err != nil || len(ts) == 0 || ts[0] == '+' {
			return p, syntaxErr("bad timestamp %q", ts)
		}
		p.Time = time.Unix(0, n)
	}
	return p, nil
}

// parseValue reads a field value at b[i:], returning it and the index just
// after it, which holds ',', ' ' or is len(b).
func parseValue(b []byte, i int) (Value, int, error) {
	if i >= len(b) {
		return Value{}, i, syntaxErr("missing value")
	}
	if b[i] == '"' {
		var s []byte
		for j := i + 1; j < len(b); j++ {
			switch c := b[j]; {
			case c == '\\' && j+1 < len(b) && (b[j+1] == '"' || b[j+1] == '\\'):
				s = append(s, b[j+1])
				j++
			case c == '"':
				if j+1 < len(b) && b[j+1] != ',' && b[j+1] != ' ' {
					return Value{}, j, syntaxErr("junk after string")
				}
				return Value{kind: KindString, s: string(s)}, j + 1, nil
			default:
				s = append(s, c)
			}
		}
		return Value{}, len(b), syntaxErr("unterminated string")
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != ' ' {
		j++
	}
	tok := string(b[i:j])
	switch tok {
	case "t", "T", "true", "True", "TRUE":
		return Value{kind: KindBool, n: 1}, j, nil
	case "f", "F", "false", "False", "FALSE":
		return Value{kind: KindBool}, j, nil
	case "":
		return Value{}, j, syntaxErr("missing value")
	}
	if !strings.ContainsFunc(tok, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '-' || r == '+' || r == '.' || r == 'e' || r == 'E' || r == 'i' || r == 'u')
	}) {
		switch last := tok[len(tok)-1]; last {
		case 'i':
			if n, err := strconv.ParseInt(tok[:len(tok)-1], 10, 64); err == nil && tok[0] != '+' {
				return Value{kind: KindInt, n: n}, j, nil
			}
		case 'u':
			if n, err := strconv.ParseUint(tok[:len(tok)-1], 10, 64); err == nil && tok[0] != '+' {
				return Uint("", n).Value, j, nil
			}
		default:
			if f, err := strconv.ParseFloat(tok, 64); err == nil && !strings.ContainsAny(tok, "iu") {
				return Value{kind: KindFloat, f: f}, j, nil
			}
		}
	}
	return Value{}, j, syntaxErr("bad value %q", tok)
}
