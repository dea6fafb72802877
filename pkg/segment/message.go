package segment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	json "github.com/goccy/go-json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/event"
)

// AnonymousPrefix starts the contact id of a call with an anonymousId and
// no userId: the anonymous visitor is scored as a contact of its own,
// "anon:<anonymousId>", until an identify call with both ids (or an alias
// call) merges it into the user's contact (event.ContactMerged).
const AnonymousPrefix = "anon:"

// message is one call, as Segment's spec documents it
// (https://segment.com/docs/connections/spec/common/). Ids may be numbers
// (analytics-ruby sends user_id: 42 as it is given).
type message struct {
	Type              string         `json:"type"`
	MessageID         any            `json:"messageId"`
	UserID            any            `json:"userId"`
	AnonymousID       any            `json:"anonymousId"`
	GroupID           any            `json:"groupId"`
	PreviousID        any            `json:"previousId"`
	Event             any            `json:"event"`
	Name              any            `json:"name"`
	Timestamp         string         `json:"timestamp"`
	OriginalTimestamp string         `json:"originalTimestamp"`
	SentAt            string         `json:"sentAt"`
	Properties        map[string]any `json:"properties"`
	Traits            map[string]any `json:"traits"`
	Context           map[string]any `json:"context"`
}

// envelope is a /v1/batch body: a batch of messages, with a context and a
// sentAt common to them. A body with no "batch" is one message (the
// webhook destination posts each call alone).
type envelope struct {
	Batch   []json.RawMessage `json:"batch"`
	SentAt  string            `json:"sentAt"`
	Context map[string]any    `json:"context"`
}

// fieldError is a refused message's field, in Segment's terms.
type fieldError struct{ field, message string }

// decode reads a body: a batch when batch, else one message of the type
// call ("" when the message says). Messages are decoded one by one, so only
// the events they become are held with the body.
func (m *Mapping) decode(body []byte, call string, batch bool, now time.Time, lim event.Limits) ([]event.Event, []int, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, nil, fmt.Errorf("the body must be a JSON object")
	}
	var env envelope
	items := []json.RawMessage{body}
	if batch {
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, nil, fmt.Errorf("the body is not a batch: %w", jsonError(err))
		}
		if env.Batch != nil {
			items = env.Batch
		}
	}
	if len(items) > lim.MaxEvents {
		return nil, nil, &event.TooLargeError{What: "batch item count", Limit: int64(lim.MaxEvents)}
	}
	events := make([]event.Event, 0, len(items))
	item := make([]int, 0, len(items))
	var bad event.ItemErrors
	for i, raw := range items {
		var msg message
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if len(raw) == 0 || raw[0] != '{' {
			bad = append(bad, event.ItemError{Index: i, Message: "is not an object"})
			continue
		}
		if err := d.Decode(&msg); err != nil {
			bad = append(bad, event.ItemError{Index: i, Message: "is not a Segment message: " + jsonError(err).Error()})
			continue
		}
		if call != "" {
			msg.Type = call
		}
		if msg.SentAt == "" {
			msg.SentAt = env.SentAt
		}
		msg.Context = merged(env.Context, msg.Context)
		evs, errs := m.events(&msg, raw, now)
		for _, fe := range errs {
			bad = append(bad, event.ItemError{Index: i, Field: fe.field, Message: fe.message})
		}
		if len(errs) == 0 {
			for range evs {
				item = append(item, i)
			}
			events = append(events, evs...)
		}
		if len(events) > lim.MaxEvents {
			return nil, nil, &event.TooLargeError{What: "event count", Limit: int64(lim.MaxEvents)}
		}
	}
	if len(bad) > 0 {
		return nil, nil, bad
	}
	return events, item, nil
}

// jsonError drops encoding/json's Go type names from its messages.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s is a JSON %s", te.Field, te.Value)
	}
	return err
}

