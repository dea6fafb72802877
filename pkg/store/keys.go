package store

import (
	"net/url"
	"strings"
)

// Ids are opaque text chosen by whoever posts events, and several of them
// go into one key (a ledger is named by its home and its contact). So that
// no id can end a hash tag early or pass for a separator, every id is
// escaped where it becomes part of a key: '%', '{', '}' and ':' are written
// as %XX, and nothing else changes, so the keys of ordinary ids read as the
// ids themselves. Escaping is injective and the escaped form holds none of
// the characters keys are built with, so two subjects never share a key,
// whatever their ids hold; the tests check it over ids made of little else.
// Hash field names and set members hold ids unescaped: a fixed prefix
// ("c:") or nothing at all comes before them, so they cannot be confused.

// keyPart escapes an id for use inside a key.
func keyPart(id string) string {
	if !strings.ContainsAny(id, "%{}:") {
		return id
	}
	var b strings.Builder
	b.Grow(len(id) + 8)
	for i := 0; i < len(id); i++ {
		switch c := id[i]; c {
		case '%', '{', '}', ':':
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// idOfKeyPart reverses keyPart.
func idOfKeyPart(part string) (string, error) {
	if !strings.Contains(part, "%") {
		return part, nil
	}
	return url.PathUnescape(part)
}

// homeTag is the hash tag of a home, without its braces: the home's kind
// ("a:" or "c:") and its escaped id.
func homeTag(home string) string {
	if len(home) >= 2 && home[1] == ':' {
		return home[:2] + keyPart(home[2:])
	}
	return keyPart(home)
}

// homeOfTag reverses homeTag.
func homeOfTag(tag string) (string, error) {
	if len(tag) >= 2 && tag[1] == ':' {
		id, err := idOfKeyPart(tag[2:])
		return tag[:2] + id, err
	}
	return idOfKeyPart(tag)
}
