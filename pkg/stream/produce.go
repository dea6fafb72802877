package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/produce"
)

// request is one produce request of a round: records of partitions one
// broker leads.
type request struct {
	leader int32 // -1: partitions without a leader, not sent
	bytes  int
	chunks []chunk
}

// chunk is the records of a batch that a request carries:
// b.recs[b.sent:end], and how producing them went.
type chunk struct {
	b   *batch
	end int
	err error
}

// errNoAnswer is a partition a broker's answer left out.
var errNoAnswer = errors.New("the broker's answer does not name the partition")

// requests makes a round's requests: the next records of each batch not
// done (at most the batch size, at most maxRequestBytes), one request a
// leader unless their records pass maxRequestBytes together.
func (w *Writer) requests(ctx context.Context, recs []Record, batches []batch) ([]request, error) {
	var reqs []request
	var l *layout // topic's
	var topic string
	for i := range batches {
		b := &batches[i]
		if b.sent == len(b.recs) {
			continue
		}
		if l == nil || topic != b.topic {
			var err error
			if l, err = w.layout(ctx, b.topic); err != nil {
				return nil, err
			}
			topic = b.topic
		}
		end, size := b.sent, 0
		for end < len(b.recs) && end-b.sent < w.batchSize {
			n := recordSize(&recs[b.recs[end]])
			if size+n > maxRequestBytes {
				break
			}
			size += n
			end++
		}
		c := chunk{b: b, end: end}
		leader := int32(-1)
		if int(b.partition) < len(l.leaders) {
			leader = l.leaders[b.partition]
		}
		if leader < 0 {
			c.err = fmt.Errorf("topic %s partition %d: %w", b.topic, b.partition, kafka.LeaderNotAvailable)
		}
		r := -1
		for j := range reqs {
			if reqs[j].leader == leader && (leader < 0 || reqs[j].bytes+size <= maxRequestBytes) {
				r = j
				break
			}
		}
		if r < 0 {
			reqs = append(reqs, request{leader: leader})
			r = len(reqs) - 1
		}
		reqs[r].bytes += size
		reqs[r].chunks = append(reqs[r].chunks, c)
	}
	return reqs, nil
}

// roundTrips sends the requests at once and waits for every answer.
func (w *Writer) roundTrips(ctx context.Context, recs []Record, reqs []request) {
	var wg sync.WaitGroup
	for i := 1; i < len(reqs); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.roundTrip(ctx, recs, &reqs[i])
		}()
	}
	if len(reqs) > 0 {
		w.roundTrip(ctx, recs, &reqs[0])
	}
	wg.Wait()
}

// roundTrip sends a request and sets the outcome of each of its chunks.
// The transport routes it to the leader of its partitions, which is
// r.leader unless its metadata changed meanwhile: then it fails, and
// the partitions are retried.
func (w *Writer) roundTrip(ctx context.Context, recs []Record, r *request) {
	if r.leader < 0 {
		return
	}
	req := &produce.Request{Acks: int16(kafka.RequireAll), Timeout: int32(produceTimeout / time.Millisecond)}
	readers := make([]recordReader, len(r.chunks))
	for i := range r.chunks {
		c := &r.chunks[i]
		readers[i] = recordReader{recs: recs, idx: c.b.recs[c.b.sent:c.end]}
		// The chunks of a topic follow each other (batches are by topic).
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != c.b.topic {
			req.Topics = append(req.Topics, produce.RequestTopic{Topic: c.b.topic})
		}
		t := &req.Topics[len(req.Topics)-1]
		t.Partitions = append(t.Partitions, produce.RequestPartition{Partition: c.b.partition,
			RecordSet: protocol.RecordSet{Attributes: w.codec, Records: &readers[i]}})
	}
	actx, cancel := context.WithTimeout(ctx, produceTimeout+2*time.Second)
	res, err := w.transport.RoundTrip(actx, w.addr, req)
	cancel()
	if err != nil {
		for i := range r.chunks {
			r.chunks[i].err = fmt.Errorf("produce to broker %d: %w", r.leader, err)
		}
		return
	}
	answer, _ := res.(*produce.Response)
	for i := range r.chunks {
		c := &r.chunks[i]
		c.err = fmt.Errorf("topic %s partition %d: %w", c.b.topic, c.b.partition, errNoAnswer)
		if answer == nil {
			continue
		}
		for _, t := range answer.Topics {
			if t.Topic != c.b.topic {
				continue
			}
			for _, p := range t.Partitions {
				switch {
				case p.Partition != c.b.partition:
				case p.ErrorCode == 0:
					c.err = nil
				case p.ErrorMessage != "":
					c.err = fmt.Errorf("topic %s partition %d: %w: %s", c.b.topic, c.b.partition, kafka.Error(p.ErrorCode), p.ErrorMessage)
				default:
					c.err = fmt.Errorf("topic %s partition %d: %w", c.b.topic, c.b.partition, kafka.Error(p.ErrorCode))
				}
			}
		}
	}
}

// produceRetriable tells the errors another attempt may fix: the errors
// Kafka calls retriable (not the leader, no leader, not enough replicas,
// a timeout, ...), a broker gone, a route that changed, a connection
// that broke.
func produceRetriable(err error) bool {
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary() || kerr == kafka.BrokerNotAvailable
	}
	var route *produce.Error // the transport's metadata changed
	if errors.As(err, &route) || errors.Is(err, errNoAnswer) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) // the request's own deadline; Publish's context is checked apart
}

// recordReader hands a chunk's records to kafka-go's encoder without
// copying them, reusing one record, key, value and header list.
type recordReader struct {
	recs       []Record
	idx        []int32
	rec        protocol.Record
	key, value bytesReader
	headers    []protocol.Header
}

func (r *recordReader) ReadRecord() (*protocol.Record, error) {
	if len(r.idx) == 0 {
		return nil, io.EOF
	}
	m := &r.recs[r.idx[0]]
	r.idx = r.idx[1:]
	r.rec = protocol.Record{Time: m.Time}
	if m.Key != nil {
		r.key.Reset(m.Key)
		r.rec.Key = &r.key
	}
	if m.Value != nil {
		r.value.Reset(m.Value)
		r.rec.Value = &r.value
	}
	if len(m.Headers) > 0 {
		r.headers = r.headers[:0]
		for _, h := range m.Headers {
			r.headers = append(r.headers, protocol.Header{Key: h.Key, Value: []byte(h.Value)})
		}
		r.rec.Headers = r.headers
	}
	return &r.rec, nil
}

type bytesReader struct{ bytes.Reader }

func (*bytesReader) Close() error { return nil }
