// Package api is the node's read-only REST API: status, peers, rounds
// and their audit trails, blocks, keys, and the live event log as a
// stream of JSON lines. Everything is read from the running node's
// folded state (Source.View) and its log (Source.Log); no request folds
// the whole log, except an audit of one round (/api/v1/rounds/{r}), which
// folds it up to that round, one audit at a time.
//
// Names follow Swingby's operator surface where one exists (nodeInfo,
// listenAddr, stakeValid, state_name, thisNode ...): camelCase. Peer ids
// are hex of their bytes (as the CLI and audit print them), with the
// libp2p form alongside as peerId where an operator may need it. The
// audit trail of /api/v1/rounds/{r} is `metanode audit round R --json`'s.
package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/ha"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/projections"
)

// Info is the node's static information, shown in the status.
type Info struct {
	Moniker    string
	Version    string
	ListenAddr string // the p2p listen address
	RestAddr   string // this API's address
	Network    string // the network name (default: the log genesis's)
	// GenesisHash identifies the network's genesis (genesis.toml).
	GenesisHash string
}

// Source is what the API reads: *node.Node satisfies it.
type Source interface {
	Status() node.Status
	// View runs fn with the node's state under its lock; fn must not keep
	// it, nor call back into the node.
	View(func(*projections.State))
	Log() *events.Store
}

// Options are the API's surroundings; every field may be nil.
type Options struct {
	// Connected lists the peers the transport is connected to now.
	Connected func() []events.PeerID
	// Ready says whether the node serves its purpose (nil) or why not:
	// /readyz answers 503 with the reason.
	Ready func() error
	// Logger gets a debug line per request and warnings for failures.
	Logger *slog.Logger
	// Raft, on an HA replica, is its raft state: the status shows it
	// (nil on a single node).
	Raft func() ha.Status
}

type api struct {
	src   Source
	info  Info
	opts  Options
	log   *slog.Logger
	index *sessionIndex
	// audits lets one audit fold run at a time: each reads the log from
	// its start.
	audits chan struct{}
}

// New returns the API's handler: /api/v1/..., /healthz and /readyz.
func New(src Source, info Info, opts Options) http.Handler {
	a := &api{src: src, info: info, opts: opts, log: opts.Logger, index: newSessionIndex(), audits: make(chan struct{}, 1)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /api/v1/status", a.status)
	mux.HandleFunc("GET /api/v1/peers", a.peers)
	mux.HandleFunc("GET /api/v1/rounds", a.rounds)
	mux.HandleFunc("GET /api/v1/rounds/{r}", a.round)
	mux.HandleFunc("GET /api/v1/blocks", a.blocks)
	mux.HandleFunc("GET /api/v1/keys", a.keys)
	mux.HandleFunc("GET /api/v1/events", a.events)
	mux.HandleFunc("/", a.notFound)
	return a.logged(mux)
}

// notFound answers every path no other route takes, and every method but
// GET and HEAD: the API is read-only.
func (a *api) notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: the API is read-only", r.Method))
		return
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no such path: %s", r.URL.Path))
}

func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *api) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := a.ready(); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *api) ready() error {
	if a.opts.Ready == nil {
		return nil
	}
	return a.opts.Ready()
}

func (a *api) connected() []events.PeerID {
	if a.opts.Connected == nil {
		return nil
	}
	return a.opts.Connected()
}

// errorBody is every error's JSON: one line.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// hexID names a peer as the CLI does: its id bytes in hex.
func hexID(p events.PeerID) string { return fmt.Sprintf("%x", []byte(p)) }

func hexIDs(ps []events.PeerID) []string {
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = hexID(p)
	}
	return out
}

// peerID is a peer's libp2p id (12D3KooW...), or "" if the bytes are not one.
func peerID(p events.PeerID) string {
	id := peer.ID(p)
	if id.Validate() != nil {
		return ""
	}
	return id.String()
}

// timeString is an RFC 3339 time, "" for none.
func timeString(t events.Time) string {
	if t == 0 {
		return ""
	}
	return t.String()
}

// recorder keeps a response's status for the request log; Unwrap lets
// http.ResponseController reach the writer's Flush.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (a *api) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		a.log.Debug("rest request", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery,
			"status", rec.code, "took", time.Since(began))
	})
}
