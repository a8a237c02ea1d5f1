package events

import (
	"fmt"
	"time"
)

// Params are a node's protocol parameters. They are the body of the genesis
// event, the first event of every log, so a replay needs nothing else.
// Every duration of PROTOCOL.md is here; a devnet shrinks them.
type Params struct {
	Network string `msgpack:"net"`
	NodeID  PeerID `msgpack:"id"`

	CommitteeSize int `msgpack:"n"` // n: key share holders
	Threshold     int `msgpack:"t"` // t: a signature needs t+1 shares

	PingInterval time.Duration `msgpack:"pi"`
	PeerExpiry   time.Duration `msgpack:"pe"`
	MaxClockSkew time.Duration `msgpack:"sk"`

	MinStake     uint64        `msgpack:"ms"`
	MinStakeAge  time.Duration `msgpack:"ma"`
	StakeRecheck time.Duration `msgpack:"sr"`

	SigningEpoch    time.Duration `msgpack:"se"`
	ProposalPhase   time.Duration `msgpack:"p1"` // proposals until this offset
	SigningSetPhase time.Duration `msgpack:"p2"` // signing sets until this offset
	CheckPhase      time.Duration `msgpack:"p4"` // checksums until this offset
	SigningDeadline time.Duration `msgpack:"sd"`

	KeygenEpoch     time.Duration `msgpack:"ke"`
	KeygenUntil     Time          `msgpack:"ku"`
	RegroupInterval time.Duration `msgpack:"ri"` // regroup at multiples of this since the unix epoch (00:00 UTC daily)

	Confirmations uint32        `msgpack:"cf"`
	RefundAfter   time.Duration `msgpack:"rf"`

	BlockEquivocation time.Duration `msgpack:"be"`
	BlockCulprit      time.Duration `msgpack:"bc"`
	BlockOutlier      time.Duration `msgpack:"bo"`
	BlockTimeout      time.Duration `msgpack:"bt"`

	// Swap intents (K/V store). Keys added at the end so the encoding of
	// the earlier fields is unchanged.
	IntentPoWTime      uint32 `msgpack:"it"` // argon2id passes
	IntentPoWMemoryKiB uint32 `msgpack:"im"` // argon2id memory
	IntentPoWBits      uint8  `msgpack:"ib"` // leading zero bits the argon2id output needs
	// IntentsPerPeer bounds a peer's unconsumed intents, so one peer
	// cannot squat on every amount.
	IntentsPerPeer int `msgpack:"ik"`
	// ChainSettle: a deposit enters round r's doc only if the chain
	// confirmed it at least this long before the round starts, so every
	// node, whatever its chain view's lag, has seen it by then and builds
	// the same doc. At least the chain adapters' polling lag plus the
	// clock skew between nodes.
	ChainSettle time.Duration `msgpack:"cs"`
	// Genesis is the hash of the network's genesis file (genesis.toml),
	// set by the daemon: its pings carry it, and a node counts only pings
	// of its own network. Zero in a simulation. Omitted when unset, so the
	// genesis of an older log encodes as before.
	Genesis Hash `msgpack:"gh,omitempty"`
}

