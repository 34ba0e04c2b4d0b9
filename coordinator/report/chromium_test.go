package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromiumTimeout bounds each browser run.
const chromiumTimeout = 90 * time.Second

// chromium returns the browser's path, skipping the test when there is
// none, except under CI, where its absence is a broken setup.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: install chromium (make test does)")
	}
	t.Skip("chromium not installed")
	return ""
}

// runChromium runs headless Chromium on a file with extra flags and
// returns its standard output. The browser and its helper processes share
// one process group, killed by its id when the time is up.
func runChromium(t *testing.T, bin, page string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1200,2400"}
	args = append(args, extra...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// Helpers left behind by a browser that exited on its own go too.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish in %v; stderr:\n%s", chromiumTimeout, stderr.String())
	}
	if err != nil {
		t.Fatalf("chromium: %v; stderr:\n%s", err, stderr.String())
	}
	return stdout.Bytes()
}

// TestChromiumRender opens the fixture's report in a real browser: the DOM
// holds every chart and the screenshot shows them.
func TestChromiumRender(t *testing.T) {
	bin := chromium(t)
	r, err := Build(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(render(t, r)), 0o644); err != nil {
		t.Fatal(err)
	}

	dom := string(runChromium(t, bin, page, "--dump-dom"))
	for _, name := range []string{ChartQPS, ChartEnvelopes, ChartLatency, ChartConnections, ChartNIC} {
		if !strings.Contains(dom, `data-chart="`+name+`"`) {
			t.Errorf("the browser's DOM lacks chart %q", name)
		}
	}
	if n := strings.Count(dom, `class="series"`); n < 15 {
		t.Errorf("the browser's DOM holds %d series paths, want at least 15", n)
	}

	shot := filepath.Join(dir, "report.png")
	runChromium(t, bin, page, "--screenshot="+shot, "--hide-scrollbars")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	colours := map[uint32]bool{}
	nonWhite := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			colours[r<<16|g<<8|bl] = true
			if r < 240 || g < 240 || bl < 240 {
				nonWhite++
			}
		}
	}
	total := b.Dx() * b.Dy()
	t.Logf("screenshot %dx%d: %d colours, %.1f%% non-white", b.Dx(), b.Dy(), len(colours), 100*float64(nonWhite)/float64(total))
	if b.Dx() < 1000 {
		t.Errorf("screenshot %d px wide, want the 1200 px window", b.Dx())
	}
	if len(colours) < 50 {
		t.Errorf("screenshot has %d distinct colours: blank or unstyled", len(colours))
	}
	if nonWhite < total/50 {
		t.Errorf("screenshot is %d of %d pixels non-white: nearly blank", nonWhite, total)
	}
}
