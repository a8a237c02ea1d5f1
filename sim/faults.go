package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Behaviour is a byzantine behaviour a node can be given.
type Behaviour string

// The behaviours.
const (
	Equivocate    Behaviour = "equivocate"     // two different proposals per round
	Forge         Behaviour = "forge"          // every other message carries a bad signature
	Replay        Behaviour = "replay"         // re-sends its first ping with every ping
	YoungStake    Behaviour = "young-stake"    // its stake is younger than min_stake_age
	MovedStake    Behaviour = "moved-stake"    // moves its stake a third into the run
	Clone         Behaviour = "clone"          // holds a copy of node 0's share
	WrongChecksum Behaviour = "wrong-checksum" // broadcasts a wrong checksum
	SmallSets     Behaviour = "small-sets"     // broadcasts signing sets under t+1
	Silent        Behaviour = "silent"         // sends nothing
	// With real tss (--tss):
	CorruptShare Behaviour = "corrupt-share" // corrupts every point-to-point tss message it sends
	TSSSilent    Behaviour = "tss-silent"    // takes part in everything but sends no tss message
	// Frame: the node's own log blames node N-1 for a tss failure it never
	// caused (a local block, unverifiable by others), 8 minutes in.
	Frame Behaviour = "frame"
	// Targeted (adversaries.go): different messages to different nodes,
	// or timed to split their views.
	EquivocateSet      Behaviour = "equivocate-set"      // one signing set to half the nodes, another to the rest
	EquivocateChecksum Behaviour = "equivocate-checksum" // two consistent checksums of different sets
	EquivocateCommit   Behaviour = "equivocate-commit"   // two different keygen/regroup commits
	LateSet            Behaviour = "late-set"            // its set lands just before the cut-off at half the nodes, just after at the rest
	CorruptShareOne    Behaviour = "corrupt-share-one"   // with --tss: corrupts only what it sends one peer
	// EquivocateBroadcast (with --tss): one version of each tss-lib
	// broadcast to the nodes below it, another to those above, and neither
	// relayed (as over direct streams): only the broadcast check's echo
	// can tell.
	EquivocateBroadcast Behaviour = "equivocate-broadcast"
	CommitWrong         Behaviour = "commit-wrong"  // commits to a wrong sum
	CommitSilent        Behaviour = "commit-silent" // never commits
	LateChecksum        Behaviour = "late-checksum" // its checksum lands just before the check phase ends at half the nodes, just after at the rest
	LateCommit          Behaviour = "late-commit"   // its keygen/regroup commit lands just before the commit phase ends at half the nodes, just after at the rest
	// Spam: the node also floods every topic from unstaked identities (spam.go).
	Spam Behaviour = "spam"
)

// Behaviours lists every behaviour.
var Behaviours = []Behaviour{Equivocate, Forge, Replay, YoungStake, MovedStake, Clone, WrongChecksum, SmallSets, Silent, CorruptShare, TSSSilent, Frame,
	EquivocateSet, EquivocateChecksum, EquivocateCommit, LateSet, CorruptShareOne, CommitWrong, CommitSilent, LateChecksum, LateCommit, Spam, IntentSquat, EquivocateBroadcast}

// Fault gives node Node a behaviour.
type Fault struct {
	Behaviour Behaviour
	Node      int
}

// ParseFaults reads "KIND@INDEX,KIND@INDEX".
func ParseFaults(s string) ([]Fault, error) {
	var faults []Fault
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kind, index, ok := strings.Cut(part, "@")
		if !ok {
			return nil, fmt.Errorf("byzantine %q: want KIND@INDEX, e.g. equivocate@3", part)
		}
		b := Behaviour(kind)
		if !slices.Contains(Behaviours, b) {
			return nil, fmt.Errorf("byzantine %q: unknown behaviour %q (known: %v)", part, kind, Behaviours)
		}
		i, err := strconv.Atoi(index)
		if err != nil || i < 0 {
			return nil, fmt.Errorf("byzantine %q: node index %q is not a number", part, index)
		}
		faults = append(faults, Fault{Behaviour: b, Node: i})
	}
	return faults, nil
}

// Partition cuts the listed nodes off from the others between two
// offsets from the start of the run.
type Partition struct {
	From, Until time.Duration
	Nodes       []int
}

// ParsePartition reads "FROM-UNTIL:I,J,K", e.g. "5m-10m:0,1".
func ParsePartition(s string) (Partition, error) {
	window, nodes, ok := strings.Cut(s, ":")
	from, until, ok2 := strings.Cut(window, "-")
	if !ok || !ok2 {
		return Partition{}, fmt.Errorf("partition %q: want FROM-UNTIL:I,J (e.g. 5m-10m:0,1)", s)
	}
	var p Partition
	var err error
	if p.From, err = time.ParseDuration(from); err != nil {
		return p, fmt.Errorf("partition %q: %v", s, err)
	}
	if p.Until, err = time.ParseDuration(until); err != nil {
		return p, fmt.Errorf("partition %q: %v", s, err)
	}
	for _, n := range strings.Split(nodes, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil {
			return p, fmt.Errorf("partition %q: node %q is not a number", s, n)
		}
		p.Nodes = append(p.Nodes, i)
	}
	if p.Until <= p.From {
		return p, fmt.Errorf("partition %q: ends before it starts", s)
	}
	return p, nil
}
