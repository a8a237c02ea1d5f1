// Package events holds everything a metanode node writes down: the event
// types (every input the node saw and every message it sent), their
// deterministic msgpack codec, the checksummed record envelope, and the
// append-only store in a bbolt file.
//
// The log is the node's truth. Projections are rebuilt from it, so an event
// must carry everything a projection needs, and its encoding must give the
// same bytes on every run and machine: encoded types hold no Go maps, only
// structs and sorted slices, and time is an integer (unix nanoseconds).
//
// Compatibility rules: kinds are numbered once and never reused; a field may
// be added to a kind (older readers skip it, newer readers see its zero value
// in older logs); a field's key or meaning never changes. A reader meeting a
// kind it does not know stops with ErrUnknownKind rather than guess.
package events
