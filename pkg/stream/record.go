package stream

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// Header is one Kafka record header.
type Header struct{ Key, Value string }

// Record is a Kafka record as the project sees it. A record to publish
// names its topic; Partition and Offset are set only on consumed records.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Time      time.Time
}

// HeaderValue returns the value of the first header with the key, or "".
func (r *Record) HeaderValue(key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

func fromMessage(m *kafka.Message) Record {
	r := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}
	if len(m.Headers) > 0 {
		r.Headers = make([]Header, len(m.Headers))
		for i, h := range m.Headers {
			r.Headers[i] = Header{Key: h.Key, Value: string(h.Value)}
		}
	}
	return r
}
