package daemon

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
)

// Genesis is a network's genesis.toml: its protocol parameters and,
// optionally, the key it starts on (a devnet starts on a test key; a
// real network runs keygen). It is identical on every node of a network;
// its hash is in every ping and in the first event of every node's log.
type Genesis struct {
	Network       string   `toml:"network"`
	CommitteeSize int      `toml:"committee_size"`
	Threshold     int      `toml:"threshold"`
	PingInterval  duration `toml:"ping_interval"`
	PeerExpiry    duration `toml:"peer_expiry"`
	MaxClockSkew  duration `toml:"max_clock_skew"`

	MinStake     uint64   `toml:"min_stake"`
	MinStakeAge  duration `toml:"min_stake_age"`
	StakeRecheck duration `toml:"stake_recheck"`

	SigningEpoch    duration `toml:"signing_epoch"`
	ProposalPhase   duration `toml:"proposal_phase"`
	SigningSetPhase duration `toml:"signing_set_phase"`
	CheckPhase      duration `toml:"check_phase"`
	SigningDeadline duration `toml:"signing_deadline"`

	KeygenEpoch     duration `toml:"keygen_epoch"`
	KeygenUntil     string   `toml:"keygen_until"` // RFC 3339 with an offset, quoted
	RegroupInterval duration `toml:"regroup_interval"`

	Confirmations uint32   `toml:"confirmations"`
	RefundAfter   duration `toml:"refund_after"`
	ChainSettle   duration `toml:"chain_settle"`

	BlockEquivocation duration `toml:"block_equivocation"`
	BlockCulprit      duration `toml:"block_culprit"`
	BlockOutlier      duration `toml:"block_outlier"`
	BlockTimeout      duration `toml:"block_timeout"`

	IntentPoWTime      uint32 `toml:"intent_pow_time"`
	IntentPoWMemoryKiB uint32 `toml:"intent_pow_memory_kib"`
	IntentPoWBits      uint8  `toml:"intent_pow_bits"`
	IntentsPerPeer     int    `toml:"intents_per_peer"`

	Key *GenesisKey `toml:"key,omitempty"`

	// Comment is written at the top of genesis.toml, a "# " before each
	// line (a devnet says there that its key is a test key); it is not
	// part of the network's hash.
	Comment string `toml:"-"`
}

// GenesisKey is the key a network starts on.
type GenesisKey struct {
	KeyID       string              `toml:"key_id"`
	PublicKey   string              `toml:"public_key"`
	Address     string              `toml:"address"`
	Threshold   int                 `toml:"threshold"`
	SharePoints []GenesisSharePoint `toml:"share_points"`
}

// GenesisSharePoint is one member's public share point.
type GenesisSharePoint struct {
	Peer    string `toml:"peer"`
	Point   string `toml:"point"`
	ShareID string `toml:"share_id"` // the member's tss-lib party key, hex
}

// duration is a time.Duration written as "3s" in TOML.
type duration time.Duration

func (d duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want e.g. \"3s\" or \"1m30s\"", b)
	}
	*d = duration(v)
	return nil
}

// GenesisOf writes params (and a starting key) as a genesis.
func GenesisOf(p events.Params, key *events.KeyPublished) Genesis {
	g := Genesis{
		Network: p.Network, CommitteeSize: p.CommitteeSize, Threshold: p.Threshold,
		PingInterval: duration(p.PingInterval), PeerExpiry: duration(p.PeerExpiry), MaxClockSkew: duration(p.MaxClockSkew),
		MinStake: p.MinStake, MinStakeAge: duration(p.MinStakeAge), StakeRecheck: duration(p.StakeRecheck),
		SigningEpoch: duration(p.SigningEpoch), ProposalPhase: duration(p.ProposalPhase), SigningSetPhase: duration(p.SigningSetPhase),
		CheckPhase: duration(p.CheckPhase), SigningDeadline: duration(p.SigningDeadline),
		KeygenEpoch: duration(p.KeygenEpoch), KeygenUntil: p.KeygenUntil.Std().UTC().Format(time.RFC3339Nano), RegroupInterval: duration(p.RegroupInterval),
		Confirmations: p.Confirmations, RefundAfter: duration(p.RefundAfter), ChainSettle: duration(p.ChainSettle),
		BlockEquivocation: duration(p.BlockEquivocation), BlockCulprit: duration(p.BlockCulprit),
		BlockOutlier: duration(p.BlockOutlier), BlockTimeout: duration(p.BlockTimeout),
		IntentPoWTime: p.IntentPoWTime, IntentPoWMemoryKiB: p.IntentPoWMemoryKiB, IntentPoWBits: p.IntentPoWBits,
		IntentsPerPeer: p.IntentsPerPeer,
	}
	if key != nil {
		k := &GenesisKey{KeyID: key.KeyID.String(), PublicKey: hex.EncodeToString(key.PublicKey), Address: key.Address, Threshold: key.Threshold}
		for _, sp := range key.SharePoints {
			k.SharePoints = append(k.SharePoints, GenesisSharePoint{Peer: peer.ID(sp.Peer).String(), Point: hex.EncodeToString(sp.Point), ShareID: hex.EncodeToString(sp.ShareID)})
		}
		g.Key = k
	}
	return g
}

