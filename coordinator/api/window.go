package api

// Window is one agent's counters for one whole second T of coordinator time
// (Unix seconds). Sent counts SHAKEs by the second of their intended time;
// everything received counts by arrival. Histograms are
// HdrHistogram counts in microseconds (Hist), merged on the coordinator and
// never averaged.
type Window struct {
	T               int64 `json:"t"`
	Fires           int64 `json:"fires"` // Sent + Missed + Skipped
	Sent            int64 `json:"sent"`
	Received        int64 `json:"received"` // SHAKE_RESPs, all results
	Got             int64 `json:"got"`
	None            int64 `json:"none"` // 15 and 16
	Anomalies       int64 `json:"anomalies,omitempty"`
	Overloaded      int64 `json:"overloaded"`
	Missed          int64 `json:"missed"`
	Skipped         int64 `json:"skipped"`
	Unanswered      int64 `json:"unanswered"`
	Lost            int64 `json:"lost"`
	OpenSent        int64 `json:"open_sent"`
	OpenAnswered    int64 `json:"open_answered"`
	GrantAmount     int64 `json:"grant_amount"`
	OpenAmount      int64 `json:"open_amount"`
	Notified        int64 `json:"notified"`
	ConnEstablished int64 `json:"conn_established"` // logins accepted during T
	ConnFailed      int64 `json:"conn_failed"`
	ConnClosed      int64 `json:"conn_closed"`
	Conns           int64 `json:"conns"` // connections logged in at the end of T

	ShakeLatency *Hist `json:"shake_latency,omitempty"`
	OpenLatency  *Hist `json:"open_latency,omitempty"`
	Lateness     *Hist `json:"lateness,omitempty"`
}
