package server

import (
	"bufio"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/hbctl/hbctl/server/admin"
)

// maxAdminBody bounds an admin request body.
const maxAdminBody = 64 << 10

// Admin is the admin HTTP API: /v1/shake, /v1/send, /v1/stats,
// /v1/ledger and /v1/users need "Authorization: Bearer TOKEN";
// /healthz does not. A release of a kind already running answers 409:
// releases are not queued.
func (s *Server) Admin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+admin.PathHealth, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	v1 := http.NewServeMux()
	v1.HandleFunc("POST "+admin.PathShake, s.handleShake)
	v1.HandleFunc("POST "+admin.PathSend, s.handleSend)
	v1.HandleFunc("GET "+admin.PathStats, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	v1.HandleFunc("GET "+admin.PathLedger, s.handleLedger)
	v1.HandleFunc("GET "+admin.PathUsers, s.handleUsers)
	mux.Handle("/v1/", s.auth(v1))
	return mux
}

func (s *Server) auth(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hbctl server"`)
			writeError(w, http.StatusUnauthorized, "", "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleShake(w http.ResponseWriter, r *http.Request) {
	var req ShakeRequest
	if !decodeBody(w, r, &req) {
		return
	}
	s.answerRelease(w, s.Shake(req), req)
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	var req SendRequest
	if !decodeBody(w, r, &req) {
		return
	}
	s.answerRelease(w, s.Send(req), req)
}

func (s *Server) answerRelease(w http.ResponseWriter, err error, req any) {
	var fe *FieldError
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, map[string]any{"started": req})
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.Field, fe.Error())
	case errors.Is(err, ErrBusy):
		writeError(w, http.StatusConflict, "", err.Error()+"; wait until stats shows it finished (releasing) and retry")
	case errors.Is(err, ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "", err.Error())
	}
}

// decodeBody decodes a JSON object strictly, answering 400 naming the
// offending field when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	if err == nil {
		return true
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	field, msg := "", err.Error()
	switch {
	case errors.As(err, &te):
		field = te.Field
		msg = fmt.Sprintf("%s: must be a %s, got %s", te.Field, te.Type, te.Value)
	case errors.As(err, &se):
		msg = fmt.Sprintf("bad JSON at byte %d: %v", se.Offset, se)
	case strings.HasPrefix(msg, "json: unknown field "):
		field = strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
		msg = field + ": unknown field"
	case errors.Is(err, io.EOF):
		msg = "empty body: a JSON object is required"
	}
	writeError(w, http.StatusBadRequest, field, msg)
	return false
}

func (s *Server) handleLedger(w http.ResponseWriter, _ *http.Request) {
	f, err := os.Open(s.JournalPath())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	io.Copy(w, f)
}

func (s *Server) handleUsers(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	for _, u := range s.Users() {
		enc.Encode(&u)
	}
	bw.Flush()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, field, msg string) {
	writeJSON(w, code, admin.ErrorBody{Error: msg, Field: field})
}
