package ingest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

	"github.com/leadscore/leads/pkg/auth"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/httperr"
	"github.com/leadscore/leads/pkg/stream"
)

// Config configures the ingest service.
type Config struct {
	MaxBodyBytes int64
	MaxEvents    int
	// MaxDecodingBytes bounds the bodies in hand at once, from the moment
	// a request is let in until it is answered: each counts its
	// Content-Length, or MaxBodyBytes when it has none, and one that would
	// go over is answered 503 before its body is read. A byte in hand
	// costs a bounded amount of memory (its events hold at most
	// event.HeldPerByte), so this bounds the memory of all requests.
	// 0 means DefaultMaxDecodingBytes, or MaxBodyBytes if that is more.
	MaxDecodingBytes int64
	// RetryAfter is what a 503 tells callers to wait; whole seconds.
	RetryAfter time.Duration
}

// DefaultMaxDecodingBytes is the default of Config.MaxDecodingBytes: two
// bodies of the default limit at once and 2 MiB more. A byte in hand costs
// at most 21 of heap (the body, its events, their records: see
// TestNoRequestCostsMoreThanItsBudget), so requests hold at most 252 MiB
// at once, well within the ingestor's 512 MiB in deploy/.
const DefaultMaxDecodingBytes = 12 << 20

// busyRetryAfter is the Retry-After of a 503 for too many bodies in hand:
// those finish within a second or so.
const busyRetryAfter = "1"

// DefaultConfig returns the flag defaults.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: event.DefaultLimits.MaxBytes, MaxEvents: event.DefaultLimits.MaxEvents,
		MaxDecodingBytes: DefaultMaxDecodingBytes, RetryAfter: 5 * time.Second}
}

// Errors from Validate.
var (
	ErrMaxBody     = errors.New("--max-body-bytes must be between 1 KiB and 1 GiB")
	ErrMaxEvents   = errors.New("--max-events must be between 1 and 1,000,000")
	ErrMaxDecoding = errors.New("--max-decoding-bytes must be at least --max-body-bytes, or 0 for the default")
	ErrRetryAfter  = errors.New("--retry-after must be between 1s and 1h")
)

// RegisterFlags adds the ingest flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := DefaultConfig()
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", d.MaxBodyBytes, "largest request body accepted (413 above)")
	fs.IntVar(&c.MaxEvents, "max-events", d.MaxEvents, "most events in one request (413 above)")
	fs.Int64Var(&c.MaxDecodingBytes, "max-decoding-bytes", d.MaxDecodingBytes,
		"request bodies in hand at once, by Content-Length (--max-body-bytes without one); a request over it gets 503 before its body is read")
	fs.DurationVar(&c.RetryAfter, "retry-after", d.RetryAfter, "Retry-After sent with 503 when Kafka is unavailable")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<30 {
		errs = append(errs, ErrMaxBody)
	}
	if c.MaxEvents < 1 || c.MaxEvents > 1_000_000 {
		errs = append(errs, ErrMaxEvents)
	}
	if c.MaxDecodingBytes != 0 && c.MaxDecodingBytes < c.MaxBodyBytes {
		errs = append(errs, ErrMaxDecoding)
	}
	if c.RetryAfter < time.Second || c.RetryAfter > time.Hour {
		errs = append(errs, ErrRetryAfter)
	}
	return errors.Join(errs...)
}

// Publisher durably publishes a whole batch of events, or fails. The service
// calls it once per request, with every event of the request, and answers
// 202 only when it returned nil.
type Publisher interface {
	Publish(ctx context.Context, b event.Batch) error
}

// Option changes a default of New. A nil Option is ignored.
type Option func(*Service)

// WithClock sets the clock that refuses event times too far in the future.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithTokens sets the callers allowed to post: each request must carry a
// source's bearer token (401), send only the event types the source may
// (403) and stay within its rate (429). Without it, or with tokens that are
// not configured, everyone may post everything.
func WithTokens(t *auth.Tokens) Option { return func(s *Service) { s.tokens = t } }

// Service is the ingestor's HTTP service.
type Service struct {
	cfg     Config
	log     *zap.Logger
	pub     Publisher
	now     func() time.Time
	tokens  *auth.Tokens
	metrics *metrics
	mux     *http.ServeMux
	// inHand counts the bytes of the bodies in hand (MaxDecodingBytes).
	inHand *semaphore.Weighted
	// intakes are the other APIs served beside /v1/events (WithIntake).
	intakes []Intake
}

