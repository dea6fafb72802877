package store

import (
	"strconv"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"github.com/leadscore/leads/pkg/scoring"
)

// appendEntry writes a ledger entry as JSON by hand: the scorer writes one
// per scored event, and this is several times faster than reflection.
// decodeEntry reads it back with the JSON decoder.
func appendEntry(b []byte, e *scoring.Entry) []byte {
	b = append(b, `{"time":`...)
	b = strconv.AppendInt(b, e.Time, 10)
	b = append(b, `,"cause":`...)
	b = appendJSONString(b, e.Cause)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, e.Kind)
	b = append(b, `,"rule":`...)
	b = appendJSONString(b, e.Rule)
	b = append(b, `,"points":`...)
	b = strconv.AppendInt(b, int64(e.Points), 10)
	if e.Product != "" {
		b = append(b, `,"product":`...)
		b = appendJSONString(b, e.Product)
	}
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, e.Reason)
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, int64(e.Score), 10)
	b = append(b, `,"behavior":`...)
	b = strconv.AppendInt(b, int64(e.Behavior), 10)
	b = append(b, `,"fit":`...)
	b = strconv.AppendInt(b, int64(e.Fit), 10)
	if e.Kind == scoring.KindOutcome {
		b = append(b, `,"grade":`...)
		b = appendJSONString(b, e.Grade)
		b = append(b, `,"stage":`...)
		b = appendJSONString(b, e.Stage)
		b = append(b, `,"mql":`...)
		b = strconv.AppendBool(b, e.MQL)
		b = append(b, `,"aql":`...)
		b = strconv.AppendBool(b, e.AQL)
		b = append(b, `,"model_version":`...)
		b = appendJSONString(b, e.Model)
	}
	return append(b, '}')
}

func decodeEntry(raw []byte, e *scoring.Entry) error { return json.Unmarshal(raw, e) }

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s for JSON; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
