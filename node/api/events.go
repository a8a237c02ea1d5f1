package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"unicode"

	"github.com/metanode/metanode/events"
)

// batchBytes caps the JSON one read of the log gathers before it is
// written out: the read transaction never waits for the client.
const batchBytes = 64 << 10

var (
	errBatch = errors.New("batch full")
	errLimit = errors.New("limit reached")
)

// events is GET /api/v1/events?after=SEQ&limit=N: the log from SEQ+1 as
// newline-delimited JSON objects {seq, kind, ...the event's fields},
// following new appends until the client goes away, the log closes or N
// records were sent. Without after it starts at the log's end: only new
// events. Each batch is flushed when it is written.
//
// The log is read with Store.Follow, but nothing is written to the client
// inside a read: a batch gathers in memory (up to batchBytes, or until
// the reader caught up), the read ends, then the batch goes out. A slow
// client so never holds a read transaction that the log's writer would
// wait for.
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	store := a.src.Log()
	q := r.URL.Query()
	after := store.LastSeq()
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == math.MaxUint64 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("after=%q: want a log seq (0: from the first event)", s))
			return
		}
		after = n
	}
	limit, err := positiveParam(r, "limit", 0)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	next, sent := after+1, 0
	for {
		buf.Reset()
		err := store.Follow(r.Context(), next, func(seq uint64, ev events.Event) error {
			if err := enc.Encode(EventJSON(seq, ev)); err != nil {
				return fmt.Errorf("seq %d: %w", seq, err)
			}
			next, sent = seq+1, sent+1
			switch {
			case limit > 0 && sent >= limit:
				return errLimit
			case buf.Len() >= batchBytes || seq >= store.LastSeq():
				return errBatch
			}
			return nil
		})
		if buf.Len() > 0 {
			if _, werr := w.Write(buf.Bytes()); werr != nil {
				return // the client went away
			}
			if werr := rc.Flush(); werr != nil {
				return
			}
		}
		switch {
		case errors.Is(err, errBatch):
			continue
		case err == nil, errors.Is(err, errLimit), r.Context().Err() != nil, errors.Is(err, events.ErrClosed):
			return
		}
		// Headers are out: the stream just ends, and the log says why.
		a.log.Warn("rest event stream failed", "after", after, "next", next, "err", err)
		return
	}
}

// EventJSON is one event as the event stream shows it: an object whose
// first keys are seq and kind, then the event's fields in declaration
// order, named in lowerCamel. Peer ids, hashes, byte strings and
// signatures are hex; times RFC 3339; durations and enums (outcome,
// state, protocol) their names. A signed message shows its type, sender,
// body decoded by type (hex if it does not decode) and signature.
func EventJSON(seq uint64, ev events.Event) Object {
	obj := Object{{"seq", seq}, {"kind", ev.Kind().String()}}
	v := reflect.ValueOf(ev)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return obj
	}
	for _, f := range structFields(v) {
		if f.Key != "seq" && f.Key != "kind" {
			obj = append(obj, f)
		}
	}
	return obj
}

// Field is one key and value of an Object.
type Field struct {
	Key   string
	Value any
}

// Object is a JSON object that keeps its keys in order.
type Object []Field

// MarshalJSON implements json.Marshaler.
func (o Object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		key, err := json.Marshal(f.Key)
		if err != nil {
			return nil, err
		}
		buf.Write(key)
		buf.WriteByte(':')
		value, err := json.Marshal(f.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Key, err)
		}
		buf.Write(value)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

var (
	peerIDType   = reflect.TypeFor[events.PeerID]()
	signedType   = reflect.TypeFor[events.Signed]()
	stringerType = reflect.TypeFor[fmt.Stringer]()
)

func structFields(v reflect.Value) Object {
	t := v.Type()
	var obj Object
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		obj = append(obj, Field{lowerCamel(f.Name), jsonValue(v.Field(i))})
	}
	return obj
}

// jsonValue converts a value of an event to what the stream shows.
func jsonValue(v reflect.Value) any {
	switch t := v.Type(); {
	case t == peerIDType:
		return hexID(events.PeerID(v.String()))
	case t == signedType:
		return signedJSON(v.Interface().(events.Signed))
	case v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return jsonValue(v.Elem())
	case v.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return fmt.Sprintf("%x", v.Bytes())
	case v.Kind() != reflect.Struct && t.Implements(stringerType):
		return v.Interface().(fmt.Stringer).String() // Hash, Time, Duration, enums
	case v.Kind() == reflect.Struct:
		return structFields(v)
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = jsonValue(v.Index(i))
		}
		return out
	case v.Kind() == reflect.Map:
		return fmt.Sprint(v.Interface()) // no event holds one
	}
	return v.Interface()
}

// bodies makes the typed body of each message type.
var bodies = map[string]func() any{
	events.TypePing:         func() any { return &events.Ping{} },
	events.TypeProposal:     func() any { return &events.Proposal{} },
	events.TypeSigningSet:   func() any { return &events.SigningSet{} },
	events.TypeChecksum:     func() any { return &events.Checksum{} },
	events.TypeKeygenCommit: func() any { return &events.KeygenCommit{} },
	events.TypeKVEntry:      func() any { return &events.KVEntry{} },
	events.TypeTSS:          func() any { return &events.TSSMessage{} },
	events.TypeKey:          func() any { return &events.KeyAnnouncement{} },
	events.TypeCulprits:     func() any { return &events.CulpritReport{} },
	events.TypeEvidence:     func() any { return &events.Evidence{} },
}

func signedJSON(m events.Signed) Object {
	obj := Object{{"type", m.Type}, {"from", hexID(m.From)}}
	var body any = fmt.Sprintf("%x", m.Body)
	if mk, ok := bodies[m.Type]; ok {
		typed := mk()
		if err := events.Unmarshal(m.Body, typed); err == nil {
			body = jsonValue(reflect.ValueOf(typed))
		} else {
			obj = append(obj, Field{"bodyError", err.Error()})
		}
	}
	return append(obj, Field{"body", body}, Field{"sig", fmt.Sprintf("%x", m.Sig)})
}

// lowerCamel lowers a Go field name's leading capitals: StakeTx ->
// stakeTx, TSSProof -> tssProof, M0 -> m0, ID -> id, KeyID -> keyID.
func lowerCamel(name string) string {
	r := []rune(name)
	upper := 0
	for upper < len(r) && unicode.IsUpper(r[upper]) {
		upper++
	}
	switch {
	case upper == 0:
		return name
	case upper == 1 || upper == len(r) || !unicode.IsLower(r[upper]):
		// one capital, all capitals, or capitals then a digit: lower them all
	default:
		upper-- // the last capital starts the next word: TSSProof -> tss|Proof
	}
	for i := range upper {
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}