type metrics struct {
	accepted prometheus.Counter
	rejected prometheus.Counter
	requests *prometheus.CounterVec
	publish  *prometheus.HistogramVec
	// Per authenticated source (only with tokens configured): requests
	// by status code, and events accepted.
	sourceRequests *prometheus.CounterVec
	sourceEvents   *prometheus.CounterVec
	inHand         prometheus.Gauge
	// intakeRequests counts the requests of the other intake APIs.
	intakeRequests *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "leads_ingest_events_accepted_total",
			Help: "Events published (acknowledged by Kafka) and answered 202."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "leads_ingest_events_rejected_total",
			Help: "Events refused as malformed or invalid (400)."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_ingest_requests_total",
			Help: "POST /v1/events requests by HTTP status code."}, []string{"code"}),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "leads_ingest_publish_duration_seconds",
			Help:    "Time to publish one request's batch, until every event is acknowledged or the publish fails.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"result"}),
		sourceRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_ingest_source_requests_total",
			Help: "POST /v1/events requests per authenticated source, by HTTP status code (403 forbidden type, 429 over its rate)."},
			[]string{"source", "code"}),
		sourceEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_ingest_source_events_accepted_total",
			Help: "Events accepted per authenticated source."}, []string{"source"}),
		inHand: prometheus.NewGauge(prometheus.GaugeOpts{Name: "leads_ingest_bodies_in_hand_bytes",
			Help: "Bytes of request bodies being read, decoded or published, as counted against --max-decoding-bytes."}),
		intakeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_ingest_intake_requests_total",
			Help: "Requests of the intake APIs beside POST /v1/events (Segment's tracking API), by path and HTTP status code."},
			[]string{"path", "code"}),
	}
}

// New returns the service. reg may be nil (metrics then go nowhere).
func New(cfg Config, log *zap.Logger, pub Publisher, reg prometheus.Registerer, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	if pub == nil {
		return nil, errors.New("ingest: nil Publisher")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.MaxDecodingBytes == 0 {
		cfg.MaxDecodingBytes = max(DefaultMaxDecodingBytes, cfg.MaxBodyBytes)
	}
	s := &Service{cfg: cfg, log: log, pub: pub, now: time.Now, metrics: newMetrics(), mux: http.NewServeMux(),
		inHand: semaphore.NewWeighted(cfg.MaxDecodingBytes)}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	if reg != nil {
		m := s.metrics
		for _, c := range []prometheus.Collector{m.accepted, m.rejected, m.requests, m.publish, m.sourceRequests, m.sourceEvents, m.inHand, m.intakeRequests} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register ingest metrics: %w", err)
			}
		}
	}
	s.Register(s.mux)
	return s, nil
}

// Register mounts POST /v1/events, and the paths of the intakes, on mux.
// The programs serve health, readiness and metrics beside it (app.Health).
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/events", s.post)
	for i := range s.intakes {
		for _, p := range s.intakes[i].Paths {
			mux.HandleFunc("POST "+p, s.postIntake(&s.intakes[i]))
		}
	}
}

// Handler serves POST /v1/events (and the intakes) alone; other paths and
// methods get the error shape's 404 and 405.
func (s *Service) Handler() http.Handler { return httperr.Handler(s.mux) }

func (s *Service) post(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status, n := s.handle(w, r, nil)
	s.metrics.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	s.log.Debug("POST /v1/events", loggedRequest(status, n, r, start)...)
}

func loggedRequest(status, n int, r *http.Request, start time.Time) []zap.Field {
	return []zap.Field{zap.Int("status", status), zap.Int("events", n),
		zap.Int64("bytes", r.ContentLength), zap.Duration("took", time.Since(start))}
}

