package event

import (
	"bytes"
	"fmt"

	json "github.com/goccy/go-json"
)

// Encode encodes an event as the events topic carries it, for the scorer
// and the replays to decode (Unmarshal): JSON with Event's fields in
// order, the empty ones left out but id, type and time, the properties'
// keys sorted, and <, >, &, U+2028 and U+2029 escaped.
func Encode(ev *Event) ([]byte, error) { return json.Marshal(ev) }

// Encoding returns Encode of event i: the item as it was posted when it
// was exactly that.
func (b *Batch) Encoding(i int) ([]byte, error) {
	if b.kept(i) {
		return b.Encoded[i], nil
	}
	return Encode(&b.Events[i])
}

// Event returns event i with its properties.
func (b *Batch) Event(i int) (Event, error) {
	ev := b.Events[i]
	if !b.kept(i) || ev.Properties != nil {
		return ev, nil
	}
	whole, err := DecodeBytes(b.Encoded[i], "application/json", Limits{MaxBytes: int64(len(b.Encoded[i])), MaxEvents: 1,
		MaxDepth: DefaultLimits.MaxDepth})
	if err != nil {
		return Event{}, fmt.Errorf("decode kept event %d: %w", i, err)
	}
	ev.Properties = whole[0].Properties
	return ev, nil
}

func (b *Batch) kept(i int) bool { return i < len(b.Encoded) && b.Encoded[i] != nil }

// FillSource sets the source of the events that have none to name. An
// encoding kept from the body gets the source where Encode writes it,
// after the time.
func (b *Batch) FillSource(name string) {
	if name == "" {
		return
	}
	var quoted []byte
	for i := range b.Events {
		if b.Events[i].Source != "" {
			continue
		}
		b.Events[i].Source = name
		if !b.kept(i) {
			continue
		}
		if quoted == nil {
			quoted, _ = json.Marshal(name) // a string always encodes
		}
		b.Encoded[i] = withSource(b.Encoded[i], quoted)
	}
}

// withSource is enc, a kept encoding without a source, with the source
// quoted (a JSON string) where Encode writes it. The only `,"time":"` in
// a kept encoding is the key, since its strings have no quote, escaped or
// not, and the time is the string after it.
func withSource(enc, quoted []byte) []byte {
	const key = `,"time":"`
	at := bytes.Index(enc, []byte(key)) + len(key)
	at += bytes.IndexByte(enc[at:], '"') + 1
	out := make([]byte, 0, len(enc)+len(`,"source":`)+len(quoted))
	out = append(out, enc[:at]...)
	out = append(out, `,"source":`...)
	out = append(out, quoted...)
	return append(out, enc[at:]...)
}
