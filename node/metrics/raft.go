package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metanode/metanode/ha"
)

// CommitBuckets are the buckets of a leader's raft commit latency, in
// seconds: 250 µs to ~4 s (a loopback commit takes about a millisecond,
// one across machines a round trip and two fsyncs).
var CommitBuckets = prometheus.ExponentialBuckets(0.00025, 2, 15)

// Roles are raft's roles, the values of metanode_raft_role's label.
var Roles = []string{"leader", "follower", "candidate", "shutdown"}

// Raft is an HA replica's raft metrics: the commit latency of the
// leader's appends (ObserveCommit, through ha.Config.ObserveCommit) and
// the replica's state, read at scrape time from its Status.
type Raft struct {
	commit prometheus.Histogram
	status atomic.Pointer[func() ha.Status]

	leader, changes, lag, role, term *prometheus.Desc
}

// NewRaft makes the raft metrics and registers them with reg. They
// report nothing of the state until Attach.
func NewRaft(reg prometheus.Registerer) *Raft {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	r := &Raft{
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "metanode_raft_commit_seconds",
			Help:    "Time the leader's appends took to commit through raft and land in its event log.",
			Buckets: CommitBuckets,
		}),
		leader:  d("metanode_raft_leader", "1 while this replica is raft's leader (and runs the node)."),
		changes: d("metanode_raft_leader_changes_total", "Changes of the leader this replica has seen since it started."),
		lag:     d("metanode_raft_apply_lag", "Raft's commit index minus the last entry in this replica's event log."),
		role:    d("metanode_raft_role", "1 for this replica's raft role: leader, follower, candidate or shutdown.", "role"),
		term:    d("metanode_raft_term", "Raft's current term."),
	}
	reg.MustRegister(r.commit, r)
	return r
}

// ObserveCommit records one leader append's commit latency.
func (r *Raft) ObserveCommit(d time.Duration) { r.commit.Observe(d.Seconds()) }

// Attach makes the metrics read the replica's state from status.
func (r *Raft) Attach(status func() ha.Status) { r.status.Store(&status) }

// Describe implements prometheus.Collector.
func (r *Raft) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{r.leader, r.changes, r.lag, r.role, r.term} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (r *Raft) Collect(ch chan<- prometheus.Metric) {
	status := r.status.Load()
	if status == nil {
		return
	}
	st := (*status)()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(r.leader, boolFloat(st.Role == "leader"))
	ch <- prometheus.MustNewConstMetric(r.changes, prometheus.CounterValue, float64(st.LeaderChanges))
	lag := 0.0
	if st.CommitIndex > st.LogApplied {
		lag = float64(st.CommitIndex - st.LogApplied)
	}
	gauge(r.lag, lag)
	for _, role := range Roles {
		gauge(r.role, boolFloat(st.Role == role), role)
	}
	gauge(r.term, float64(st.Term))
}
