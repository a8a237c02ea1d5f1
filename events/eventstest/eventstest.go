// Package eventstest makes realistic events for tests, fuzz seeds and
// benchmarks: one fully populated sample of every kind, and ping-sized
// events in bulk. Everything here is deterministic.
package eventstest

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/metanode/metanode/events"
)

// Epoch is the tick time samples start from: 2026-01-01T00:00:00Z.
var Epoch = events.TimeOf(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

// Peer returns the i-th test peer id: 38 bytes like a libp2p Ed25519 peer
// id (identity multihash of the protobuf-wrapped public key).
func Peer(i int) events.PeerID {
	id := []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}
	sum := sha512.Sum512_256(binary.BigEndian.AppendUint64([]byte("peer"), uint64(i)))
	return events.PeerID(append(id, sum[:]...))
}

// Bytes returns n deterministic bytes derived from label.
func Bytes(label string, n int) []byte {
	out := make([]byte, 0, n)
	for i := 0; len(out) < n; i++ {
		sum := sha512.Sum512([]byte(fmt.Sprintf("%s/%d", label, i)))
		out = append(out, sum[:]...)
	}
	return out[:n]
}

// Hash returns a deterministic hash derived from label.
func Hash(label string) events.Hash {
	return sha512.Sum512_256([]byte(label))
}

// Signed wraps body bytes in a signed envelope of type typ from peer i;
// the signature is filler of the right length, not a real one.
func Signed(typ string, peer int, body []byte) events.Signed {
	return events.Signed{
		Type: typ,
		From: Peer(peer),
		Body: body,
		Sig:  Bytes(fmt.Sprintf("sig/%s/%d/%x", typ, peer, body), 64),
	}
}

func mustMarshal(v any) []byte {
	b, err := events.Marshal(nil, v)
	if err != nil {
		panic(err)
	}
	return b
}

// PingBody returns the encoded ping of peer at its seq-th ping.
func PingBody(peer int, seq uint64) []byte {
	return mustMarshal(&events.Ping{
		PeerID:   Peer(peer),
		Seq:      seq,
		Time:     Epoch.Add(time.Duration(seq) * 3 * time.Second),
		State:    events.StateIdle,
		StakeTx:  fmt.Sprintf("%064x", Hash(fmt.Sprintf("stake/%d", peer))),
		TSSProof: Bytes(fmt.Sprintf("proof/%d/%d", peer, seq), 97),
		KeyID:    Hash("key"),
	})
}

// PingReceived returns a received ping of peer, the event the log holds
// most of (each peer pings every 3 s).
func PingReceived(peer int, seq uint64) *events.PingReceived {
	return &events.PingReceived{Msg: Signed(events.TypePing, peer, PingBody(peer, seq))}
}

// Pings returns count received pings from peers ping-ponging in turn, with
// a tick before every round of pings: the shape of a quiet node's log.
func Pings(count, peers int) []events.Event {
	out := make([]events.Event, 0, count)
	for i := 0; len(out) < count; i++ {
		if i%peers == 0 {
			out = append(out, &events.Tick{Time: Epoch.Add(time.Duration(i/peers) * 3 * time.Second)})
			continue
		}
		out = append(out, PingReceived(i%peers, uint64(i/peers)+1))
	}
	return out
}

