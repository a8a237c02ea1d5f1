package events

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// The codec is msgpack with structs encoded as maps whose keys are the short
// `msgpack` tags, written in declaration order, and integers in their most
// compact form. Both choices are deterministic: the bytes depend on the value
// alone. Maps as structs (not arrays) let a kind gain fields compatibly.

type encoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

var encoderPool = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	e.enc.UseCompactInts(true)
	return e
}}

// Marshal encodes v (an event, a message body or a value inside one) in the
// canonical form. It appends to dst and returns the extended slice.
func Marshal(dst []byte, v any) ([]byte, error) {
	e := encoderPool.Get().(*encoder)
	defer encoderPool.Put(e)
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return dst, fmt.Errorf("encode %T: %w", v, err)
	}
	return append(dst, e.buf.Bytes()...), nil
}

type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoderPool = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

// Unmarshal decodes data into v, which must be a pointer. Trailing bytes
// after the value are an error: a body is exactly one value.
func Unmarshal(data []byte, v any) error {
	if err := checkBounds(data); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	d := decoderPool.Get().(*decoder)
	defer decoderPool.Put(d)
	d.r.Reset(data)
	d.dec.ResetReader(&d.r)
	if err := d.dec.Decode(v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	if n := d.r.Len(); n != 0 {
		return fmt.Errorf("decode %T: %d trailing bytes", v, n)
	}
	return nil
}

// EncodeEvent returns the body bytes of ev, appended to dst.
func EncodeEvent(dst []byte, ev Event) ([]byte, error) {
	if !ev.Kind().Known() {
		return dst, fmt.Errorf("encode event: %w: %d", ErrUnknownKind, uint16(ev.Kind()))
	}
	return Marshal(dst, ev)
}

// DecodeEvent decodes the body of an event of kind k.
func DecodeEvent(k Kind, body []byte) (Event, error) {
	if k == KindPingReceived { // most of every log
		var e PingReceived
		if decodeCanonicalPingReceived(body, &e) {
			return &e, nil
		}
	}
	ev, err := newEvent(k)
	if err != nil {
		return nil, err
	}
	if err := Unmarshal(body, ev); err != nil {
		return nil, fmt.Errorf("%s event: %w", k, err)
	}
	return ev, nil
}
