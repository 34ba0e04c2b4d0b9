package remote

import (
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/telemetry"
)

func TestHostBufferBoundedAndDrained(t *testing.T) {
	var b hostBuffer
	if b.take() != nil {
		t.Fatal("empty buffer gave host metrics")
	}
	now := time.Unix(1_800_000_000, 0)
	p := telemetry.NewPoint(telemetry.MeasNet, telemetry.Tags("host", "h01", "interface", "eth0"),
		[]telemetry.Field{telemetry.Int("bytes_recv", 7)}, now)
	ps := make([]telemetry.Point, api.MaxHostPoints+5)
	for i := range ps {
		ps[i] = p
	}
	ps[3] = telemetry.Point{Measurement: "bad", Time: now} // no field: cannot be encoded
	b.add(ps)
	h := b.take()
	if h == nil {
		t.Fatal("no host metrics")
	}
	got, err := telemetry.ReadLineProtocol(strings.NewReader(h.Lines))
	if err != nil {
		t.Fatal(err)
	}
	// The invalid point and the four valid ones beyond the bound are dropped,
	// and the coordinator is told.
	if len(got) != api.MaxHostPoints || h.Dropped != 5 {
		t.Fatalf("%d points, %d dropped; want %d and 5", len(got), h.Dropped, api.MaxHostPoints)
	}
	if v, _ := got[0].Field("bytes_recv"); v.Int() != 7 || !got[0].Time.Equal(now) {
		t.Fatalf("point %+v", got[0])
	}
	if b.take() != nil {
		t.Fatal("take did not empty the buffer")
	}
	b.add(ps[:1])
	if h := b.take(); h == nil || strings.Count(h.Lines, "\n") != 1 || h.Dropped != 0 {
		t.Fatalf("after drain: %+v", h)
	}
}
