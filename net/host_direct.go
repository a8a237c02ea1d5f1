package net

import (
	"context"
	"fmt"
	"io"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
)

// Point-to-point tss messages travel on direct streams: one stream per
// message carrying one frame (host_wire.go). The sender writes the frame
// and closes its side; the receiver reads up to maxDirectFrame, closes
// the stream, which is the sender's acknowledgement, then judges the
// message like gossip (check) and delivers it.

// maxDirectFrame bounds a direct stream's frame: the largest tss body
// and its envelope.
var maxDirectFrame = MaxBody[events.TypeTSS] + envelopeOverhead

// sendDirect sends m on a direct stream to its one recipient, connecting
// first if needed (at the peerstore's addresses: the static peers').
func (h *Host) sendDirect(to peer.ID, m *events.Signed) error {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.SendTimeout)
	defer cancel()
	short := events.PeerID(to).Short()
	if err := to.Validate(); err != nil {
		return fmt.Errorf("send tss: recipient: %w", err)
	}
	if h.host.Network().Connectedness(to) != network.Connected {
		h.clearDialBackoff(to)
		if err := h.host.Connect(ctx, peer.AddrInfo{ID: to}); err != nil {
			return fmt.Errorf("send tss to %s: not connected: %w", short, err)
		}
	}
	data, err := encodeFrame(h.nonce.Add(1), m)
	if err != nil {
		return fmt.Errorf("send tss to %s: %w", short, err)
	}
	s, err := h.host.NewStream(ctx, to, h.directProto)
	if err != nil {
		return fmt.Errorf("send tss to %s: %w", short, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if _, err := s.Write(data); err != nil {
		_ = s.Reset()
		return fmt.Errorf("send tss to %s: %w", short, err)
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return fmt.Errorf("send tss to %s: %w", short, err)
	}
	// The receiver closes the stream once it has read the whole frame.
	if _, err := io.Copy(io.Discard, io.LimitReader(s, 1<<10)); err != nil {
		_ = s.Reset()
		return fmt.Errorf("send tss to %s: no acknowledgement: %w", short, err)
	}
	_ = s.Close()
	h.metrics.sent.WithLabelValues(m.Type, pathDirect).Inc()
	return nil
}

// handleDirect receives one point-to-point tss message.
func (h *Host) handleDirect(s network.Stream) {
	const typ = events.TypeTSS
	from := events.PeerID(s.Conn().RemotePeer()).Short()
	drop := func(reason string, err error) {
		h.metrics.dropped.WithLabelValues(typ, reason).Inc()
		h.log.Debug("p2p drop: direct stream", "remote", from, "reason", reason, "err", err)
	}
	remote := events.PeerID(s.Conn().RemotePeer())
	if h.cfg.Admit != nil && !h.cfg.Admit(remote, typ) {
		_ = s.Reset() // a stranger holds no stream and no memory
		drop(dropUnknownPeer, nil)
		return
	}
	if err := s.Scope().ReserveMemory(maxDirectFrame, network.ReservationPriorityAlways); err != nil {
		_ = s.Reset()
		drop(dropStream, err)
		return
	}
	defer s.Scope().ReleaseMemory(maxDirectFrame)
	_ = s.SetDeadline(time.Now().Add(directReadTimeout))
	data, err := io.ReadAll(io.LimitReader(s, int64(maxDirectFrame)+1))
	if err != nil {
		_ = s.Reset()
		drop(dropStream, err)
		return
	}
	if len(data) > maxDirectFrame {
		_ = s.Reset()
		drop(dropTooLarge, fmt.Errorf("over %d bytes", maxDirectFrame))
		return
	}
	_ = s.Close() // the sender's acknowledgement
	m, reason, res := h.check(data, typ)
	if res != pubsub.ValidationAccept {
		drop(reason, nil)
		return
	}
	if to, ok := pointToPoint(m); !ok || to != h.host.ID() || m.From != remote {
		drop(dropMisrouted, nil)
		return
	}
	h.deliver(typ, m)
}
