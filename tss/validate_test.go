package tss

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestRealMessagesPass: every message of the recorded keygen, signing
// and resharing passes validation at its recipient, and the largest
// value of each field stays within its bound (logged, for the bounds'
// documentation).
func TestRealMessagesPass(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record func(testing.TB) *recording
	}{{"keygen", keygenRecording}, {"signing", signingRecording}, {"resharing", resharingRecording}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.record(t)
			largest := map[string]int{}
			for i := range rec.messages {
				d := rec.message(i)
				v := rec.validatorOf(d.to)
				if kind, err := v.check(d.in); err != nil {
					t.Fatalf("delivery %d (%s): %v", i, kind, err)
				}
				var wire anypb.Any
				if err := proto.Unmarshal(d.in.Payload, &wire); err != nil {
					t.Fatal(err)
				}
				content, err := wire.UnmarshalNew()
				if err != nil {
					t.Fatal(err)
				}
				name := string(wire.MessageName().Name())
				largest[name] = max(largest[name], len(d.in.Payload))
				m := content.ProtoReflect()
				m.Range(func(f protoreflect.FieldDescriptor, value protoreflect.Value) bool {
					key := fmt.Sprintf("%s.%s", name, f.Name())
					if f.IsList() {
						for k := range value.List().Len() {
							largest[key] = max(largest[key], len(value.List().Get(k).Bytes()))
						}
					} else {
						largest[key] = max(largest[key], len(value.Bytes()))
					}
					return true
				})
			}
			for _, key := range slices.Sorted(maps.Keys(largest)) {
				t.Logf("%-40s %6d bytes", key, largest[key])
			}
		})
	}
}

// validatorOf is the validator of a recorded party's session.
func (rec *recording) validatorOf(party int) validator {
	p := rec.parties[party]
	v := validator{side: p.side}
	switch {
	case p.side != SideOnly:
		v.protocol = protocolResharing
		for _, q := range rec.parties {
			if q.side == SideNew {
				v.parties++
			}
		}
	default:
		v.protocol = rec.protocol
		v.parties = len(rec.parties)
	}
	return v
}

// TestValidateRejects: real messages made wrong in one way each are
// rejected, counted, and never reach the session.
func TestValidateRejects(t *testing.T) {
	signing := signingRecording(t)
	resharing := resharingRecording(t)
	keygen := keygenRecording(t)
	// signing delivery 4: round 2 to party 0; resharing 0: round 1 (old
	// to new), 6: round 2's ack to the old side; keygen 2: a share.
	reroute := func(in Incoming, f func(*Incoming)) Incoming { f(&in); return in }
	program := func(in Incoming, p ...byte) Incoming {
		out, ok := mutate(in, p, nil)
		if !ok {
			t.Fatal("mutation failed")
		}
		return out
	}
	tests := []struct {
		name string
		rec  *recording
		i    int
		in   Incoming
	}{
		{"not protobuf", signing, 4, reroute(signing.message(4).in, func(in *Incoming) { in.Payload = []byte{0xff, 0xff, 0xff} })},
		{"empty", signing, 4, reroute(signing.message(4).in, func(in *Incoming) { in.Payload = nil })},
		{"too large", signing, 4, reroute(signing.message(4).in, func(in *Incoming) { in.Payload = make([]byte, 1<<20) })},
		{"a keygen message in signing", signing, 4, reroute(keygen.message(2).in, func(in *Incoming) { in.Session = signing.message(4).in.Session })},
		{"point-to-point sent as broadcast", signing, 4, reroute(signing.message(4).in, func(in *Incoming) { in.Broadcast = true })},
		{"broadcast sent point-to-point", signing, 6, reroute(signing.message(6).in, func(in *Incoming) { in.Broadcast = false })},
		{"a side in signing", signing, 4, reroute(signing.message(4).in, func(in *Incoming) { in.FromSide = SideOld })},
		{"resharing round 1 from the new side", resharing, 0, reroute(resharing.message(0).in, func(in *Incoming) { in.FromSide = SideNew })},
		{"an ack for the old side at a new party", resharing, 0, reroute(resharing.message(6).in, func(in *Incoming) {})},
		{"proof part missing", signing, 4, program(signing.message(4).in, opDelete, 2, 0, 0)},
		{"proof part oversized", signing, 4, program(signing.message(4).in, opExtend, 2, 0, 3)},
		{"s1 = q", signing, 4, program(signing.message(4).in, opConst, 3, 6, 3)},
		{"zero share", keygen, 2, program(keygen.message(2).in, opConst, 0, 0, 1)},
		{"share = q", keygen, 2, program(keygen.message(2).in, opConst, 0, 0, 3)},
		{"unknown field", signing, 4, reroute(signing.message(4).in, func(in *Incoming) {
			var wire anypb.Any
			if err := proto.Unmarshal(in.Payload, &wire); err != nil {
				t.Fatal(err)
			}
			wire.Value = append(wire.Value, 0xa8, 0x1f, 0x01) // field 501, varint 1
			in.Payload, _ = proto.Marshal(&wire)
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.rec.validatorOf(tc.rec.message(tc.i).to)
			if _, err := v.check(tc.in); err == nil {
				t.Fatal("accepted")
			}
			victim, _ := tc.rec.takeVictim(tc.rec.messages[tc.i], time.Now())
			before := total(Rejections())
			if out := victim.deliver(tc.in); out != nil {
				t.Fatalf("a rejected message produced %d messages", len(out))
			}
			if after := total(Rejections()); after != before+1 {
				t.Fatalf("rejections went from %d to %d", before, after)
			}
			// The party is as it was: the real message still works.
			victim.deliver(tc.rec.message(tc.i).in)
			if outcome, err, over := victim.outcome(); over {
				t.Fatalf("the party ended: %s %v", outcome, err)
			}
		})
	}
}

func total(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
