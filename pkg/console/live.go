package console

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/app"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/transition"
)

// Transition is one line of the live feed.
type Transition struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Subject      string    `json:"subject"`
	ContactID    string    `json:"contact_id,omitempty"`
	AccountID    string    `json:"account_id,omitempty"`
	Score        int32     `json:"score"`
	Grade        string    `json:"grade,omitempty"`
	Stage        string    `json:"stage,omitempty"`
	ModelVersion string    `json:"model_version"`
	Time         time.Time `json:"time"`
}

// Feed tails the transitions topic for the live page. It reads only while
// someone watches, starting a little before the first watcher came so
// that the page has lines at once, and hands each transition to every
// watcher whose filter takes it. It polls the partitions' ends rather than
// joining a consumer group: a group would replay the topic from its start
// and take part in rebalances for what is only a view.
type Feed struct {
	cfg   stream.Config
	topic string
	log   *zap.Logger
	// Every is how often the partitions' ends are read while someone
	// watches; Lookback how far before the first watcher reading starts.
	Every    time.Duration
	Lookback time.Duration

	mu     sync.Mutex
	subs   map[*watcher]struct{}
	recent []Transition
	closed bool
}

type watcher struct {
	ch    chan Transition
	types map[string]bool // nil: every type
}

// feedRecent is how many transitions a new watcher gets at once, and
// feedBuffer how many may wait for a slow one before it misses some.
const (
	feedRecent = 100
	feedBuffer = 256
)

// NewFeed returns the feed of topic.
func NewFeed(cfg stream.Config, topic string, log *zap.Logger) *Feed {
	return &Feed{cfg: cfg, topic: topic, log: log, Every: 500 * time.Millisecond, Lookback: 2 * time.Minute, subs: map[*watcher]struct{}{}}
}

// Run tails the topic until ctx ends, then ends every watch.
func (f *Feed) Run(ctx context.Context) error {
	defer f.close()
	tick := time.NewTicker(f.Every)
	defer tick.Stop()
	var next map[int]int64 // where each partition is read next; nil while nobody watches
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if !f.watched() {
			next = nil
			continue
		}
		from := time.Time{}
		if next == nil {
			from = time.Now().Add(-f.Lookback)
		}
		spans, err := stream.Spans(ctx, f.cfg, f.topic, from)
		if err != nil {
			f.log.Debug("live feed: partitions unreadable", zap.String("topic", f.topic), zap.Error(err))
			continue
		}
		var todo []stream.Span
		ends := map[int]int64{}
		for _, s := range spans {
			ends[s.Partition] = s.End
			start := s.Start
			if next != nil {
				start = max(next[s.Partition], s.Start)
			}
			if start < s.End {
				todo = append(todo, stream.Span{Partition: s.Partition, Start: start, End: s.End})
			}
		}
		if len(todo) > 0 {
			err := stream.ReadSpans(ctx, f.cfg, f.topic, todo, time.Time{}, 500, f.log, func(recs []stream.Record) error {
				for i := range recs {
					f.publish(decodeTransition(recs[i].Value))
				}
				return nil
			})
			if err != nil {
				f.log.Debug("live feed: read failed", zap.String("topic", f.topic), zap.Error(err))
				continue // read the same spans again
			}
		}
		next = ends
	}
}

func decodeTransition(b []byte) Transition {
	var ce transition.CloudEvent
	if err := json.Unmarshal(b, &ce); err != nil {
		return Transition{Type: "undecodable", Subject: strconv.Quote(string(b[:min(len(b), 64)]))}
	}
	return Transition{ID: ce.ID, Type: ce.Type, Subject: ce.Subject, ContactID: ce.Data.ContactID, AccountID: ce.Data.AccountID,
		Score: ce.Data.Score, Grade: ce.Data.Grade, Stage: ce.Data.Stage, ModelVersion: ce.Data.ModelVersion, Time: ce.Time}
}

func (f *Feed) watched() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) == 0 {
		f.recent = nil
	}
	return len(f.subs) > 0
}

