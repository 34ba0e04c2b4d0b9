package influxtest

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestStartQueryStopRestart(t *testing.T) {
	db := Start(t)
	found := false
	for _, row := range db.Rows(t, "SHOW DATABASES") {
		if fmt.Sprint(row[0]) == Database {
			found = true
		}
	}
	if !found {
		t.Fatalf("database %s not created", Database)
	}
	db.Write(t, "probe,host=a v=7i 1700000000000000000\n")
	rows := db.WaitRows(t, `SELECT v FROM probe`, 1, 5*time.Second)
	if got := fmt.Sprint(rows[0][1]); got != "7" {
		t.Fatalf("v = %s, want 7", got)
	}
	if got := db.FieldTypes(t, "probe")["v"]; got != "integer" {
		t.Fatalf("type of v = %q, want integer", got)
	}

	pid := db.PID()
	if pid == 0 {
		t.Fatal("no PID file")
	}
	db.Stop(t)
	if db.PID() != 0 {
		t.Fatal("PID file left after stop")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("influxd %d still running after stop", pid)
	}
	if _, err := db.TryQuery("SHOW DATABASES"); err == nil {
		t.Fatal("query answered after stop")
	}

	db.Restart(t)
	rows = db.WaitRows(t, `SELECT v FROM probe`, 1, 5*time.Second)
	if got := fmt.Sprint(rows[0][1]); got != "7" {
		t.Fatalf("after restart v = %s, want 7 (data dir not kept?)", got)
	}
}

func TestFindInfluxdRefusesBadOverride(t *testing.T) {
	t.Setenv("HBCTL_INFLUXD", os.DevNull+"/nope")
	if _, err := FindInfluxd(); err == nil {
		t.Fatal("want an error for a missing HBCTL_INFLUXD")
	}
}
