package net

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/metanode/metanode/events"
)

const (
	peerstorePermanent = peerstore.PermanentAddrTTL
	dialTimeout        = 5 * time.Second
	redialTick         = 250 * time.Millisecond
	// reconnectDelay (plus up to as much again, at random) is how long
	// after a static peer's disconnect its re-dial waits. A connection
	// that comes back before pubsub has taken the old one down leaves
	// pubsub writing to the old one's stream: the next message to the
	// peer is lost. Waiting lets pubsub drop the peer from its topics
	// first; Send then waits for its subscriptions on the new connection.
	// The jitter keeps both sides from dialing each other at once.
	reconnectDelay = 250 * time.Millisecond
)

// staticPeer is a configured peer. Only the re-dial loop touches the
// fields after info.
type staticPeer struct {
	info    peer.AddrInfo
	dialing bool
	up      bool // connected when last looked at
	tried   bool // its first dial has finished
	next    time.Time
	backoff time.Duration
}

// parseStaticPeers parses full multiaddrs (with /p2p/<id>) into one
// AddrInfo per peer, without self.
func parseStaticPeers(addrs []string, self peer.ID) ([]peer.AddrInfo, error) {
	mas := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p host: static peer %q: %w", s, err)
		}
		if _, id := peer.SplitAddr(a); id == "" {
			return nil, fmt.Errorf("p2p host: static peer %q has no /p2p/<id>", s)
		}
		mas = append(mas, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("p2p host: static peers: %w", err)
	}
	out := infos[:0]
	for _, ai := range infos {
		if ai.ID != self {
			out = append(out, ai)
		}
	}
	return out, nil
}

type dialResult struct {
	peer peer.ID
	err  error
}

// redialLoop keeps the static peers connected: it dials each one that is
// not connected, reconnectDelay after a disconnect, then with a backoff
// from RedialEvery doubling to MaxRedialEvery while it stays unreachable.
// (gossipsub re-dials its direct peers too, every directConnectTick
// heartbeats.) It ends when the host closes.
func (h *Host) redialLoop() {
	defer h.wg.Done()
	results := make(chan dialResult, len(h.static)) // one dial per peer at a time: never blocks
	untried := len(h.static)
	firstDone := false
	tick := time.NewTicker(redialTick)
	defer tick.Stop()
	for {
		now := time.Now()
		for id, sp := range h.static {
			if h.host.Network().Connectedness(id) == network.Connected {
				sp.up, sp.backoff, sp.next = true, 0, time.Time{}
				if !sp.tried {
					sp.tried = true
					untried--
				}
				continue
			}
			if sp.up { // just disconnected
				sp.up = false
				sp.next = now.Add(reconnectDelay + rand.N(reconnectDelay))
				continue
			}
			if sp.dialing || now.Before(sp.next) {
				continue
			}
			sp.dialing = true
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				results <- dialResult{id, h.dial(id)}
			}()
		}
		if untried == 0 && !firstDone {
			firstDone = true
			close(h.firstRound)
		}
		select {
		case <-h.ctx.Done():
			return
		case <-tick.C:
		case <-h.kick: // a static peer disconnected
		case r := <-results:
			sp := h.static[r.peer]
			sp.dialing = false
			if !sp.tried {
				sp.tried = true
				untried--
			}
			if r.err == nil {
				sp.next, sp.backoff = time.Time{}, 0
				h.log.Debug("p2p static peer connected", "remote", events.PeerID(r.peer).Short())
				continue
			}
			if h.ctx.Err() != nil {
				return
			}
			sp.backoff = min(max(2*sp.backoff, h.cfg.RedialEvery), h.cfg.MaxRedialEvery)
			sp.next = time.Now().Add(sp.backoff)
			h.log.Debug("p2p static peer unreachable", "remote", events.PeerID(r.peer).Short(), "retry_in", sp.backoff, "err", r.err)
		}
	}
}

// dial connects to p at its peerstore addresses. The swarm's own dial
// backoff (5 s growing to 5 min after failures) is cleared first: the
// re-dial loop has its own, shorter one, so a static peer that comes
// back is reconnected within MaxRedialEvery.
func (h *Host) dial(p peer.ID) error {
	h.clearDialBackoff(p)
	ctx, cancel := context.WithTimeout(h.ctx, dialTimeout)
	defer cancel()
	return h.host.Connect(ctx, peer.AddrInfo{ID: p})
}

// clearDialBackoff forgets the swarm's dial backoff for p.
func (h *Host) clearDialBackoff(p peer.ID) {
	if sw, ok := h.host.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
		sw.Backoff().Clear(p)
	}
}