// merged is the batch's context with the message's own over it.
func merged(batch, own map[string]any) map[string]any {
	if len(batch) == 0 {
		return own
	}
	out := make(map[string]any, len(batch)+len(own))
	for k, v := range batch {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

// idText reads an id that may be a string or a number.
func idText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// events turns one message into its events: one, or for a group call with
// a user, two (the account's traits, and the user joining the account).
func (m *Mapping) events(msg *message, raw []byte, now time.Time) ([]event.Event, []fieldError) {
	var errs []fieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, fieldError{field, fmt.Sprintf(format, args...)})
	}
	text := func(field string, v any) string {
		s, ok := idText(v)
		if !ok {
			bad(field, "must be a string")
		}
		return s
	}
	id, userID, anonID := text("messageId", msg.MessageID), text("userId", msg.UserID), text("anonymousId", msg.AnonymousID)
	groupID, previousID := text("groupId", msg.GroupID), text("previousId", msg.PreviousID)
	name, _ := idText(msg.Name)
	if id == "" {
		// A message without messageId gets one from its bytes: the same
		// message re-sent is the same event.
		sum := sha256.Sum256(raw)
		id = "segment:" + hex.EncodeToString(sum[:16])
	}
	contact := userID
	contactField := "userId"
	if contact == "" && anonID != "" {
		contact, contactField = AnonymousPrefix+anonID, "anonymousId"
	}
	if contact == "" && len(errs) == 0 {
		bad("userId", "userId or anonymousId is required")
	}
	account := ""
	if g, ok := msg.Context["groupId"]; ok {
		account = text("context.groupId", g)
	}
	r, callName := (*rule)(nil), msg.Type
	switch msg.Type {
	case "track":
		ev := text("event", msg.Event)
		if ev == "" {
			bad("event", "is required for a track call")
		}
		r = m.track[nameKey(ev)]
		if r == nil {
			r = &rule{typ: "segment.track", props: []prop{{name: "event", value: clip(ev), hasValue: true}}}
		}
	case "group":
		if groupID == "" {
			bad("groupId", "is required for a group call")
		}
		account = groupID
	case "alias":
		if userID == "" {
			bad("userId", "is required for an alias call")
		}
		if previousID == "" {
			bad("previousId", "is required for an alias call")
		}
	case "page", "screen", "identify":
	case "":
		bad("type", "is required: track, identify, group, page, screen or alias")
	default:
		bad("type", "%q is not a Segment call: want track, identify, group, page, screen or alias", msg.Type)
	}
	t, terr := msg.time(now)
	if terr != "" {
		bad("timestamp", "%s", terr)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if r == nil {
		if r = m.call[callName]; r == nil {
			r = &rule{typ: "segment." + callName}
		}
	}
	src := msg.Properties
	switch callName {
	case "identify", "group":
		src = msg.Traits
	case "page", "screen":
		if name != "" {
			if _, ok := src["name"]; !ok {
				src = merged(src, map[string]any{"name": name})
			}
		}
	}
	ev := event.Event{ID: id, Type: r.typ, ContactID: contact, AccountID: account, Time: t, Properties: r.apply(src, msg.Context)}
	var out []event.Event
	switch callName {
	case "alias":
		// The previous id is an anonymousId or an earlier userId: the
		// message says which when its anonymousId is the previous id, and
		// otherwise both are merged (one of them may never have been seen).
		if previousID != anonID {
			out = append(out, merge(previousID, userID, t))
		}
		out = append(out, merge(AnonymousPrefix+previousID, userID, t))
	case "identify":
		out = append(out, ev)
		if userID != "" && anonID != "" {
			out = append(out, merge(AnonymousPrefix+anonID, userID, t))
		}
	default:
		out = append(out, ev)
	}
	if callName == "group" {
		// The group call says the user is in the account: a contact.updated
		// with the account moves the contact there, as the engine does for
		// any profile update naming an account.
		out = append(out, event.Event{ID: derivedID("member", id), Type: "contact.updated", ContactID: contact, AccountID: account, Time: t})
	}
	for i := range out {
		for _, fe := range out[i].Validate(now) {
			errs = append(errs, fieldError{segmentField(fe.Field, contactField, callName), fe.Message})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// merge is the event that merges contact from into contact into. Its id
// is the merged contact's: a contact merges once, into the first contact
// it is identified as, however often the link is sent again.
func merge(from, into string, t time.Time) event.Event {
	return event.Event{ID: derivedID("merge", from), Type: event.ContactMerged, ContactID: from, Time: t,
		Properties: map[string]any{event.MergeInto: into}}
}

// derivedID is the id of a second event of one message: prefix:id, or a
// hash of it when that would be too long.
func derivedID(prefix, id string) string {
	if s := prefix + ":" + id; len(s) <= event.MaxIDLen {
		return s
	}
	sum := sha256.Sum256([]byte(id))
	return prefix + ":" + hex.EncodeToString(sum[:16])
}

// segmentField names an event's field in the terms of the call it came
// from.
func segmentField(field, contactField, call string) string {
	switch field {
	case "id":
		return "messageId"
	case "contact_id":
		return contactField
	case "account_id":
		if call == "group" {
			return "groupId"
		}
		return "context.groupId"
	case "time":
		return "timestamp"
	case "type":
		return "event"
	}
	return field
}

// clip keeps a track name within a property value's limit.
func clip(s string) string {
	if len(s) <= event.MaxPropertyValue {
		return s
	}
	return strings.ToValidUTF8(s[:event.MaxPropertyValue], "")
}

// time is when the call happened: its timestamp; else its
// originalTimestamp moved by the client clock's skew (the time between
// sentAt and now), as Segment does; else now.
func (msg *message) time(now time.Time) (time.Time, string) {
	parse := func(s string) (time.Time, bool) {
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	if msg.Timestamp != "" {
		t, ok := parse(msg.Timestamp)
		if !ok {
			return t, fmt.Sprintf("%q is not an ISO 8601 time with a zone (2026-11-20T10:00:00Z)", msg.Timestamp)
		}
		return t, ""
	}
	if msg.OriginalTimestamp != "" {
		t, ok := parse(msg.OriginalTimestamp)
		if !ok {
			return t, fmt.Sprintf("originalTimestamp %q is not an ISO 8601 time with a zone", msg.OriginalTimestamp)
		}
		if sent, ok := parse(msg.SentAt); ok {
			t = t.Add(now.Sub(sent))
		}
		return t, ""
	}
	return now, ""
}

// apply builds a rule's properties from the call's properties or traits
// and its context; absent ones are left out.
func (r *rule) apply(src, ctx map[string]any) map[string]any {
	if len(r.props) == 0 {
		return nil
	}
	out := make(map[string]any, len(r.props))
	for _, p := range r.props {
		switch {
		case p.hasValue:
			out[p.name] = p.value
		case len(p.from) > 0:
			for _, pa := range p.from {
				if v, ok := pa.get(src, ctx); ok {
					out[p.name] = v
					break
				}
			}
		default:
			part, ok1 := number(p.percentOf[0].get(src, ctx))
			whole, ok2 := number(p.percentOf[1].get(src, ctx))
			if ok1 && ok2 && whole > 0 {
				out[p.name] = math.Round(min(max(part/whole*100, 0), 100)*10) / 10
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// get returns the value at the path, if present and not null.
func (pa path) get(src, ctx map[string]any) (any, bool) {
	cur := src
	if pa.ctx {
		cur = ctx
	}
	for i, part := range pa.parts {
		v, ok := cur[part]
		if !ok || v == nil {
			return nil, false
		}
		if i == len(pa.parts)-1 {
			return v, true
		}
		if cur, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}

func number(v any, ok bool) (float64, bool) {
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}
