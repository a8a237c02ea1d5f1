package node

import (
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/internal/durable"
)

// The high-water mark: like horcrux's sign state, the node never signs
// two different messages of one type for one round (or keygen epoch), nor
// one for a round below the last it signed, nor starts signing two docs
// for one round. The marks come from the log (every MessageSent and
// signing start, whichever replica logged them) and, with HighWaterFile,
// from a file this machine writes before a new mark's message leaves, so
// a log restored from an old backup cannot make it sign again.

// ErrDoubleSign: the message would break the high-water mark; it was not
// signed.
var ErrDoubleSign = errors.New("refused: a different message for a round already signed, or a round below the mark")

// mark is the last round of one message type signed, and what.
type mark struct {
	Round int64       `json:"round"`
	Body  events.Hash `json:"body"`
}

type highWater struct {
	path    string
	marks   map[string]mark       // by message type
	signing map[int64]events.Hash // signing round -> the doc's M0
	refused uint64
}

// signingMarksKept bounds the signing rounds remembered.
const signingMarksKept = 64

type highWaterFile struct {
	Marks   map[string]mark       `json:"marks"`
	Signing map[int64]events.Hash `json:"signing"`
}

func openHighWater(path string) (*highWater, error) {
	hw := &highWater{path: path, marks: map[string]mark{}, signing: map[int64]events.Hash{}}
	if path == "" {
		return hw, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return hw, nil
	}
	if err != nil {
		return nil, fmt.Errorf("high-water mark: %w", err)
	}
	var f highWaterFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("high-water mark %s: %w", path, err)
	}
	for typ, m := range f.Marks {
		hw.marks[typ] = m
	}
	for r, m0 := range f.Signing {
		hw.signing[r] = m0
	}
	return hw, nil
}

// markOf is the mark a message of a marked type falls under (its type;
// keygen and regroup commits apart, their epochs count differently) and
// the round (or epoch) it is for.
func markOf(typ string, body []byte) (string, int64, bool) {
	r, ok := roundOf(typ, body)
	if ok && typ == events.TypeKeygenCommit {
		var c events.KeygenCommit
		_ = events.Unmarshal(body, &c)
		if c.Regroup {
			return typ + "/regroup", r, true
		}
		return typ + "/keygen", r, true
	}
	return typ, r, ok
}

func roundOf(typ string, body []byte) (int64, bool) {
	switch typ {
	case events.TypeProposal:
		var p events.Proposal
		return p.Round, events.Unmarshal(body, &p) == nil
	case events.TypeSigningSet:
		var s events.SigningSet
		return s.Round, events.Unmarshal(body, &s) == nil
	case events.TypeChecksum:
		var c events.Checksum
		return c.Round, events.Unmarshal(body, &c) == nil
	case events.TypeKeygenCommit:
		var c events.KeygenCommit
		return c.Epoch, events.Unmarshal(body, &c) == nil
	}
	return 0, false
}

// note takes the marks of a logged event.
func (hw *highWater) note(ev events.Event, self events.PeerID) {
	switch e := ev.(type) {
	case *events.MessageSent:
		if e.Msg.From != self {
			return
		}
		if key, r, ok := markOf(e.Msg.Type, e.Msg.Body); ok {
			if m, had := hw.marks[key]; !had || r >= m.Round {
				hw.marks[key] = mark{Round: r, Body: sha512.Sum512_256(e.Msg.Body)}
			}
		}
	case *events.TSSSessionStarted:
		if e.Protocol == events.SessionSigning {
			hw.noteSigning(e.Round, e.M0)
		}
	}
}

func (hw *highWater) noteSigning(round int64, m0 events.Hash) {
	if _, had := hw.signing[round]; had {
		return
	}
	hw.signing[round] = m0
	for r := range hw.signing {
		if r <= round-signingMarksKept {
			delete(hw.signing, r)
		}
	}
}

// admit checks a message about to be signed against the mark and, for a
// new mark, writes the file before it is signed.
func (hw *highWater) admit(typ string, body []byte) error {
	key, r, ok := markOf(typ, body)
	if !ok {
		return nil
	}
	sum := sha512.Sum512_256(body)
	m, had := hw.marks[key]
	if had && (r < m.Round || r == m.Round && sum != m.Body) {
		hw.refused++
		return fmt.Errorf("%s for round %d (last signed: round %d): %w", typ, r, m.Round, ErrDoubleSign)
	}
	if had && r == m.Round {
		return nil
	}
	hw.marks[key] = mark{Round: r, Body: sum}
	return hw.save()
}

// admitSigning checks a signing start: one doc per round.
func (hw *highWater) admitSigning(round int64, m0 events.Hash) error {
	if had, ok := hw.signing[round]; ok && had != m0 {
		hw.refused++
		return fmt.Errorf("signing round %d: another doc was signed in it: %w", round, ErrDoubleSign)
	}
	hw.noteSigning(round, m0)
	return hw.save()
}

// current says whether m is the last of its type signed (or of a type
// without marks): what a new leader sends again.
func (hw *highWater) current(m *events.Signed) bool {
	key, r, ok := markOf(m.Type, m.Body)
	return !ok || hw.marks[key].Round == r
}

func (hw *highWater) save() error {
	if hw.path == "" {
		return nil
	}
	data, err := json.Marshal(highWaterFile{Marks: hw.marks, Signing: hw.signing})
	if err != nil {
		return err
	}
	if err := durable.WriteFile(hw.path, data, 0o600); err != nil {
		return fmt.Errorf("high-water mark: %w", err)
	}
	return nil
}