// handle answers one POST of /v1/events (in nil) or of an intake, and
// returns the status and how many events the request carried (0 when it
// could not be decoded).
func (s *Service) handle(w http.ResponseWriter, r *http.Request, in *Intake) (status, n int) {
	var src *auth.Source
	var ok bool
	if in == nil {
		src, ok = s.tokens.Source(r)
	} else {
		src, ok = s.tokens.WriteKeySource(r)
	}
	if !ok {
		if in != nil {
			auth.UnauthorizedWriteKey(w, "a write key is required: HTTP Basic authentication with the write key as the user name")
		} else {
			auth.Unauthorized(w, "a source token is required: Authorization: Bearer <token>")
		}
		return http.StatusUnauthorized, 0
	}
	if src != nil {
		defer func() { s.metrics.sourceRequests.WithLabelValues(src.Name, strconv.Itoa(status)).Inc() }()
	}
	// An empty bucket is refused before the body is read, so a source over
	// its rate costs little.
	if wait, empty := src.Empty(s.now()); empty {
		return s.tooMany(w, src, wait), 0
	}
	// A request refused for what it is or carries costs its source as
	// much of its rate as the body it made the ingestor read (refusalCost),
	// so a source cannot have bodies judged faster than its rate, however
	// they fail. A 429 or a 503 is not its doing.
	var read int64
	defer func() {
		switch status {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			src.Charge(s.now(), s.refusalCost(read))
		}
	}()
	var ct string
	if in == nil {
		if ct, ok = mediaType(r.Header.Get("Content-Type")); !ok {
			return httperr.Write(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json or application/x-ndjson (UTF-8)"), 0
		}
	} else if !intakeMediaType(r.Header.Get("Content-Type")) {
		return httperr.Write(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json (UTF-8)"), 0
	}
	gz := false
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		if in == nil || !strings.EqualFold(ce, "gzip") {
			return httperr.Write(w, http.StatusUnsupportedMediaType, "Content-Encoding is not supported: send the body uncompressed"), 0
		}
		gz = true
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return httperr.Write(w, http.StatusRequestEntityTooLarge, s.bodyTooLarge()), 0
	}
	// The body, and the events decoded from it until they are published,
	// count against MaxDecodingBytes by the body's size, or the largest
	// allowed when it does not say. A gzip body is decompressed as it is
	// read, so only the decompressed body, at most the largest allowed, is
	// held.
	size := r.ContentLength
	if size < 0 || gz {
		size = s.cfg.MaxBodyBytes
	}
	if !s.inHand.TryAcquire(size) {
		w.Header().Set("Retry-After", busyRetryAfter)
		return httperr.Write(w, http.StatusServiceUnavailable, "too many request bodies in hand; retry later"), 0
	}
	s.metrics.inHand.Add(float64(size))
	defer func() {
		s.metrics.inHand.Sub(float64(size))
		s.inHand.Release(size)
	}()
	var body []byte
	var err error
	if gz {
		body, err = readGzip(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), s.cfg.MaxBodyBytes)
	} else {
		body, err = readBody(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), r.ContentLength)
	}
	read = int64(len(body))
	if err != nil {
		return s.decodeFailed(w, err), 0
	}
	lim := event.Limits{MaxBytes: s.cfg.MaxBodyBytes, MaxEvents: s.cfg.MaxEvents, MaxDepth: event.DefaultLimits.MaxDepth}
	now := s.now()
	var batch event.Batch
	// item maps an event to the request's item it came from (nil: the same).
	var item []int
	if in == nil {
		batch, err = event.DecodeBatch(body, ct, lim)
	} else {
		batch.Events, item, err = in.Decode(body, now, lim)
	}
	if err != nil {
		return s.decodeFailed(w, err), 0
	}
	events := batch.Events
	index := func(i int) int {
		if item == nil {
			return i
		}
		return item[i]
	}
	var invalid []httperr.Item
	bad := 0
	for i := range events {
		errs := events[i].Validate(now)
		if len(errs) > 0 {
			bad++
		}
		for _, fe := range errs {
			invalid = append(invalid, httperr.Item{Index: index(i), Field: fe.Field, Message: fe.Message})
		}
	}
	if bad > 0 {
		s.metrics.rejected.Add(float64(bad))
		return httperr.WriteItems(w, http.StatusBadRequest, invalid), len(events)
	}
	if src != nil {
		for i := range events {
			if !src.Allows(events[i].Type) {
				invalid = append(invalid, httperr.Item{Index: index(i), Field: "type", Message: "this source may not send " + events[i].Type})
			}
		}
		if len(invalid) > 0 {
			s.metrics.rejected.Add(float64(len(invalid)))
			return httperr.WriteItems(w, http.StatusForbidden, invalid), len(events)
		}
		wait, ok, undo := src.Take(now, len(events))
		if !ok {
			return httperr.Write(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
				"event count over this source's burst of %d events", src.Burst())), len(events)
		}
		if wait > 0 {
			return s.tooMany(w, src, wait), len(events)
		}
		// A batch Kafka did not take does not count against the rate: its
		// retry will.
		defer func() {
			if status != http.StatusAccepted {
				undo()
			}
		}()
		batch.FillSource(src.Name)
	}
	ctx := r.Context()
	if src != nil {
		ctx = auth.WithSource(ctx, src.Name)
	}
	start := time.Now()
	err = s.pub.Publish(ctx, batch)
	result := "ok"
	if err != nil {
		result = "error"
	}
	s.metrics.publish.WithLabelValues(result).Observe(time.Since(start).Seconds())
	if err != nil {
		// The publisher's error names brokers and topics, never event contents.
		s.log.Warn("publish failed; answering 503", zap.Int("events", len(events)), zap.Error(err))
		w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter/time.Second)))
		return httperr.Write(w, http.StatusServiceUnavailable, "events could not be published; retry later"), len(events)
	}
	s.metrics.accepted.Add(float64(len(events)))
	if src != nil {
		s.metrics.sourceEvents.WithLabelValues(src.Name).Add(float64(len(events)))
	}
	if in != nil {
		return in.Accepted(w), len(events)
	}
	return writeJSON(w, http.StatusAccepted, map[string]int{"accepted": len(events)}), len(events)
}

