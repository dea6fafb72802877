package event

import (
	"bytes"

	json "github.com/goccy/go-json"
)

// Encode encodes an event as the events topic carries it, for the scorer
// and the replays to decode (Unmarshal): JSON with Event's fields in
// order, the empty ones left out but id, type and time, the properties'
// keys sorted, and <, >, &, U+2028 and U+2029 escaped.
func Encode(ev *Event) ([]byte, error) { return json.Marshal(ev) }

// Encoding returns Encode(&b.Events[i]): the item as it was posted when it
// was exactly that.
func (b *Batch) Encoding(i int) ([]byte, error) {
	if i < len(b.Encoded) && b.Encoded[i] != nil {
		return b.Encoded[i], nil
	}
	return Encode(&b.Events[i])
}

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
		if i >= len(b.Encoded) || b.Encoded[i] == nil {
			continue
		}
		if quoted == nil {
			quoted, _ = json.Marshal(name) // a string always encodes
		}
		b.Encoded[i] = withSource(b.Encoded[i], quoted)
	}
}

// withSource is enc, an encoding without a source, with the source
// quoted (a JSON string) where Encode writes it. The only `,"time":"` in
// an encoding is the key, since its strings have no quote unescaped, and
// the time has no escape.
func withSource(enc, quoted []byte) []byte {
	const key = `,"time":"`
	at := bytes.Index(enc, []byte(key))
	if at < 0 {
		return nil // not an encoding: Encoding encodes the event
	}
	at += len(key)
	at += bytes.IndexByte(enc[at:], '"') + 1
	out := make([]byte, 0, len(enc)+len(`,"source":`)+len(quoted))
	out = append(out, enc[:at]...)
	out = append(out, `,"source":`...)
	out = append(out, quoted...)
	return append(out, enc[at:]...)
}
