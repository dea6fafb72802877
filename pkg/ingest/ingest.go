package ingest

import (
	"context"
	"errors"
	"flag"
	"mime"
	"net/http"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/stream"
)

// Config configures the ingest service.
type Config struct {
	MaxBodyBytes int64
	MaxEvents    int
	// RetryAfter is what a 503 tells callers to wait.
	RetryAfter time.Duration
}

// Errors from Validate.
var (
	ErrMaxBody   = errors.New("--max-body-bytes must be between 1 KiB and 1 GiB")
	ErrMaxEvents = errors.New("--max-events must be between 1 and 1,000,000")
)

// RegisterFlags adds the ingest flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", event.DefaultLimits.MaxBytes, "largest request body accepted (413 above)")
	fs.IntVar(&c.MaxEvents, "max-events", event.DefaultLimits.MaxEvents, "most events in one request (413 above)")
	fs.DurationVar(&c.RetryAfter, "retry-after", 5*time.Second, "Retry-After sent with 503 when Kafka is unavailable")
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
	return errors.Join(errs...)
}

// Publisher durably publishes a whole batch of events, or fails.
type Publisher interface {
	Publish(ctx context.Context, events []event.Event) error
}

// Service serves POST /v1/events.
type Service struct {
	cfg     Config
	log     *zap.Logger
	pub     Publisher
	now     func() time.Time
	metrics *metrics
}

type metrics struct {
	accepted prometheus.Counter
	rejected prometheus.Counter
	requests *prometheus.CounterVec
	publish  prometheus.Histogram
}

// New returns the service; reg may be nil, now defaults to time.Now.
func New(cfg Config, log *zap.Logger, pub Publisher, reg prometheus.Registerer, now func() time.Time) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "leads_ingest_events_accepted_total", Help: "Events published."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "leads_ingest_events_rejected_total", Help: "Invalid events refused."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_ingest_requests_total", Help: "Requests by status code."}, []string{"code"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leads_ingest_publish_seconds", Help: "Time to publish a batch with acks=all.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.rejected, m.requests, m.publish)
	}
	return &Service{cfg: cfg, log: log, pub: pub, now: now, metrics: m}, nil
}

// Register mounts POST /v1/events.
func (s *Service) Register(mux *http.ServeMux) { mux.HandleFunc("POST /v1/events", s.post) }

func (s *Service) post(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "application/x-ndjson") {
			s.reply(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json or application/x-ndjson"})
			return
		}
		ct = mt
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	events, err := event.Decode(body, ct, event.Limits{MaxBytes: s.cfg.MaxBodyBytes, MaxEvents: s.cfg.MaxEvents, MaxDepth: event.DefaultLimits.MaxDepth})
	var tooLarge *event.TooLargeError
	var itemErrs event.ItemErrors
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.reply(w, http.StatusRequestEntityTooLarge, map[string]string{"error": tooLarge.Error()})
		return
	case errors.As(err, &maxBytes):
		s.reply(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body over the limit of " + strconv.FormatInt(maxBytes.Limit, 10)})
		return
	case errors.As(err, &itemErrs):
		s.metrics.rejected.Add(float64(len(itemErrs)))
		s.reply(w, http.StatusBadRequest, map[string]any{"errors": itemErrs})
		return
	case err != nil:
		s.reply(w, http.StatusBadRequest, map[string]any{"errors": []event.ItemError{{Message: err.Error()}}})
		return
	}
	now := s.now()
	var invalid []event.ItemError
	for i := range events {
		for _, fe := range events[i].Validate(now) {
			invalid = append(invalid, event.ItemError{Index: i, Field: fe.Field, Message: fe.Message})
		}
	}
	if len(invalid) > 0 {
		s.metrics.rejected.Add(float64(len(invalid)))
		s.reply(w, http.StatusBadRequest, map[string]any{"errors": invalid})
		return
	}
	start := time.Now()
	if err := s.pub.Publish(r.Context(), events); err != nil {
		s.log.Warn("publish failed; answering 503", zap.Int("events", len(events)), zap.Error(err))
		w.Header().Set("Retry-After", strconv.Itoa(int(max(s.cfg.RetryAfter, time.Second).Seconds())))
		s.reply(w, http.StatusServiceUnavailable, map[string]string{"error": "events could not be published; retry later"})
		return
	}
	s.metrics.publish.Observe(time.Since(start).Seconds())
	s.metrics.accepted.Add(float64(len(events)))
	s.log.Debug("events accepted", zap.Int("events", len(events)))
	s.reply(w, http.StatusAccepted, map[string]int{"accepted": len(events)})
}

func (s *Service) reply(w http.ResponseWriter, status int, v any) {
	s.metrics.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Sink publishes records durably; *stream.Writer is one.
type Sink interface {
	Publish(ctx context.Context, recs ...stream.Record) error
}

// StreamPublisher publishes events to a topic, keyed by account id, else
// contact id, with the ingest time as the record time.
type StreamPublisher struct {
	Sink  Sink
	Topic string
	Now   func() time.Time
}

// Publish encodes and publishes the whole batch at once.
func (p *StreamPublisher) Publish(ctx context.Context, events []event.Event) error {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	at := now()
	recs := make([]stream.Record, len(events))
	for i := range events {
		b, err := json.Marshal(&events[i])
		if err != nil {
			return err
		}
		recs[i] = stream.Record{Topic: p.Topic, Key: []byte(events[i].Key()), Value: b, Time: at}
	}
	return p.Sink.Publish(ctx, recs...)
}