// readBody reads a body of the given length (unknown when negative) in
// one buffer of its size.
func readBody(r io.Reader, length int64) ([]byte, error) {
	if length < 0 {
		return io.ReadAll(r)
	}
	body := make([]byte, length)
	n, err := io.ReadFull(r, body)
	return body[:n], err
}

// refusalCost is what a refused request costs its source's rate: an event
// for every MaxBodyBytes/MaxEvents bytes of body it made the ingestor read
// (as many as a full body of the most events would take each), and at
// least one.
func (s *Service) refusalCost(read int64) int {
	per := max(1, s.cfg.MaxBodyBytes/int64(s.cfg.MaxEvents))
	return int(max(1, (read+per-1)/per))
}

func (s *Service) bodyTooLarge() string {
	return "body over the limit of " + strconv.FormatInt(s.cfg.MaxBodyBytes, 10) + " bytes"
}

// tooMany answers 429 with a Retry-After of whole seconds, at least 1.
func (s *Service) tooMany(w http.ResponseWriter, src *auth.Source, wait time.Duration) int {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
	return httperr.Write(w, http.StatusTooManyRequests, "source "+src.Name+" is over its rate limit; retry later")
}

func (s *Service) decodeFailed(w http.ResponseWriter, err error) int {
	var tooLarge *event.TooLargeError
	var maxBytes *http.MaxBytesError
	var items event.ItemErrors
	switch {
	case errors.As(err, &tooLarge):
		return httperr.Write(w, http.StatusRequestEntityTooLarge, tooLarge.Error())
	case errors.As(err, &maxBytes), errors.Is(err, errGzipTooLarge):
		return httperr.Write(w, http.StatusRequestEntityTooLarge, s.bodyTooLarge())
	case errors.As(err, &items):
		out := make([]httperr.Item, len(items))
		seen := make(map[int]bool, len(items))
		for i, ie := range items {
			out[i] = httperr.Item{Index: ie.Index, Field: ie.Field, Message: ie.Message}
			seen[ie.Index] = true
		}
		s.metrics.rejected.Add(float64(len(seen)))
		return httperr.WriteItems(w, http.StatusBadRequest, out)
	default:
		// The body could not be read (the client went away or sent a broken
		// chunked encoding): nothing to say about any item, so no index.
		return httperr.Write(w, http.StatusBadRequest, err.Error())
	}
}

// mediaType returns the media type Decode should be told, and false when the
// Content-Type is not one the contract accepts. No Content-Type means "sniff".
func mediaType(ct string) (string, bool) {
	if ct == "" {
		return "", true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && mt != "application/x-ndjson") {
		return "", false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return "", false
	}
	return mt, true
}

// writeJSON answers with v as JSON and returns the status.
func writeJSON(w http.ResponseWriter, status int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errors":[{"message":"could not encode the answer"}]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return status
}

// Sink publishes records durably; *stream.Writer is one.
type Sink interface {
	Publish(ctx context.Context, recs ...stream.Record) error
}

// SourceHeader is the record header naming the authenticated source that
// posted the event (absent when no tokens are configured). Unlike the
// event's own "source" field, a caller cannot choose it.
const SourceHeader = "leads.source"

// StreamPublisher publishes events to a topic, keyed by account id, else
// contact id, with the ingest time as the record time and the
// authenticated source (auth.SourceFrom) in the SourceHeader header.
type StreamPublisher struct {
	Sink  Sink
	Topic string
	Now   func() time.Time
}

// Publish encodes and publishes the whole batch at once.
func (p *StreamPublisher) Publish(ctx context.Context, b event.Batch) error {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	at := now()
	var headers []stream.Header
	if name := auth.SourceFrom(ctx); name != "" {
		headers = []stream.Header{{Key: SourceHeader, Value: name}}
	}
	events := b.Events
	recs := make([]stream.Record, len(events))
	n := 0
	for i := range events {
		n += len(events[i].Key())
	}
	keys := make([]byte, 0, n) // one allocation for every key
	for i := range events {
		v, err := b.Encoding(i)
		if err != nil {
			return fmt.Errorf("encode event %d: %w", i, err)
		}
		k := len(keys)
		keys = append(keys, events[i].Key()...)
		recs[i] = stream.Record{Topic: p.Topic, Key: keys[k:len(keys):len(keys)], Value: v, Time: at, Headers: headers}
	}
	return p.Sink.Publish(ctx, recs...)
}
