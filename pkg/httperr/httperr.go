package httperr

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Error is one error of an answer: Field names the query parameter or
// field at fault, when one is.
type Error struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Item is an error about one item of a posted batch. Index and field are
// always present (field empty when the item as a whole is at fault), as
// the contract shows them.
type Item struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

type body[T any] struct {
	Errors []T `json:"errors"`
}

// Write answers status with one error, msg, and returns status.
func Write(w http.ResponseWriter, status int, msg string) int {
	return write(w, status, body[Error]{[]Error{{Message: msg}}})
}

// WriteField answers status with one error about field.
func WriteField(w http.ResponseWriter, status int, field, msg string) int {
	return write(w, status, body[Error]{[]Error{{Field: field, Message: msg}}})
}

// WriteItems answers status with the errors of a batch's items.
func WriteItems(w http.ResponseWriter, status int, items []Item) int {
	return write(w, status, body[Item]{items})
}

func write[T any](w http.ResponseWriter, status int, v body[T]) int {
	b, _ := json.Marshal(v) // strings and ints only: it cannot fail
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return status
}

// Handler serves mux, answering in the error shape where the mux would
// answer text: 404 for a path no pattern matches, and 405, with the Allow
// header the mux sets, for a path whose patterns take other methods.
func Handler(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A matched pattern is a handler of ours, which writes its own
		// errors; no pattern means the mux's own 404 or 405 (or a
		// redirect to a cleaned path, which passes through).
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&fallback{ResponseWriter: w, r: r}, r)
	})
}

// fallback replaces the text answers of the mux's 404 and 405 handlers.
type fallback struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (f *fallback) WriteHeader(status int) {
	switch status {
	case http.StatusNotFound:
		f.replaced = true
		Write(f.ResponseWriter, status, "no such resource: "+f.r.URL.Path)
	case http.StatusMethodNotAllowed:
		f.replaced = true
		allow := f.Header().Get("Allow")
		Write(f.ResponseWriter, status, f.r.Method+" is not allowed on "+f.r.URL.Path+": use "+
			strings.ReplaceAll(allow, ", ", " or "))
	default:
		f.ResponseWriter.WriteHeader(status)
	}
}

func (f *fallback) Write(b []byte) (int, error) {
	if f.replaced {
		return len(b), nil
	}
	return f.ResponseWriter.Write(b)
}
