package stream

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Headers a dead-lettered record carries, saying why and where from.
const (
	HeaderDLQError     = "dlq.error"
	HeaderDLQTopic     = "dlq.topic"
	HeaderDLQPartition = "dlq.partition"
	HeaderDLQOffset    = "dlq.offset"
	HeaderDLQTime      = "dlq.time"
	// HeaderDLQStack is the goroutine stack of a panic that caused it.
	HeaderDLQStack = "dlq.stack"
)

// maxDLQError bounds the error header: some causes quote the whole input.
const maxDLQError = 1024

// maxDLQStack bounds the stack header.
const maxDLQStack = 16 << 10

// stackTracer is an error that carries the stack of a panic.
type stackTracer interface {
	error
	StackTrace() []byte
}

// DLQRecord wraps a record that cannot be processed for the dead-letter
// topic: the same key, value and headers, plus the dlq.* headers (dlq.stack
// when cause carries a panic's stack, as a StackTrace() []byte method). The dlq.*
// headers of a record that was dead-lettered before are replaced, so a
// replayed record that fails again says why it failed the last time.
func DLQRecord(rec Record, dlqTopic string, cause error, now time.Time) Record {
	msg := "unknown error"
	if cause != nil {
		msg = truncate(cause.Error(), maxDLQError)
	}
	hs := make([]Header, 0, len(rec.Headers)+5)
	for _, h := range rec.Headers {
		if !strings.HasPrefix(h.Key, "dlq.") {
			hs = append(hs, h)
		}
	}
	hs = append(hs,
		Header{HeaderDLQError, msg},
		Header{HeaderDLQTopic, rec.Topic},
		Header{HeaderDLQPartition, strconv.Itoa(rec.Partition)},
		Header{HeaderDLQOffset, strconv.FormatInt(rec.Offset, 10)},
		Header{HeaderDLQTime, now.UTC().Format(time.RFC3339Nano)},
	)
	if st, ok := errors.AsType[stackTracer](cause); ok {
		hs = append(hs, Header{HeaderDLQStack, truncate(string(st.StackTrace()), maxDLQStack)})
	}
	return Record{Topic: dlqTopic, Key: rec.Key, Value: rec.Value, Headers: hs}
}

// SendToDLQ publishes DLQRecord(rec, dlqTopic, cause, now) and returns once
// it is acknowledged; only then may the caller commit past rec.
func SendToDLQ(ctx context.Context, w *Writer, dlqTopic string, rec Record, cause error, now time.Time) error {
	return w.Publish(ctx, DLQRecord(rec, dlqTopic, cause, now))
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