// Params are the genesis's protocol parameters, Genesis set to its hash.
func (g Genesis) Params() (events.Params, error) {
	p := g.paramsOf()
	if _, err := g.keygenUntil(); err != nil {
		return p, err
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("genesis: %w", err)
	}
	if _, err := g.StartKey(); err != nil {
		return p, err
	}
	hash, err := g.Hash()
	if err != nil {
		return p, err
	}
	p.Genesis = hash
	return p, nil
}

// StartKey is the key the network starts on, if the genesis names one.
func (g Genesis) StartKey() (*events.KeyPublished, error) {
	if g.Key == nil {
		return nil, nil
	}
	key := &events.KeyPublished{Address: g.Key.Address, Threshold: g.Key.Threshold}
	id, err := hex.DecodeString(g.Key.KeyID)
	if err != nil || len(id) != len(key.KeyID) {
		return nil, fmt.Errorf("genesis: [key] key_id %q: want 64 hex digits", g.Key.KeyID)
	}
	copy(key.KeyID[:], id)
	if key.PublicKey, err = hex.DecodeString(g.Key.PublicKey); err != nil || len(key.PublicKey) != 33 {
		return nil, fmt.Errorf("genesis: [key] public_key: want a 33-byte compressed point in hex")
	}
	for i, sp := range g.Key.SharePoints {
		point, err := hex.DecodeString(sp.Point)
		if err != nil || len(point) != 33 {
			return nil, fmt.Errorf("genesis: [key] share point %d: want a 33-byte compressed point in hex", i)
		}
		peerID, err := peer.Decode(sp.Peer)
		if err != nil {
			return nil, fmt.Errorf("genesis: [key] share point %d: peer %q: %v", i, sp.Peer, err)
		}
		shareID, err := hex.DecodeString(sp.ShareID)
		if err != nil || len(shareID) == 0 || len(shareID) > 32 {
			return nil, fmt.Errorf("genesis: [key] share point %d: share_id: want the party key in hex", i)
		}
		key.SharePoints = append(key.SharePoints, events.SharePoint{Peer: events.PeerID(peerID), Point: point, ShareID: shareID})
	}
	if events.KeyIDOf(key.PublicKey, key.SharePoints) != key.KeyID {
		return nil, errors.New("genesis: [key] key_id is not the id of its public key and share points")
	}
	if len(key.SharePoints) != g.CommitteeSize || key.Threshold != g.Threshold {
		return nil, fmt.Errorf("genesis: [key] has %d share points and threshold %d, the committee %d and %d",
			len(key.SharePoints), key.Threshold, g.CommitteeSize, g.Threshold)
	}
	return key, nil
}

// Hash identifies the network: SHA-512/256 of the canonical encoding of
// its parameters (without any node's id) and starting key, so the
// genesis file's formatting and comments do not matter.
func (g Genesis) Hash() (events.Hash, error) {
	params := g.paramsOf()
	key, err := g.StartKey()
	if err != nil {
		return events.Hash{}, err
	}
	body, err := events.Marshal(nil, &struct {
		Params events.Params        `msgpack:"p"`
		Key    *events.KeyPublished `msgpack:"k"`
	}{params, key})
	if err != nil {
		return events.Hash{}, err
	}
	return sha512.Sum512_256(append([]byte("metanode/genesis/v1\x00"), body...)), nil
}

