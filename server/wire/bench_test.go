package wire

import (
	"strings"
	"testing"
)

// benchName makes a vector's name a benchmark name: cmd=SHAKE_RESP/got ...
func benchName(s string) string {
	return strings.NewReplacer(" ", "/", "=", "-").Replace(s)
}

func BenchmarkEncode(b *testing.B) {
	for _, v := range vectors {
		b.Run(benchName(v.name), func(b *testing.B) {
			buf := make([]byte, 0, MaxFrameLen)
			f := v.frame
			b.ReportAllocs()
			b.SetBytes(int64(f.Len()))
			for i := 0; i < b.N; i++ {
				buf = Append(buf[:0], &f)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, v := range vectors {
		b.Run(benchName(v.name), func(b *testing.B) {
			raw := Append(nil, &v.frame)
			var f Frame
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for i := 0; i < b.N; i++ {
				if _, err := Decode(raw, &f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestZeroAllocs(t *testing.T) {
	buf := make([]byte, 0, MaxFrameLen)
	for _, v := range vectors {
		f := v.frame
		raw := Append(nil, &f)
		var out Frame
		if n := testing.AllocsPerRun(100, func() {
			buf = Append(buf[:0], &f)
			if _, err := Decode(raw, &out); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocs per encode+decode", f.Cmd, n)
		}
	}
}
