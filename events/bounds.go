package events

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// checkBounds walks one msgpack value without allocating and checks that
// every length it declares fits in the bytes that follow: a string or
// binary no longer than what remains, and an array or map with no more
// elements than remaining bytes (each element takes at least one).
//
// msgpack v5.4.1 preallocates a slice of whatever length a value declares
// (its allocation limit is bypassed by a flag test that is always true), so
// without this check a 20-byte message could make the decoder allocate
// gigabytes. Found by FuzzMessageBodies.
func checkBounds(b []byte) error {
	pending := 1 // values still to read
	i := 0
	for pending > 0 {
		if i >= len(b) {
			return errTruncated
		}
		c := b[i]
		i++
		pending--
		var skip, items int // bytes to skip, values to add
		switch {
		case c <= 0x7f || c >= 0xe0: // positive / negative fixint
		case c <= 0x8f: // fixmap
			items = 2 * int(c&0x0f)
		case c <= 0x9f: // fixarray
			items = int(c & 0x0f)
		case c <= 0xbf: // fixstr
			skip = int(c & 0x1f)
		default:
			var err error
			if skip, items, i, err = boundsOf(c, b, i); err != nil {
				return err
			}
		}
		if skip > len(b)-i {
			return errTruncated
		}
		i += skip
		pending += items
		if pending > len(b)-i {
			return fmt.Errorf("%w: %d values declared, %d bytes left", errTooLong, pending, len(b)-i)
		}
	}
	return nil
}

var (
	errTruncated = errors.New("msgpack value truncated")
	errTooLong   = errors.New("msgpack length exceeds the data")
)

// boundsOf reads the length fields of the msgpack type byte c (0xc0-0xdf)
// starting at b[i]; it returns the bytes to skip, the values to add and the
// position after the length fields.
func boundsOf(c byte, b []byte, i int) (skip, items, next int, err error) {
	length := func(size int) (int, error) {
		if len(b)-i < size {
			return 0, errTruncated
		}
		var n uint64
		switch size {
		case 1:
			n = uint64(b[i])
		case 2:
			n = uint64(binary.BigEndian.Uint16(b[i:]))
		case 4:
			n = uint64(binary.BigEndian.Uint32(b[i:]))
		}
		i += size
		if n > uint64(len(b)) {
			return 0, errTooLong
		}
		return int(n), nil
	}
	var n int
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
	case 0xc1:
		return 0, 0, i, errors.New("msgpack type byte 0xc1 is never used")
	case 0xc4, 0xd9: // bin8, str8
		n, err = length(1)
		skip = n
	case 0xc5, 0xda: // bin16, str16
		n, err = length(2)
		skip = n
	case 0xc6, 0xdb: // bin32, str32
		n, err = length(4)
		skip = n
	case 0xc7: // ext8: length, type, data
		n, err = length(1)
		skip = 1 + n
	case 0xc8:
		n, err = length(2)
		skip = 1 + n
	case 0xc9:
		n, err = length(4)
		skip = 1 + n
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		skip = 4
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		skip = 8
	case 0xcc, 0xd0: // uint8, int8
		skip = 1
	case 0xcd, 0xd1: // uint16, int16
		skip = 2
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type + data
		skip = 1 + 1<<(c-0xd4)
	case 0xdc: // array16
		items, err = length(2)
	case 0xdd: // array32
		items, err = length(4)
	case 0xde: // map16
		n, err = length(2)
		items = 2 * n
	case 0xdf: // map32
		n, err = length(4)
		items = 2 * n
	}
	return skip, items, i, err
}