func (f *Feed) publish(t Transition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recent = append(f.recent, t)
	if len(f.recent) > feedRecent {
		f.recent = slices.Delete(f.recent, 0, len(f.recent)-feedRecent)
	}
	for w := range f.subs {
		if w.types == nil || w.types[t.Type] {
			select {
			case w.ch <- t:
			default: // a watcher this far behind misses lines rather than holding the feed up
			}
		}
	}
}

// watch adds a watcher of types (nil: all) and returns it with the recent
// transitions it takes; ok is false once the feed has stopped.
func (f *Feed) watch(types map[string]bool) (w *watcher, recent []Transition, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, nil, false
	}
	w = &watcher{ch: make(chan Transition, feedBuffer), types: types}
	f.subs[w] = struct{}{}
	for _, t := range f.recent {
		if types == nil || types[t.Type] {
			recent = append(recent, t)
		}
	}
	return w, recent, true
}

func (f *Feed) unwatch(w *watcher) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[w]; ok {
		delete(f.subs, w)
		close(w.ch)
	}
}

// close ends every watch, so that the server's shutdown is not held up
// by open streams.
func (f *Feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for w := range f.subs {
		delete(f.subs, w)
		close(w.ch)
	}
}

// liveTypes reads the ?type= filter: crossing types, each known.
func liveTypes(r *http.Request) (map[string]bool, []string, *pageError) {
	asked := r.URL.Query()["type"]
	if len(asked) == 0 {
		return nil, nil, nil
	}
	types := map[string]bool{}
	for _, t := range asked {
		if !slices.Contains(scoring.CrossingTypes, t) {
			return nil, nil, &pageError{Status: http.StatusBadRequest, Field: "type",
				Message: "type must be one of " + strings.Join(scoring.CrossingTypes, ", ") + "; not " + strconv.Quote(t) + "."}
		}
		types[t] = true
	}
	return types, asked, nil
}

type liveData struct {
	Types    []liveType
	Src      string
	Disabled bool
}

type liveType struct {
	Name    string
	Checked bool
}

func (c *Console) live(w http.ResponseWriter, r *http.Request) *pageError {
	types, asked, perr := liveTypes(r)
	if perr != nil {
		return perr
	}
	d := liveData{Src: "/ui/live/events", Disabled: c.feed == nil}
	if len(asked) > 0 {
		d.Src += "?" + r.URL.Query().Encode()
	}
	for _, t := range scoring.CrossingTypes {
		d.Types = append(d.Types, liveType{Name: t, Checked: types[t]})
	}
	c.render(w, r, http.StatusOK, "live", page{Title: "Live transitions", Nav: "live"}, d)
	return nil
}

// liveEvents streams the feed as server-sent events: the recent
// transitions, then each new one, with a comment every 15 s so proxies
// keep the stream open.
func (c *Console) liveEvents(w http.ResponseWriter, r *http.Request) *pageError {
	types, _, perr := liveTypes(r)
	if perr != nil {
		return perr
	}
	if c.feed == nil {
		return &pageError{Status: http.StatusNotFound, Message: "This console has no transitions feed."}
	}
	sub, recent, ok := c.feed.watch(types)
	if !ok {
		return &pageError{Status: http.StatusServiceUnavailable, Message: "The transitions feed has stopped."}
	}
	defer c.feed.unwatch(sub)
	rc := http.NewResponseController(w)
	// The server's ReadTimeout would end the stream: it bounds reading
	// the request, and this request lasts as long as someone watches.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(t Transition) error {
		b, _ := json.Marshal(t) // escapes <, > and & as \u003c...: no markup crosses as such
		if _, err := w.Write([]byte("data: " + string(b) + "\n\n")); err != nil {
			return err
		}
		return nil
	}
	for _, t := range recent {
		if send(t) != nil {
			return nil
		}
	}
	if rc.Flush() != nil {
		return nil
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-app.Stopping(r.Context()):
			return nil // the server is shutting down
		case <-ping.C:
			if _, err := w.Write([]byte(": ping\n\n")); err != nil {
				return nil
			}
		case t, ok := <-sub.ch:
			if !ok {
				return nil
			}
			if send(t) != nil {
				return nil
			}
		}
		if rc.Flush() != nil {
			return nil
		}
	}
}
