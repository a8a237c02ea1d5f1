package events

// Protocol messages (PROTOCOL.md section 1). On the wire each travels as a
// Signed envelope: the sender signs "metanode/v1/" + Type || Body with its
// Ed25519 identity key. The log keeps the Signed envelope exactly as
// received, so every log is self-verifying evidence; the typed body is
// decoded from Signed.Body when a projection needs it.

// Message types, which are also the gossip topic names.
const (
	TypePing         = "ping"
	TypeProposal     = "proposal"
	TypeSigningSet   = "signing-set"
	TypeChecksum     = "checksum"
	TypeKeygenCommit = "keygen"
	TypeKVEntry      = "kv"
	TypeTSS          = "tss"
	TypeKey          = "key"
	TypeCulprits     = "culprits"
	TypeEvidence     = "evidence"
)

// Signed is a protocol message as it travelled: the exact body bytes its
// sender signed and the signature over them.
type Signed struct {
	Type string `msgpack:"y"`
	From PeerID `msgpack:"f"`
	Body []byte `msgpack:"b"`
	Sig  []byte `msgpack:"s"`
}

// NodeState is what a node announces in its pings.
type NodeState uint8

// Node states, PROTOCOL.md section 2.
const (
	StateIdle NodeState = iota
	StateKeygen
	StateSigning
	StateCooldown
	StateRegroup
)

func (s NodeState) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateKeygen:
		return "keygen"
	case StateSigning:
		return "signing"
	case StateCooldown:
		return "cooldown"
	case StateRegroup:
		return "regroup"
	}
	return "unknown"
}

// Ping is the continuous liveness and stake announcement (every 3 s).
type Ping struct {
	PeerID   PeerID    `msgpack:"p"`
	Seq      uint64    `msgpack:"q"`
	Time     Time      `msgpack:"t"`
	State    NodeState `msgpack:"s"`
	StakeTx  string    `msgpack:"x"`
	TSSProof []byte    `msgpack:"r"`
	KeyID    Hash      `msgpack:"k"`
	// Genesis is the hash of the sender's network genesis (Params.Genesis):
	// a ping of another network is not counted. Omitted when unset (the
	// simulator's networks), so those pings encode as before.
	Genesis Hash `msgpack:"g,omitempty"`
}

// Proposal is phase 1 of a signing round.
type Proposal struct {
	Round     int64    `msgpack:"r"`
	M0        Hash     `msgpack:"m0"`
	M1        Hash     `msgpack:"m1"`
	Transfers []string `msgpack:"tr"` // sorted transfer ids
	TSSProof  []byte   `msgpack:"p"`
}

// SigningSet is phase 2: the peers whose proposal matched the sender's doc.
type SigningSet struct {
	Round   int64    `msgpack:"r"`
	M0      Hash     `msgpack:"m0"`
	Members []PeerID `msgpack:"mb"` // sorted, sender included
}

// Checksum is phase 3: H(r || m0 || set ids) from a threshold set member,
// with the doc and the set it was computed from. A checksum whose sum is
// not that of its own doc and set is a provable lie: anyone can check it.
type Checksum struct {
	Round int64    `msgpack:"r"`
	Sum   Hash     `msgpack:"c"`
	M0    Hash     `msgpack:"m0"`
	Set   []PeerID `msgpack:"s"` // the threshold set, in seniority order
}

// KeygenCommit opens a keygen or regroup attempt: H(epoch || committee ids).
type KeygenCommit struct {
	Epoch   int64 `msgpack:"e"`
	Regroup bool  `msgpack:"g"`
	Sum     Hash  `msgpack:"c"`
}

// KVEntry is a swap intent in the unconfirmed K/V store, keyed by the exact
// deposit amount and protected by an argon2id proof of work.
type KVEntry struct {
	Amount uint64 `msgpack:"a"`
	Intent []byte `msgpack:"i"`
	Nonce  []byte `msgpack:"n"`
}

// KeyAnnouncement is a new key's public data, broadcast by each member
// of the committee that made it (keygen, or a resharing's new side), so
// that nodes outside the committee take it too: a node adopts a key that
// t+1 members of the attempt's committee announce alike.
type KeyAnnouncement struct {
	Session Hash         `msgpack:"n"` // the keygen or resharing session (the attempt's commit sum)
	Key     KeyPublished `msgpack:"k"`
}

// CulpritReport is a keygen or resharing participant's word that its
// session failed on tss-lib's proof checks naming these culprits, or
// (Timeout) ended at its deadline still waiting for them. The failed
// message was sealed to the participant, so nobody else can check it; a
// node blocks a culprit that t+1 participants of the attempt report, for
// the reason reported, so that every node leaves it out of the next
// keygen committee.
type CulpritReport struct {
	Session  Hash     `msgpack:"n"`
	Culprits []PeerID `msgpack:"c"` // sorted
	Error    string   `msgpack:"e"`
	Timeout  bool     `msgpack:"t"`
}

// Evidence is two different signed messages of one type from one sender
// for one round or epoch: equivocation, which every node can verify from
// the two signatures alone and blocks the sender for.
type Evidence struct {
	A Signed `msgpack:"a"`
	B Signed `msgpack:"b"`
}

// TSSMessage carries one tss-lib message of one session. Point-to-point
// payloads are encrypted to their single recipient.
type TSSMessage struct {
	Session   Hash     `msgpack:"n"`
	To        []PeerID `msgpack:"to"` // empty: every party of the target sides
	Broadcast bool     `msgpack:"b"`
	Payload   []byte   `msgpack:"p"`
	// A resharing's two committees: the sender's side and the sides the
	// message is for (a peer on both sides is two parties). Keygen and
	// signing have one committee: SideOnly, FromSide only.
	FromSide uint8 `msgpack:"fs"`
	ToOld    bool  `msgpack:"o"`
	ToNew    bool  `msgpack:"w"`
	// SealKey is the sender's ephemeral session key (tss.SessionKey): a
	// message with no payload announces it to every party; a sealed
	// point-to-point payload names it beside the ciphertext.
	SealKey []byte `msgpack:"k,omitempty"`
	// Kind and Round are the session's protocol and its signing round or
	// keygen/regroup epoch, as the sender started it (receivers drop a
	// message whose Kind or Round is not their session's): two different
	// broadcasts of one tss-lib round are evidence within the evidence
	// window of that round.
	Kind  SessionKind `msgpack:"kd,omitempty"`
	Round int64       `msgpack:"r,omitempty"`
	// Echo: the hashes of the broadcasts this party received in one
	// tss-lib round (the broadcast consistency check); no payload.
	Echo []BroadcastHash `msgpack:"e,omitempty"`
}

// BroadcastHash names one tss-lib broadcast a party received: its sender
// and side, its tss-lib message type, and H(payload).
type BroadcastHash struct {
	From     PeerID `msgpack:"f"`
	FromSide uint8  `msgpack:"s"`
	Type     string `msgpack:"t"`
	Hash     Hash   `msgpack:"h"`
}

// Sides of a resharing, as TSSMessage.FromSide says them.
const (
	SideOnly uint8 = iota
	SideOld
	SideNew
)
