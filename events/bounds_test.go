package events

import (
	"errors"
	"testing"
)

func TestCheckBounds(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"fixint", []byte{0x05}, nil},
		{"fixstr", []byte{0xa2, 'h', 'i'}, nil},
		{"map of one", []byte{0x81, 0xa1, 'k', 0xc3}, nil},
		{"array32 claiming 4 billion elements", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, errTooLong},
		{"map32 claiming 2^31 pairs", []byte{0xdf, 0x80, 0, 0, 0, 0x01, 0x02}, errTooLong},
		{"bin32 longer than the data", []byte{0xc6, 0, 0, 1, 0, 0x01}, errTooLong},
		{"str8 cut short", []byte{0xd9, 3, 'a', 'b'}, errTruncated},
		{"array of 3 with 2 elements", []byte{0x93, 0x01, 0x02}, errTooLong},
		{"empty", nil, errTruncated},
		{"uint64 cut short", []byte{0xcf, 1, 2}, errTruncated},
		{"fixext16", append([]byte{0xd8, 0x01}, make([]byte, 16)...), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBounds(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("checkBounds = %v, want %v", err, tc.want)
			}
		})
	}
}
