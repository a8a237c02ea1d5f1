package ha

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/metanode/metanode/events"
)

// entryVersion is the first byte of a raft entry of events.
const entryVersion = 1

// encodeEntry makes one raft entry of events in their stored form:
//
//	version (1 byte) | count (uvarint) | count × (kind uint16 | len uvarint | body)
func encodeEntry(evs []events.Event) ([]byte, error) {
	if len(evs) == 0 {
		return nil, errors.New("raft entry: no events")
	}
	buf := binary.AppendUvarint([]byte{entryVersion}, uint64(len(evs)))
	for _, ev := range evs {
		body, err := events.EncodeEvent(nil, ev)
		if err != nil {
			return nil, fmt.Errorf("raft entry: %w", err)
		}
		if len(body) > events.MaxRecordBody {
			return nil, fmt.Errorf("raft entry: %s event of %d bytes exceeds the %d-byte limit", ev.Kind(), len(body), events.MaxRecordBody)
		}
		buf = binary.BigEndian.AppendUint16(buf, uint16(ev.Kind()))
		buf = binary.AppendUvarint(buf, uint64(len(body)))
		buf = append(buf, body...)
	}
	return buf, nil
}

// decodeEntry splits a raft entry into its events, still encoded (the
// bodies alias data). It checks the framing and that every kind is known;
// the bodies were encoded by the leader from events.
func decodeEntry(data []byte) ([]events.Encoded, error) {
	if len(data) == 0 || data[0] != entryVersion {
		return nil, fmt.Errorf("raft entry: not an entry of events (version %v)", data[:min(1, len(data))])
	}
	rest := data[1:]
	count, n := binary.Uvarint(rest)
	if n <= 0 || count == 0 || count > uint64(len(rest)) {
		return nil, errors.New("raft entry: bad event count")
	}
	rest = rest[n:]
	evs := make([]events.Encoded, 0, count)
	for range count {
		if len(rest) < 2 {
			return nil, errors.New("raft entry: truncated")
		}
		kind := events.Kind(binary.BigEndian.Uint16(rest))
		if !kind.Known() {
			return nil, fmt.Errorf("raft entry: %w: %d", events.ErrUnknownKind, uint16(kind))
		}
		size, n := binary.Uvarint(rest[2:])
		if n <= 0 || size > uint64(len(rest)-2-n) {
			return nil, errors.New("raft entry: truncated")
		}
		body := rest[2+n : 2+n+int(size)]
		evs = append(evs, events.Encoded{Kind: kind, Body: body})
		rest = rest[2+n+int(size):]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("raft entry: %d bytes after the last event", len(rest))
	}
	return evs, nil
}
