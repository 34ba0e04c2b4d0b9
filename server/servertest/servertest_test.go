package servertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hbctl/hbctl/server"
	"github.com/hbctl/hbctl/server/admin"
)

// TestAdminClient drives a reference server through the typed client:
// a release, its stats, the journal and the users, a busy and an
// unauthorized answer.
func TestAdminClient(t *testing.T) {
	s := Start(t, serverConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Admin.Shake(ctx, admin.ShakeRequest{Rate: 1, Total: 100}); err != nil {
		t.Fatal(err)
	}
	err := s.Admin.Shake(ctx, admin.ShakeRequest{Rate: 1, Total: 100})
	var ae *admin.Error
	if !errors.Is(err, admin.ErrBusy) || !errors.As(err, &ae) || ae.Status != 409 {
		t.Errorf("second release while one runs: %v, want ErrBusy (409)", err)
	}
	err = s.Admin.Send(ctx, admin.SendRequest{Rate: 1, Total: 1, Recipients: 4})
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Field != "recipients" {
		t.Errorf("bad send: %v, want 400 naming recipients", err)
	}
	st, err := s.Admin.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Releasing.Shake || st.Sets != 4 {
		t.Errorf("stats: releasing %+v, sets %d; want a shake release over 4 SETs", st.Releasing, st.Sets)
	}
	if _, err := s.Admin.Ledger(ctx); err != nil {
		t.Errorf("ledger: %v", err)
	}
	if _, err := s.Admin.Users(ctx); err != nil {
		t.Errorf("users: %v", err)
	}
	wrong := admin.New(s.AdminURL, "wrong", nil)
	if _, err := wrong.Stats(ctx); !errors.Is(err, admin.ErrUnauthorized) {
		t.Errorf("wrong token: %v, want ErrUnauthorized", err)
	}
}

func serverConfig() server.Config { return server.Config{} }
