package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
)

// Layout of a node's data directory.
const (
	IdentityFile = "identity.key"
	LogDir       = "log"
)

// Node is one metanode: its identity, its log and the state folded from it.
type Node struct {
	id      events.PeerID
	key     crypto.PrivKey
	store   *events.Store
	publish func(events.Signed)

	mu    sync.Mutex // one input at a time: append, fold, decide
	state *projections.State

	dropped atomic.Uint64
}

// Open opens (or creates) the node in dir. A new log starts with a genesis
// event of params, with this node's id; an existing log keeps its own
// genesis. publish hands messages to the network.
func Open(dir string, params events.Params, publish func(events.Signed)) (*Node, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node directory: %w", err)
	}
	key, err := loadOrCreateIdentity(filepath.Join(dir, IdentityFile))
	if err != nil {
		return nil, err
	}
	pid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	store, err := events.Open(filepath.Join(dir, LogDir), events.Options{})
	if err != nil {
		return nil, err
	}
	n := &Node{
		id: events.PeerID(pid), key: key, store: store, publish: publish,
		state: projections.NewState(),
	}
	if err := n.restore(params); err != nil {
		store.Close()
		return nil, err
	}
	return n, nil
}

// restore folds the existing log, or writes the genesis of a new one.
func (n *Node) restore(params events.Params) error {
	if n.store.LastSeq() == 0 {
		params.NodeID = n.id
		if err := params.Validate(); err != nil {
			return err
		}
		return n.record(&events.Genesis{Params: params})
	}
	if _, err := replay.Run(n.store, n.state, replay.Until{}); err != nil {
		return err
	}
	if n.state.Summary.NodeID != n.id {
		return fmt.Errorf("log %s belongs to node %s, but the identity key is %s's", n.store.Path(), n.state.Summary.NodeID.Short(), n.id.Short())
	}
	return nil
}

// record appends an event and folds it into the state.
func (n *Node) record(ev events.Event) error {
	seq, err := n.store.Append(ev)
	if err != nil {
		return err
	}
	n.state.Apply(seq, ev)
	return nil
}

// ID is the node's peer id.
func (n *Node) ID() events.PeerID { return n.id }

// Tick records a clock reading and executes the duties it makes due.
// Messages are published after the node's lock is released, so nodes on a
// synchronous bus can tick each other without deadlock.
func (n *Node) Tick(now time.Time) error {
	out, err := n.tick(now)
	for _, m := range out {
		n.publish(m)
	}
	return err
}

func (n *Node) tick(now time.Time) ([]events.Signed, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.record(&events.Tick{Time: events.TimeOf(now)}); err != nil {
		return nil, err
	}
	var out []events.Signed
	if ping, due := n.state.OwnPings.PingDue(); due {
		m, err := n.send(events.TypePing, &ping)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// send signs a message and records it as sent; it must be in the log
// before it reaches the network.
func (n *Node) send(typ string, body any) (events.Signed, error) {
	data, err := events.Marshal(nil, body)
	if err != nil {
		return events.Signed{}, err
	}
	m, err := net.Sign(n.key, typ, data)
	if err != nil {
		return events.Signed{}, err
	}
	if err := n.record(&events.MessageSent{Msg: m}); err != nil {
		return events.Signed{}, err
	}
	return m, nil
}

// Receive takes a message from the network. One that fails validation is
// dropped and counted, never logged; a valid one is logged even if it
// breaks the protocol, as evidence.
func (n *Node) Receive(m events.Signed) {
	if err := net.Validate(&m); err != nil {
		n.dropped.Add(1)
		return
	}
	ev, err := events.ReceivedEvent(m)
	if err != nil {
		n.dropped.Add(1)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.record(ev); err != nil && !errors.Is(err, events.ErrClosed) {
		// The log refused a write (disk full, I/O error): the message is
		// lost to this node like a network drop, and counted as one.
		n.dropped.Add(1)
	}
}

// Status is a node's state at a glance.
type Status struct {
	ID            events.PeerID
	Events        uint64
	PeersSeen     int
	PingsSent     uint64
	Dropped       uint64
	LastTick      events.Time
	StateHash     events.Hash
	LogPath       string
	PerKindCounts []projections.KindCount
}

// Status reports the node's state.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return Status{
		ID: n.id, Events: n.state.Summary.Events, PeersSeen: len(n.state.Summary.Peers()),
		PingsSent: n.state.OwnPings.LastSeq(), Dropped: n.dropped.Load(), LastTick: n.state.Summary.LastTick,
		StateHash: projections.StateHash(n.state), LogPath: n.store.Path(), PerKindCounts: n.state.Summary.PerKind(),
	}
}

// Close closes the node's log.
func (n *Node) Close() error {
	return n.store.Close()
}