// keygenUntil parses keygen_until: RFC 3339 with an offset, so nodes in
// different time zones agree on the instant and the network's hash.
func (g Genesis) keygenUntil() (time.Time, error) {
	if g.KeygenUntil == "" {
		return time.Time{}, errors.New("genesis: keygen_until is missing")
	}
	t, err := time.Parse(time.RFC3339Nano, g.KeygenUntil)
	if err != nil {
		return t, fmt.Errorf("genesis: keygen_until %q: want an RFC 3339 time with an offset, e.g. \"2026-11-24T00:00:00Z\"", g.KeygenUntil)
	}
	return t.UTC(), nil
}

// paramsOf converts without validating or hashing.
func (g Genesis) paramsOf() events.Params {
	until, _ := g.keygenUntil()
	return events.Params{
		Network: g.Network, CommitteeSize: g.CommitteeSize, Threshold: g.Threshold,
		PingInterval: time.Duration(g.PingInterval), PeerExpiry: time.Duration(g.PeerExpiry), MaxClockSkew: time.Duration(g.MaxClockSkew),
		MinStake: g.MinStake, MinStakeAge: time.Duration(g.MinStakeAge), StakeRecheck: time.Duration(g.StakeRecheck),
		SigningEpoch: time.Duration(g.SigningEpoch), ProposalPhase: time.Duration(g.ProposalPhase), SigningSetPhase: time.Duration(g.SigningSetPhase),
		CheckPhase: time.Duration(g.CheckPhase), SigningDeadline: time.Duration(g.SigningDeadline),
		KeygenEpoch: time.Duration(g.KeygenEpoch), KeygenUntil: events.TimeOf(until), RegroupInterval: time.Duration(g.RegroupInterval),
		Confirmations: g.Confirmations, RefundAfter: time.Duration(g.RefundAfter), ChainSettle: time.Duration(g.ChainSettle),
		BlockEquivocation: time.Duration(g.BlockEquivocation), BlockCulprit: time.Duration(g.BlockCulprit),
		BlockOutlier: time.Duration(g.BlockOutlier), BlockTimeout: time.Duration(g.BlockTimeout),
		IntentPoWTime: g.IntentPoWTime, IntentPoWMemoryKiB: g.IntentPoWMemoryKiB, IntentPoWBits: g.IntentPoWBits,
		IntentsPerPeer: g.IntentsPerPeer,
	}
}

// LoadGenesis reads DIR/genesis.toml; unknown keys are an error.
func LoadGenesis(home string) (Genesis, events.Params, error) {
	return LoadGenesisFile(filepath.Join(home, GenesisFile))
}

// LoadGenesisFile reads a genesis.toml.
func LoadGenesisFile(path string) (Genesis, events.Params, error) {
	var g Genesis
	meta, err := toml.DecodeFile(path, &g)
	if errors.Is(err, os.ErrNotExist) {
		return g, events.Params{}, fmt.Errorf("%s: no genesis: copy the network's genesis.toml there", path)
	}
	if err != nil {
		return g, events.Params{}, fmt.Errorf("%s: %s", path, oneLine(err))
	}
	if undecoded := meta.Undecoded(); len(undecoded) > 0 {
		return g, events.Params{}, fmt.Errorf("%s: unknown setting %q", path, undecoded[0].String())
	}
	p, err := g.Params()
	if err != nil {
		return g, p, fmt.Errorf("%s: %w", path, err)
	}
	return g, p, nil
}

// Encode writes the genesis as TOML.
func (g Genesis) Encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# The network's genesis: identical on every node. Its hash is in every ping;\n# a node refuses a genesis whose hash differs from the one its log started with.\n")
	if g.Comment != "" {
		for _, line := range strings.Split(g.Comment, "\n") {
			buf.WriteString(strings.TrimRight("# "+line, " ") + "\n")
		}
	}
	if err := toml.NewEncoder(&buf).Encode(g); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
