package tsstest

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// CorruptPayload plays a byzantine party: it decodes a tss-lib wire
// message and flips a bit of its first non-empty bytes field (in a
// signing round-1 message the MtA ciphertext, in a keygen round-2 message
// the share), so the message still parses but no longer matches the
// proofs and commitments that come with it. tss-lib must catch it every
// time and name the sender, whatever random values the session drew.
// Tests and the simulator's corrupt-share behaviour use it.
func CorruptPayload(payload []byte) ([]byte, error) {
	var wire anypb.Any
	if err := proto.Unmarshal(payload, &wire); err != nil {
		return nil, fmt.Errorf("corrupt tss payload: %w", err)
	}
	content, err := wire.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("corrupt tss payload: %w", err)
	}
	m := content.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Kind() == protoreflect.BytesKind && !f.IsList() && len(m.Get(f).Bytes()) > 0 {
			b := slices.Clone(m.Get(f).Bytes())
			b[len(b)-1] ^= 0x01
			m.Set(f, protoreflect.ValueOfBytes(b))
			break
		}
	}
	repacked, err := anypb.New(content)
	if err != nil {
		return nil, fmt.Errorf("corrupt tss payload: %w", err)
	}
	return proto.Marshal(repacked)
}
