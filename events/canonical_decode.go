package events

import "math"

// DecodePing decodes a ping body. Pings are most of every log and every
// replay folds them, so the canonical form (what Marshal writes) is read
// directly; any other valid form goes through the general decoder, and
// both give the same Ping (FuzzDecodePing checks this).
func DecodePing(b []byte, p *Ping) error {
	if decodeCanonicalPing(b, p) {
		return nil
	}
	*p = Ping{}
	return Unmarshal(b, p)
}

// canonicalReader reads the msgpack forms the canonical encoder writes;
// any other form sets ok to false and the caller falls back to the
// general decoder.
type canonicalReader struct {
	b  []byte
	i  int
	ok bool
}

func (r *canonicalReader) byte() byte {
	if r.i >= len(r.b) {
		r.ok = false
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *canonicalReader) take(n int) []byte {
	if n < 0 || n > len(r.b)-r.i {
		r.ok = false
		return nil
	}
	s := r.b[r.i : r.i+n]
	r.i += n
	return s
}

// be reads an n-byte big-endian unsigned integer.
func (r *canonicalReader) be(n int) uint64 {
	data := r.take(n)
	if len(data) != n {
		return 0
	}
	var v uint64
	for _, c := range data {
		v = v<<8 | uint64(c)
	}
	return v
}

func (r *canonicalReader) key(k byte) {
	if r.byte() != 0xa1 || r.byte() != k {
		r.ok = false
	}
}

// uint reads a compact non-negative integer.
func (r *canonicalReader) uint() uint64 {
	c := r.byte()
	switch {
	case c <= 0x7f:
		return uint64(c)
	case c == 0xcc:
		return uint64(r.byte())
	case c == 0xcd:
		return r.be(2)
	case c == 0xce:
		return r.be(4)
	case c == 0xcf:
		return r.be(8)
	}
	r.ok = false
	return 0
}

func (r *canonicalReader) length(c byte, fix byte, fixMask byte, op8 byte) int {
	switch {
	case fixMask != 0 && c&^fixMask == fix:
		return int(c & fixMask)
	case c == op8:
		return int(r.byte())
	case c == op8+1:
		return int(r.be(2))
	case c == op8+2:
		return int(r.be(4))
	}
	r.ok = false
	return 0
}

func (r *canonicalReader) str() string {
	c := r.byte()
	return string(r.take(r.length(c, 0xa0, 0x1f, 0xd9)))
}

// bin reads binary data (copied: the input may be a log page) or nil.
func (r *canonicalReader) bin() []byte {
	c := r.byte()
	if c == 0xc0 {
		return nil
	}
	data := r.take(r.length(c, 0, 0, 0xc4))
	if !r.ok {
		return nil
	}
	return append(make([]byte, 0, len(data)), data...)
}

func decodeCanonicalPing(b []byte, p *Ping) bool {
	r := canonicalReader{b: b, ok: true}
	fields := r.byte()
	if fields != 0x87 && fields != 0x88 { // 8 with the genesis hash
		return false
	}
	var out Ping
	r.key('p')
	out.PeerID = PeerID(r.str())
	r.key('q')
	out.Seq = r.uint()
	r.key('t')
	t := r.uint() // the encoder writes non-negative int64s as uints
	if t > math.MaxInt64 {
		return false
	}
	out.Time = Time(t)
	r.key('s')
	s := r.uint()
	if s > math.MaxUint8 {
		return false
	}
	out.State = NodeState(s)
	r.key('x')
	out.StakeTx = r.str()
	r.key('r')
	out.TSSProof = r.bin()
	r.key('k')
	if r.byte() != 0xc4 || r.byte() != 32 {
		return false
	}
	copy(out.KeyID[:], r.take(32))
	if fields == 0x88 {
		r.key('g')
		if r.byte() != 0xc4 || r.byte() != 32 {
			return false
		}
		copy(out.Genesis[:], r.take(32))
		if out.Genesis.IsZero() {
			return false // the encoder omits a zero hash
		}
	}
	if !r.ok || r.i != len(b) {
		return false
	}
	*p = out
	return true
}

// decodeCanonicalPingReceived reads the canonical form of a received
// ping: {m: {y: type, f: from, b: body, s: sig}}.
func decodeCanonicalPingReceived(b []byte, e *PingReceived) bool {
	r := canonicalReader{b: b, ok: true}
	if r.byte() != 0x81 {
		return false
	}
	r.key('m')
	if r.byte() != 0x84 {
		return false
	}
	var m Signed
	r.key('y')
	m.Type = r.str()
	r.key('f')
	m.From = PeerID(r.str())
	r.key('b')
	m.Body = r.bin()
	r.key('s')
	m.Sig = r.bin()
	if !r.ok || r.i != len(b) {
		return false
	}
	e.Msg = m
	return true
}