// DefaultParams are PROTOCOL.md's defaults for a committee of n with
// threshold t. Network, NodeID and KeygenUntil are the caller's.
func DefaultParams(n, t int) Params {
	return Params{
		Network:           "metanode",
		CommitteeSize:     n,
		Threshold:         t,
		PingInterval:      3 * time.Second,
		PeerExpiry:        10 * time.Second,
		MaxClockSkew:      10 * time.Second,
		MinStake:          1,
		MinStakeAge:       72 * time.Hour,
		StakeRecheck:      60 * time.Second,
		SigningEpoch:      time.Minute,
		ProposalPhase:     10 * time.Second,
		SigningSetPhase:   20 * time.Second,
		CheckPhase:        30 * time.Second,
		SigningDeadline:   55 * time.Second,
		KeygenEpoch:       5 * time.Minute,
		RegroupInterval:   24 * time.Hour,
		Confirmations:     1,
		RefundAfter:       24 * time.Hour,
		BlockEquivocation: 72 * time.Hour,
		BlockCulprit:      72 * time.Hour,
		BlockOutlier:      time.Hour,
		BlockTimeout:      10 * time.Minute,
		// ~20 ms per argon2id evaluation on one core: verifying an intent
		// stays cheap for every node and every replay, while 2^8 tries
		// cost its author seconds per intent.
		IntentPoWTime:      1,
		IntentPoWMemoryKiB: 16 << 10,
		IntentPoWBits:      8,
		IntentsPerPeer:     64,
		ChainSettle:        30 * time.Second,
	}
}

// Validate reports the first parameter that cannot work, as one line.
func (p Params) Validate() error {
	var first error
	check := func(ok bool, format string, args ...any) {
		if !ok && first == nil {
			first = fmt.Errorf("params: "+format, args...)
		}
	}
	check(p.Network != "", "network name is empty")
	check(p.CommitteeSize >= 2, "committee size n=%d: need at least 2", p.CommitteeSize)
	check(p.Threshold >= 1 && p.Threshold < p.CommitteeSize, "threshold t=%d: need 1 <= t < n=%d", p.Threshold, p.CommitteeSize)
	// Two threshold sets of t+1 must share a member, or two groups with
	// different views (docs, chain lag) could each start signing in one
	// round (S1): one honest member in both sends one checksum only.
	check(2*(p.Threshold+1) > p.CommitteeSize, "threshold t=%d: two sets of t+1 must overlap in a committee of n=%d (need t >= n/2)", p.Threshold, p.CommitteeSize)
	check(p.PingInterval > 0, "ping interval %v: must be positive", p.PingInterval)
	check(p.PeerExpiry > p.PingInterval, "peer expiry %v: must exceed the ping interval %v", p.PeerExpiry, p.PingInterval)
	check(p.MaxClockSkew > 0, "clock skew %v: must be positive", p.MaxClockSkew)
	check(p.StakeRecheck > 0, "stake recheck %v: must be positive", p.StakeRecheck)
	check(p.MinStakeAge >= 0, "min stake age %v: must not be negative", p.MinStakeAge)
	check(0 < p.ProposalPhase && p.ProposalPhase < p.SigningSetPhase && p.SigningSetPhase < p.CheckPhase &&
		p.CheckPhase < p.SigningDeadline && p.SigningDeadline <= p.SigningEpoch,
		"signing phases %v < %v < %v < %v <= epoch %v: must increase", p.ProposalPhase, p.SigningSetPhase, p.CheckPhase, p.SigningDeadline, p.SigningEpoch)
	check(p.KeygenEpoch > 0, "keygen epoch %v: must be positive", p.KeygenEpoch)
	check(p.RegroupInterval > 0, "regroup interval %v: must be positive", p.RegroupInterval)
	check(p.BlockEquivocation > 0 && p.BlockCulprit > 0 && p.BlockOutlier > 0 && p.BlockTimeout > 0, "block durations must be positive")
	check(p.IntentPoWTime >= 1, "intent pow time %d: need at least 1 pass", p.IntentPoWTime)
	check(p.IntentPoWMemoryKiB >= 8, "intent pow memory %d KiB: need at least 8", p.IntentPoWMemoryKiB)
	check(p.IntentPoWBits <= 32, "intent pow bits %d: at most 32", p.IntentPoWBits)
	check(p.IntentsPerPeer >= 1, "intents per peer %d: need at least 1", p.IntentsPerPeer)
	check(p.ChainSettle >= 0 && p.ChainSettle < p.SigningEpoch*10, "chain settle %v: must be between 0 and ten signing epochs", p.ChainSettle)
	return first
}