// Samples returns one fully populated event of every kind, in kind order.
func Samples() []events.Event {
	params := events.DefaultParams(5, 2)
	params.Network = "testnet"
	params.NodeID = Peer(0)
	params.KeygenUntil = Epoch.Add(time.Hour)
	parties := []events.PeerID{Peer(1), Peer(2), Peer(3)}
	return []events.Event{
		&events.Genesis{Params: params},
		&events.Tick{Time: Epoch},
		PingReceived(1, 1),
		&events.ProposalReceived{Msg: Signed(events.TypeProposal, 2, mustMarshal(&events.Proposal{
			Round: 29453760, M0: Hash("m0"), M1: Hash("m1"),
			Transfers: []string{"tx-a:0", "tx-b:1"}, TSSProof: Bytes("proof", 97),
		}))},
		&events.SigningSetReceived{Msg: Signed(events.TypeSigningSet, 3, mustMarshal(&events.SigningSet{
			Round: 29453760, M0: Hash("m0"), Members: parties,
		}))},
		&events.ChecksumReceived{Msg: Signed(events.TypeChecksum, 1, mustMarshal(&events.Checksum{
			Round: 29453760, Sum: Hash("checksum"), M0: Hash("m0"), Set: parties,
		}))},
		&events.KeygenCommitReceived{Msg: Signed(events.TypeKeygenCommit, 2, mustMarshal(&events.KeygenCommit{
			Epoch: 5890752, Sum: Hash("commit"),
		}))},
		&events.KVEntryReceived{Msg: Signed(events.TypeKVEntry, 3, mustMarshal(&events.KVEntry{
			Amount: 150000, Intent: []byte("pay 150000 to bc1q..."), Nonce: Bytes("pow", 16),
		}))},
		&events.TSSMessageReceived{Msg: Signed(events.TypeTSS, 1, mustMarshal(&events.TSSMessage{
			Session: Hash("session"), To: []events.PeerID{Peer(0)}, Payload: Bytes("tss", 300), FromSide: events.SideOld, ToNew: true,
		}))},
		&events.MessageSent{Msg: Signed(events.TypePing, 0, PingBody(0, 1))},
		&events.StakeChecked{
			Peer: Peer(1), StakeTx: fmt.Sprintf("%064x", Hash("stake/1")), Found: true,
			Confirmed: true, ConfirmedAt: Epoch.Add(-100 * time.Hour), Amount: 5_000_000,
			BoundPeer: Peer(1),
		},
		&events.DepositObserved{
			Chain: "btc", TxID: fmt.Sprintf("%064x", Hash("deposit")), Vout: 1, Amount: 150000,
			Sender: "bc1qsender", Confirmations: 3, SeenAt: Epoch.Add(time.Minute),
		},
		&events.TxConfirmed{Chain: "btc", TxID: fmt.Sprintf("%064x", Hash("payout")), Height: 850000, Confirmations: 1,
			Spends: []string{events.DepositID("btc", fmt.Sprintf("%064x", Hash("deposit")), 1)}},
		&events.TSSSessionStarted{
			Session: Hash("session"), Protocol: events.SessionSigning, Round: 29453760,
			Parties: parties, M0: Hash("m0"),
		},
		&events.TSSSessionFinished{
			Session: Hash("session"), Outcome: events.OutcomeFailed,
			Culprits: []events.PeerID{Peer(2)}, Error: "round 2: bad share from party 2",
		},
		&events.KeyPublished{
			KeyID: Hash("key"), PublicKey: Bytes("pub", 33), Address: "bc1qvault", Threshold: 2,
			SharePoints: []events.SharePoint{{Peer: Peer(1), Point: Bytes("x1", 33), ShareID: Bytes("id1", 32)}, {Peer: Peer(2), Point: Bytes("x2", 33)}},
			Session:     Hash("commit"),
		},
		&events.KeyAnnouncementReceived{Msg: Signed(events.TypeKey, 2, mustMarshal(&events.KeyAnnouncement{
			Session: Hash("commit"), Key: events.KeyPublished{KeyID: Hash("key"), PublicKey: Bytes("pub", 33), Threshold: 2,
				SharePoints: []events.SharePoint{{Peer: Peer(2), Point: Bytes("x2", 33), ShareID: Bytes("id2", 32)}}},
		}))},
		&events.CulpritReportReceived{Msg: Signed(events.TypeCulprits, 3, mustMarshal(&events.CulpritReport{
			Session: Hash("commit"), Culprits: []events.PeerID{Peer(1)}, Error: "round 3: vss verify failed",
		}))},
		&events.EvidenceReceived{Msg: Signed(events.TypeEvidence, 1, mustMarshal(&events.Evidence{
			A: Signed(events.TypeSigningSet, 2, mustMarshal(&events.SigningSet{Round: 29453760, M0: Hash("m0"), Members: parties})),
			B: Signed(events.TypeSigningSet, 2, mustMarshal(&events.SigningSet{Round: 29453760, M0: Hash("other"), Members: parties})),
		}))},
	}
}
