package program

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
	"github.com/leadscore/leads/pkg/transition"
)

// kafkaMessage is a consumed Kafka record as the CloudEvents SDK's Kafka
// protocol bindings see one (kafka_sarama's Message, without Sarama): the
// header content-type naming an event format (format.Lookup) makes it a
// structured-mode event, decoded by that format; ce_ headers would make it
// binary mode, which the transitions never are; anything else is
// binding.EncodingUnknown, which binding.ToEvent refuses.
type kafkaMessage struct {
	value  []byte
	format format.Format
}

func newKafkaMessage(rec stream.Record) *kafkaMessage {
	m := &kafkaMessage{value: rec.Value}
	for _, h := range rec.Headers {
		if strings.ToLower(h.Key) == "content-type" {
			m.format = format.Lookup(h.Value)
		}
	}
	return m
}

func (m *kafkaMessage) ReadEncoding() binding.Encoding {
	if m.format != nil {
		return binding.EncodingStructured
	}
	return binding.EncodingUnknown
}

func (m *kafkaMessage) ReadStructured(ctx context.Context, w binding.StructuredWriter) error {
	if m.format == nil {
		return binding.ErrNotStructured
	}
	return w.SetStructuredEvent(ctx, m.format, bytes.NewReader(m.value))
}

func (m *kafkaMessage) ReadBinary(context.Context, binding.BinaryWriter) error {
	return binding.ErrNotBinary
}

func (m *kafkaMessage) Finish(error) error { return nil }

// TestTransitionsAreStructuredCloudEventsToTheSDK reads every record the
// programs publish as transitions (the scorer, `decayer --once`, and
// `scorer backfill --emit-to --decay-at`) through the CloudEvents SDK's
// binding machinery, as an SDK consumer of the topic would: each must be
// recognised as a structured-mode event by its content-type header and
// decode to a valid event equal to the one the pure engine gives for that
// id (type, subject, source, time, data), every expected crossing once.
// Without the header the SDK cannot tell the record's mode and refuses it.
func TestTransitionsAreStructuredCloudEventsToTheSDK(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	p := testutil.Prefix(t)
	events, transitions, emitted, dlq := p+".events", p+".transitions", p+".emitted", p+".dlq"
	brokers := testutil.Kafka(t, 2, events, transitions, emitted, dlq)
	redisAddr, _ := testutil.Redis(t)
	kcfg := stream.Config{Brokers: brokers}

	// A history well in the past, decayed a year after its end: every
	// contact is then due and goes dormant, so the decayer's pass decays
	// exactly what the pure engine decays.
	begin := time.Now().UTC().Add(-500 * 24 * time.Hour).Truncate(time.Hour)
	g := demo.New(11, 12, begin, p+"-")
	history := append(g.Accounts(), g.Next(150, time.Hour)...)
	decayAt := history[len(history)-1].Time.Add(365 * 24 * time.Hour).Truncate(time.Second)
	want := pureTransitions(t, history, decayAt)
	require.Greater(t, len(want), 20)
	sources := map[string]int{}
	for _, ce := range want {
		sources[ce.Source]++
	}
	require.Positive(t, sources[transition.SourceScorer], "the history makes the scorer publish")
	require.Positive(t, sources[transition.SourceDecayer], "the decay pass makes the decayer publish")

	w := stream.NewWriter(kcfg, testutil.Logger(t))
	t.Cleanup(func() { w.Close() })
	recs := make([]stream.Record, len(history))
	for i := range history {
		b, err := json.Marshal(&history[i])
		require.NoError(t, err)
		recs[i] = stream.Record{Topic: events, Key: []byte(history[i].Key()), Value: b}
	}
	require.NoError(t, w.Publish(ctx, recs...))

	common := []string{"--kafka-brokers=" + strings.Join(brokers, ","), "--redis-addr=" + redisAddr,
		"--events-topic=" + events, "--log-level=warn"}
	live := append(common, "--transitions-topic="+transitions, "--dlq-topic="+dlq, "--namespace="+p+"-live")
	startProgram(t, "scorer", Scorer, testutil.Logger(t), append(live, "--group="+p, "--session-timeout=1s")...)
	require.Eventually(t, func() bool {
		done, err := stream.GroupCaughtUp(ctx, kcfg, p, events)
		return err == nil && done
	}, time.Minute, 50*time.Millisecond, "the scorer consumed and posted every event")
	require.NoError(t, Decayer(ctx, append(live, "--once", "--now="+decayAt.Format(time.RFC3339)), Options{Logger: testutil.Logger(t)}))
	var out bytes.Buffer
	require.NoError(t, Scorer(ctx, append([]string{"backfill"}, append(common, "--namespace="+p+"-rebuilt",
		"--live-namespace="+p+"-live", "--from=earliest", "--emit-to="+emitted, "--decay-at="+decayAt.Format(time.RFC3339))...),
		Options{Logger: testutil.Logger(t), Stdout: &out}), out.String())

	for _, topic := range []string{transitions, emitted} {
		got := map[string]transition.CloudEvent{}
		require.NoError(t, stream.Scan(ctx, kcfg, topic, 0, func(rec stream.Record) error {
			msg := newKafkaMessage(rec)
			require.Equal(t, binding.EncodingStructured, msg.ReadEncoding(), "%s: the record's mode, from its headers %v", topic, rec.Headers)
			e, err := binding.ToEvent(ctx, msg)
			require.NoError(t, err, "%s: the SDK decodes the record", topic)
			require.NoError(t, e.Validate())
			var data transition.Data
			require.NoError(t, e.DataAs(&data))
			ce := transition.CloudEvent{SpecVersion: e.SpecVersion(), ID: e.ID(), Source: e.Source(), Type: e.Type(),
				Subject: e.Subject(), Time: e.Time().UTC(), DataContentType: e.DataContentType(), Data: data}
			assert.Equal(t, string(rec.Key), ce.Subject, "%s: the key is the subject", topic)
			_, dup := got[ce.ID]
			assert.False(t, dup, "%s: %s published once", topic, ce.ID)
			got[ce.ID] = ce
			return nil
		}))
		assert.Equal(t, ids(want), ids(got), "%s: every crossing, nothing else", topic)
		for id, ce := range got {
			assert.Equal(t, want[id], ce, "%s: %s as the SDK reads it", topic, id)
		}
	}
}

// pureTransitions is what the engine alone makes of the history and one
// decay of every contact at decayAt: the CloudEvent of each crossing, by id.
func pureTransitions(t *testing.T, history []event.Event, decayAt time.Time) map[string]transition.CloudEvent {
	t.Helper()
	ws := scoring.NewWorkspace(scoring.New(model.Default()), newHomes{})
	for i := range history {
		require.NoError(t, ws.Apply(&history[i]))
	}
	contacts := make([]string, 0, len(ws.Where))
	for id := range ws.Where {
		contacts = append(contacts, id)
	}
	sort.Strings(contacts)
	for _, id := range contacts {
		_, err := ws.Decay(id, decayAt)
		require.NoError(t, err)
	}
	out := map[string]transition.CloudEvent{}
	for _, h := range ws.Homes {
		for i := range h.Crossings {
			ce := transition.FromCrossing(&h.Crossings[i])
			out[ce.ID] = ce
		}
	}
	return out
}

// newHomes loads every home as new: the history is all there is.
type newHomes struct{}

func (newHomes) LoadHome(id string, _ bool) (*scoring.Home, error) { return scoring.NewHome(id), nil }

func ids(m map[string]transition.CloudEvent) []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
