package store

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/parallel"
	"github.com/leadscore/leads/pkg/scoring"
)

var (
	//go:embed commit.lua
	commitLua string
	//go:embed rank.lua
	rankLua string
	//go:embed before.lua
	beforeLua string

	commitScript = redis.NewScript(commitLua)
	rankScript   = redis.NewScript(beforeLua + rankLua)
)

// Hash fields of a home.
const (
	fieldVersion  = "_v"
	fieldAccount  = "_a"
	fieldOutbox   = "_x"
	fieldReports  = "_r" // report deltas as written before reportsKey
	prefixContact = "c:"
	prefixOffset  = "o:"
)

// DefaultLedgerMax is how many ledger lines are kept per contact.
const DefaultLedgerMax = 200

// ErrNotFound is returned by reads of a contact or account that does not exist.
var ErrNotFound = errors.New("not found")

// HomeError is a failure of one home rather than of Redis: its stored
// state does not decode, or Redis refuses to write it. Retrying does not
// help; the events that touch it are set aside (see FailedHomes).
type HomeError struct {
	Home string
	Err  error
}

func (e *HomeError) Error() string { return "home " + e.Home + ": " + e.Err.Error() }
func (e *HomeError) Unwrap() error { return e.Err }

// FailedHomes lists the homes of every HomeError in err's tree.
func FailedHomes(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if he, ok := err.(*HomeError); ok {
			out = append(out, he.Home)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			if e := u.Unwrap(); e != nil {
				walk(e)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// Store reads and writes scoring state in one namespace of Redis.
type Store struct {
	rdb redis.UniversalClient
	ns  string
	// LedgerMax is how many lines a contact's ledger keeps (0: all), and
	// LedgerMaxAge how long before its newest line it keeps them (0: any
	// age); see retain.
	LedgerMax    int
	LedgerMaxAge time.Duration
	labels       labels
	// TextBound is how many texts of each class the dictionary of state
	// texts numbers (0: DefaultTextBound).
	TextBound int
	texts     labels
	// LeaderboardSize bounds each leaderboard to the top N,
	// FilteredBoardSize each filtered one (see Filter) and CellSize each
	// cell (see CellOf).
	LeaderboardSize   int
	FilteredBoardSize int
	CellSize          int
	boards            struct {
		sync.Mutex
		floor map[string]float64
		lost  map[string]Ranked
	}
	expiring expiring
	tallies  struct {
		sync.Mutex
		m map[string]*Tally
	}
}

// DefaultLeaderboardSize is how many contacts and accounts the
// leaderboards keep; DefaultFilteredBoardSize how many contacts each
// filtered board keeps: as many as the read API serves at once (a tenth
// of the first: the boards are many, and each copy costs memory and
// Redis time on every batch).
const (
	DefaultLeaderboardSize   = 10000
	DefaultFilteredBoardSize = 1000
	// DefaultCellSize keeps cells small enough for Redis's compact
	// encoding of sorted sets (a listpack, up to 128 entries: a cell is
	// trimmed as it is written, so it never holds more than twice its
	// size); a read that needs more of a cell goes on with boards.
	DefaultCellSize = 64
)

// New returns a store for the namespace (a key prefix; "leads" for live).
func New(rdb redis.UniversalClient, namespace string) *Store {
	return &Store{rdb: rdb, ns: namespace, LedgerMax: DefaultLedgerMax, LeaderboardSize: DefaultLeaderboardSize,
		FilteredBoardSize: DefaultFilteredBoardSize, CellSize: DefaultCellSize}
}

// KeepLedgersAs sets the ledgers' retention to the model's (its ledger
// section) and returns s. Every program of a deployment runs one model,
// so writers and readers keep the same lines.
func (s *Store) KeepLedgersAs(m *model.Model) *Store {
	s.LedgerMax, s.LedgerMaxAge = m.LedgerKeep, m.LedgerMaxAge
	return s
}

// Client returns the Redis client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Namespace returns the key prefix.
func (s *Store) Namespace() string { return s.ns }

// HomeKey is the hash of a home; the braces make every key of the home share
// one Redis Cluster hash slot. Ids are escaped (see keys.go).
func (s *Store) HomeKey(home string) string { return s.ns + ":{" + homeTag(home) + "}" }

// reportsKey holds a home's report deltas committed and not yet known
// applied (see Meta.Reports), in the home's slot. They are a string of
// their own rather than a field of the home's hash, as they were once
// (fieldReports, still read): their size has no bound, and one value
// larger than hash-max-listpack-value turns the hash into a hash table,
// for good, at about 60 bytes more a contact.
func (s *Store) reportsKey(home string) string { return s.ns + ":{" + homeTag(home) + "}:r" }

// ledgerKey is the ledger list of a contact in its home.
func (s *Store) ledgerKey(home, contact string) string {
	return s.ns + ":{" + homeTag(home) + "}:l:" + keyPart(contact)
}

// indexBuckets spreads the contact index over small hashes: Redis stores a
// hash of up to 128 short fields as a listpack, about 25 bytes a contact
// against some 80 for a key of its own, as long as buckets stay small (up to
// about two million contacts).
const indexBuckets = 16384

// indexKey is the bucket of the contact index holding a contact.
func (s *Store) indexKey(contact string) string {
	return s.ns + ":ci:{" + strconv.FormatUint(xxhash.Sum64String(contact)%indexBuckets, 10) + "}"
}

// emailKey is the hash of the email lookup's bucket of an address hash
// (see EmailHash), spread like the contact index.
func (s *Store) emailKey(hash string) string {
	return s.ns + ":em:{" + strconv.FormatUint(xxhash.Sum64String(hash)%indexBuckets, 10) + "}"
}

// EmailHash is what the email lookup knows of an address: 16 bytes of
// SHA-256 of the address trimmed and in lower case, so that Redis holds
// no address (a hash, not a secret: whoever has a list of addresses can
// test them). All 16 choose the bucket (emailKey); the entry's field is
// the first 8 (emailField).
func EmailHash(email string) string {
	sum := sha256.Sum256([]byte("leads-email\x00" + strings.ToLower(strings.TrimSpace(email))))
	return string(sum[:16])
}

// emailField is the field of an address's entry in its bucket: 8 bytes of
// its hash. Two addresses share an entry when they also share the bucket,
// which all 16 bytes choose: by chance once in about 2^78 pairs, and on
// purpose only with a second preimage of those 78 bits. Entries
// written with the whole 16-byte hash as their field (before) are still
// read, and replaced when the address is written again.
func emailField(hash string) string { return hash[:8] }

// ContactByEmail returns the contact the address was last seen on, or
// ErrNotFound.
func (s *Store) ContactByEmail(ctx context.Context, email string) (string, error) {
	h := EmailHash(email)
	got, err := s.rdb.HMGet(ctx, s.emailKey(h), emailField(h), h).Result()
	if err != nil {
		return "", fmt.Errorf("read the email lookup: %w", err)
	}
	for _, v := range got {
		if id, ok := v.(string); ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("email: %w", ErrNotFound)
}

// mqaKey is the set of the accounts that are MQA now.
func (s *Store) mqaKey() string { return s.ns + ":mqa" }

// MQACount is how many accounts are MQA now.
func (s *Store) MQACount(ctx context.Context) (int64, error) {
	n, err := s.rdb.SCard(ctx, s.mqaKey()).Result()
	if err != nil {
		return 0, fmt.Errorf("count MQA accounts: %w", err)
	}
	return n, nil
}

// LeaderboardKey is the sorted set of contacts or accounts by score.
func (s *Store) LeaderboardKey(by string) string { return s.ns + ":lb:" + by }

// cellsKey is the set of every cell a contact has been written to (see
// CellOf), which a read of several filters picks its cells from. A cell
// stays when it empties: few ever do, and an empty one reads as nothing.
func (s *Store) cellsKey() string { return s.ns + ":lb:cells" }

// lostKey holds a leaderboard's lost mark (see Lost): a sorted set of one
// entry, in the board's hash slot (its tag is the board's whole key).
func (s *Store) lostKey(by string) string { return "{" + s.LeaderboardKey(by) + "}:lost" }

// Meta is what the store knows of a loaded home beyond its states.
type Meta struct {
	Version int64
	// Offsets are the per-partition watermarks: messages at or below were applied.
	Offsets map[int32]int64
	// Outbox holds crossings committed but maybe not yet published.
	Outbox []OutboxEntry
	// LegacyOutbox says the outbox is, or holds, an outbox in the form
	// written before entries had writers: the next commit moves it.
	LegacyOutbox bool
	// Reports holds report counter deltas committed but maybe not yet
	// applied to the report counters (see ApplyReports).
	Reports []ReportDelta
	// LegacyReports says some of them are in the home's hash, where they
	// were written before they had a key of their own: the next commit
	// moves them.
	LegacyReports bool
	// tails are where the loaded contacts' ledgers end, for contacts
	// known to have a packed ledger or none; a ledger of another contact
	// is read before it is written.
	tails map[string]ledgerTail
}

// ReportDelta is one commit's report counter deltas, by model version then
// counter, with the home version the commit wrote: report counters apply
// each (home, version) once.
type ReportDelta struct {
	Version int64                       `json:"v"`
	Counts  map[string]map[string]int64 `json:"c"`
}

// Request says what to load of one home.
type Request struct {
	Contacts   []string
	Partitions []int32
	All        bool
}

// IndexedHomes reads the contact index: contact id → home id ("" when unknown).
func (s *Store) IndexedHomes(ctx context.Context, contacts []string) (map[string]string, error) {
	out := make(map[string]string, len(contacts))
	if len(contacts) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(contacts))
	for i, c := range contacts {
		cmds[i] = pipe.HGet(ctx, s.indexKey(c), c)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("locate contacts: %w", err)
	}
	for i, c := range contacts {
		if v, err := cmds[i].Result(); err == nil {
			out[c] = v
		}
	}
	return out, nil
}

// Load reads the requested homes in one pipeline.
func (s *Store) Load(ctx context.Context, reqs map[string]*Request) (map[string]*scoring.Home, map[string]*Meta, error) {
	homes := make(map[string]*scoring.Home, len(reqs))
	metas := make(map[string]*Meta, len(reqs))
	if len(reqs) == 0 {
		return homes, metas, nil
	}
	type pending struct {
		id      string
		fields  []string
		get     *redis.SliceCmd
		all     *redis.MapStringStringCmd
		outbox  *redis.StringSliceCmd
		reports *redis.StringCmd
	}
	pipe := s.rdb.Pipeline()
	var ps []pending
	for id, r := range reqs {
		p := pending{id: id}
		if r.All {
			p.all = pipe.HGetAll(ctx, s.HomeKey(id))
		} else {
			p.fields = make([]string, 0, 3+len(r.Contacts)+len(r.Partitions))
			p.fields = append(p.fields, fieldVersion, fieldAccount, fieldOutbox, fieldReports)
			for _, c := range r.Contacts {
				p.fields = append(p.fields, prefixContact+c)
			}
			for _, part := range r.Partitions {
				p.fields = append(p.fields, offsetField(part))
			}
			p.get = pipe.HMGet(ctx, s.HomeKey(id), p.fields...)
		}
		p.outbox = pipe.SMembers(ctx, s.outboxKey(id))
		p.reports = pipe.Get(ctx, s.reportsKey(id))
		ps = append(ps, p)
	}
	// Whoever loads is about to write states and ledger lines with the
	// dictionaries' numbers: the copies must be of the dictionaries there
	// now (a Redis that lost its data numbers again under new epochs).
	// Between this load and the commit, a loss makes every home loaded
	// conflict (its version is gone), and the batch is loaded again.
	labelsChecked := s.labels.checkEpoch(ctx, pipe, s.labelsKey())
	textsChecked := s.texts.checkEpoch(ctx, pipe, s.textsKey())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		var refused []error
		for _, p := range ps {
			var cerr error
			if p.all != nil {
				cerr = p.all.Err()
			} else {
				cerr = p.get.Err()
			}
			if cerr == nil {
				cerr = p.outbox.Err()
			}
			if cerr == nil {
				cerr = p.reports.Err()
			}
			switch {
			case cerr == nil || errors.Is(cerr, redis.Nil):
			case refuses(cerr):
				refused = append(refused, &HomeError{Home: p.id, Err: cerr})
			default:
				return nil, nil, fmt.Errorf("load homes: %w", err)
			}
		}
		if len(refused) == 0 {
			return nil, nil, fmt.Errorf("load homes: %w", err)
		}
		return nil, nil, errors.Join(refused...)
	}
	labelsChecked()
	textsChecked()
	// Decoded again when a state has texts numbered since this process
	// last read the dictionary (withTexts).
	err := s.withTexts(ctx, func(texts *textReader) error {
		for _, p := range ps {
			fields := map[string]string{}
			if p.all != nil {
				fields = p.all.Val()
			} else {
				for i, v := range p.get.Val() {
					if str, ok := v.(string); ok {
						fields[p.fields[i]] = str
					}
				}
			}
			h, m, err := decodeHome(p.id, fields, p.all != nil, texts)
			if err != nil {
				return err
			}
			// A contact asked for and not there has no ledger here.
			for _, f := range p.fields {
				if c, ok := strings.CutPrefix(f, prefixContact); ok && h.Contacts[c] == nil {
					m.tails[c] = ledgerTail{}
				}
			}
			for _, member := range p.outbox.Val() {
				e, err := decodeOutboxMember(member)
				if err != nil {
					return &HomeError{Home: p.id, Err: err}
				}
				m.Outbox = append(m.Outbox, e)
			}
			if raw, err := p.reports.Bytes(); err == nil {
				var rs []ReportDelta
				if err := json.Unmarshal(raw, &rs); err != nil {
					return &HomeError{Home: p.id, Err: fmt.Errorf("report deltas: %w", err)}
				}
				m.Reports = append(m.Reports, rs...)
			}
			homes[p.id], metas[p.id] = h, m
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return homes, metas, nil
}

func offsetField(partition int32) string { return prefixOffset + strconv.Itoa(int(partition)) }

func decodeHome(id string, fields map[string]string, all bool, texts *textReader) (*scoring.Home, *Meta, error) {
	h := scoring.NewHome(id)
	h.AllMembers = all
	m := &Meta{Offsets: map[int32]int64{}, tails: map[string]ledgerTail{}}
	for k, v := range fields {
		var err error
		switch {
		case k == fieldVersion:
			m.Version, err = strconv.ParseInt(v, 10, 64)
		case k == fieldAccount:
			h.Account, err = DecodeAccount([]byte(v), scoring.AccountOfHome(id))
		case k == fieldOutbox:
			var legacy []OutboxEntry
			if legacy, err = decodeLegacyOutbox(v); err == nil {
				m.Outbox, m.LegacyOutbox = append(legacy, m.Outbox...), true
			}
		case k == fieldReports:
			err = json.Unmarshal([]byte(v), &m.Reports)
			m.LegacyReports = true
		case strings.HasPrefix(k, prefixContact):
			cid := k[len(prefixContact):]
			var c *scoring.Contact
			var rest []byte
			if c, rest, err = decodeContactWith([]byte(v), cid, scoring.AccountOfHome(id), texts); err == nil {
				h.Contacts[cid] = c
				if len(rest) > 0 {
					m.tails[cid], err = decodeTailNear(rest, c)
				}
			}
		case strings.HasPrefix(k, prefixOffset):
			var p, o int64
			if p, err = strconv.ParseInt(k[len(prefixOffset):], 10, 32); err == nil {
				o, err = strconv.ParseInt(v, 10, 64)
				m.Offsets[int32(p)] = o
			}
		}
		if err != nil {
			return nil, nil, &HomeError{Home: id, Err: fmt.Errorf("field %s: %w", k, err)}
		}
	}
	return h, m, nil
}

// Commit is one home's write.
type Commit struct {
	Home *scoring.Home
	Meta *Meta
	// Offsets are the highest offsets applied per partition in this batch.
	Offsets map[int32]int64
	// Outbox are the crossings this commit adds to the home's outbox. (A
	// legacy outbox loaded is moved into the set with them.)
	Outbox []OutboxEntry
	// Reports is every report delta not yet known applied: the loaded ones
	// plus this commit's (at Meta.Version+1).
	Reports []ReportDelta
	// Carry holds the ledgers that contacts moving into this home bring
	// from the home they left, as Ledgers reads them; they go before
	// (older than) the contact's new lines. The ledgers of the contacts
	// that left this home (Home.Removed) are deleted.
	Carry map[string][]string
}

// Ledgers reads the stored ledgers of contacts (contact id → its home),
// each as one packed string (none for an empty ledger): what a contact
// moving out of its home carries. A ledger stored as a list, before lines
// were packed, is packed here.
func (s *Store) Ledgers(ctx context.Context, homes map[string]string) (map[string][]string, error) {
	out := make(map[string][]string, len(homes))
	if len(homes) == 0 {
		return out, nil
	}
	keys := make(map[string]ledgerRef, len(homes))
	for c, h := range homes {
		keys[c] = ledgerRef{key: s.ledgerKey(h, c), contact: c}
	}
	lines, err := s.readLedgers(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read ledgers of moving contacts: %w", err)
	}
	for c, ls := range lines {
		if len(ls) > 0 {
			b, _ := appendLines(nil, ledgerTail{}, ls)
			out[c] = []string{string(b)}
		}
	}
	return out, nil
}

// ErrConflict is returned for homes another writer committed since they
// were loaded; reload and redo them.
var ErrConflict = errors.New("home changed since it was loaded")

// CommitAll commits every home in one pipeline of commit script calls and
// returns the new version of each, or in errs, per home, ErrConflict
// (wrapped) or a HomeError for a home Redis refuses to write. A call
// commits several homes, except on Redis Cluster, where the keys of one
// call must share a slot.
func (s *Store) CommitAll(ctx context.Context, commits []Commit) (versions []int64, errs []error, err error) {
	plans, err := s.planLedgers(ctx, commits)
	if err != nil {
		return nil, nil, err
	}
	if err := s.internTexts(ctx, commits); err != nil {
		return nil, nil, err
	}
	calls, err := s.commitCalls(commits, plans)
	if err != nil {
		return nil, nil, err
	}
	cmds := make([]*redis.Cmd, len(calls))
	perr := s.runScript(ctx, commitScript, "commit homes", func(pipe redis.Pipeliner) {
		for i, c := range calls {
			cmds[i] = commitScript.EvalSha(ctx, pipe, c.keys, c.args...)
		}
	})
	versions = make([]int64, len(commits))
	errs = make([]error, len(commits))
	for n, c := range calls {
		switch cerr := cmds[n].Err(); {
		case cerr == nil:
		case refuses(cerr) && c.to-c.from == 1:
			errs[c.from] = &HomeError{Home: commits[c.from].Home.ID, Err: cerr}
			continue
		case refuses(cerr):
			// Find the homes Redis refuses by committing each on its own.
			// (One the failed call wrote before failing is then a
			// conflict: the batch is redone.)
			for i := c.from; i < c.to; i++ {
				v, e, err := s.CommitAll(ctx, commits[i:i+1])
				if err != nil {
					return nil, nil, err
				}
				versions[i], errs[i] = v[0], e[0]
			}
			continue
		default:
			return nil, nil, perr
		}
		res, err := cmds[n].Slice()
		if err != nil || len(res) != c.to-c.from {
			return nil, nil, fmt.Errorf("commit homes: unexpected reply %v: %w", cmds[n].Val(), err)
		}
		for j, r := range res {
			i := c.from + j
			pair, ok := r.([]any)
			if !ok || len(pair) != 2 {
				return nil, nil, fmt.Errorf("commit home %s: unexpected reply %v", commits[i].Home.ID, r)
			}
			done, ok1 := pair[0].(int64)
			version, ok2 := pair[1].(int64)
			if !ok1 || !ok2 {
				return nil, nil, fmt.Errorf("commit home %s: unexpected reply %v", commits[i].Home.ID, r)
			}
			versions[i] = version
			switch done {
			case 1:
				plans[i].done(commits[i].Meta)
			case 2:
				errs[i] = &HomeError{Home: commits[i].Home.ID, Err: errLedgerAstray}
			default:
				errs[i] = fmt.Errorf("%w: %s is at version %d, loaded %d", ErrConflict, commits[i].Home.ID, version, commits[i].Meta.Version)
			}
		}
	}
	return versions, errs, nil
}

// refuses reports whether err is Redis refusing a command for what it was
// given (a key of the wrong type, a script error), which trying again does
// not cure, rather than Redis being unreachable, busy or failing over.
func refuses(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) || isNoScript(err) {
		return false
	}
	for _, transient := range []string{"LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "OOM", "MOVED", "ASK"} {
		if strings.HasPrefix(err.Error(), transient) {
			return false
		}
	}
	return true
}

// A script call writes up to this many homes or about this many arguments,
// so one call does not hold Redis for long.
const (
	homesPerCall = 64
	argsPerCall  = 4096
)

// commitCall is one commit script call: the keys and arguments of
// commits[from:to].
type commitCall struct {
	keys     []string
	args     []any
	from, to int
}

// commitCalls lays commits out as commit script calls (see commit.lua).
func (s *Store) commitCalls(commits []Commit, plans []*ledgerPlan) ([]commitCall, error) {
	keys := make([][]string, len(commits))
	args := make([][]any, len(commits))
	err := parallel.Each(len(commits), func(i int) (err error) {
		keys[i], args[i], err = s.commitArgs(&commits[i], plans[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	var calls []commitCall
	for _, r := range s.scriptCalls(len(commits), func(i int) int { return 1 + len(args[i]) }) {
		nk, na := 0, 1
		for i := r[0]; i < r[1]; i++ {
			nk, na = nk+len(keys[i]), na+1+len(args[i])
		}
		c := commitCall{keys: make([]string, 0, nk), args: make([]any, 1, na), from: r[0], to: r[1]}
		c.args[0] = r[1] - r[0]
		for i := r[0]; i < r[1]; i++ {
			c.keys = append(c.keys, keys[i]...)
			c.args = append(append(c.args, len(keys[i])), args[i]...)
		}
		calls = append(calls, c)
	}
	return calls, nil
}

// scriptCalls splits n homes into the script calls that write them, as
// [from, to) ranges: one home a call on Redis Cluster, where a call's keys
// must share a slot, else up to homesPerCall homes or about argsPerCall
// arguments; args(i) is how many arguments home i takes.
func (s *Store) scriptCalls(n int, args func(i int) int) [][2]int {
	_, cluster := s.rdb.(*redis.ClusterClient)
	var calls [][2]int
	from, size := 0, 0
	for i := range n {
		size += args(i)
		if cluster || i+1-from >= homesPerCall || size >= argsPerCall {
			calls = append(calls, [2]int{from, i + 1})
			from, size = i+1, 0
		}
	}
	if from < n {
		calls = append(calls, [2]int{from, n})
	}
	return calls
}

// runScript runs the calls of script that queue puts in a pipeline. Redis
// forgets scripts when it restarts or fails over (or on SCRIPT FLUSH): then
// the script is loaded and the whole pipeline run once more. That is safe
// for every script here: a commit already applied fails its version check
// (a conflict: the batch is redone), a clear or a report delta already
// applied is not applied twice.
func (s *Store) runScript(ctx context.Context, script *redis.Script, what string, queue func(redis.Pipeliner)) error {
	for loaded := false; ; loaded = true {
		pipe := s.rdb.Pipeline()
		queue(pipe)
		_, err := pipe.Exec(ctx)
		if err == nil {
			return nil
		}
		if loaded || !isNoScript(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := script.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("%s: load script: %w", what, err)
		}
	}
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

func (s *Store) commitArgs(c *Commit, plan *ledgerPlan) ([]string, []any, error) {
	h := c.Home
	keys := make([]string, 3, 3+len(plan.writes))
	keys[0], keys[1], keys[2] = s.HomeKey(h.ID), s.outboxKey(h.ID), s.reportsKey(h.ID)
	args := make([]any, 0, 10+2*len(h.Contacts)+2*len(c.Offsets)+len(h.Removed)+len(c.Outbox)+3*len(plan.writes))
	args = append(args, c.Meta.Version, 0)
	sets := 0
	set := func(field string, value any) {
		args = append(args, field, value)
		sets++
	}
	for p, o := range c.Offsets {
		set(offsetField(p), o)
	}
	if h.Account.IsAccount() {
		set(fieldAccount, EncodeAccount(h.Account))
	}
	for _, c := range h.Contacts {
		b := encodeContact(c, &s.texts)
		if t, ok := plan.tails[c.ID]; ok {
			b = appendTailNear(b, t, c)
		}
		set(prefixContact+c.ID, b)
	}
	args[1] = sets
	var dels []any
	for _, id := range h.Removed {
		dels = append(dels, prefixContact+id)
	}
	if c.Meta.LegacyReports {
		dels = append(dels, fieldReports) // moved to reportsKey
	}
	outbox := slices.Clip(c.Outbox)
	if c.Meta.LegacyOutbox {
		// Moved into the set with this commit's crossings.
		dels = append(dels, fieldOutbox)
		for _, e := range c.Meta.Outbox {
			if e.Writer == "" {
				outbox = append(outbox, e)
			}
		}
	}
	args = append(args, len(dels))
	args = append(args, dels...)
	args = append(args, len(outbox))
	for i := range outbox {
		args = append(args, outboxMember(&outbox[i]))
	}
	switch {
	case len(c.Reports) > 0:
		b, err := json.Marshal(c.Reports)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, "s", b)
	case len(c.Meta.Reports) > 0:
		args = append(args, "d")
	default:
		args = append(args, "k")
	}
	for _, w := range plan.writes {
		keys = append(keys, s.ledgerKey(h.ID, w.contact))
		switch w.op {
		case opAppend:
			op := "a"
			if w.expect >= longLedger {
				op = "A"
			}
			args = append(args, op, w.expect, w.data)
		case opReplace:
			args = append(args, "r", w.data)
		default:
			args = append(args, "d")
		}
	}
	return keys, args, nil
}

// Derived is what is written after the commits: the contact index and the
// leaderboards. All of it can be recomputed from the homes, so it is written
// idempotently outside the atomic commit (its keys live in other slots).
type Derived struct {
	Where    map[string]string
	Contacts map[string]int32
	Accounts map[string]int32
	// Due is each contact's next decay time (Unix seconds); 0 removes it
	// from the due index.
	Due map[string]int64
	// Emails maps address hashes (EmailHash) to the contact last seen
	// with the address.
	Emails map[string]string
	// Boards are the filtered contact leaderboards of touched contacts.
	Boards map[string]Boards
	// MQA is the MQA status of touched accounts, for the set of MQA
	// accounts (MQACount).
	MQA map[string]bool
	// Retired are contacts merged into others: off the leaderboard.
	Retired []string
}

// Empty reports whether there is nothing to write.
func (d *Derived) Empty() bool {
	return len(d.Where)+len(d.Contacts)+len(d.Accounts)+len(d.Due)+len(d.Emails)+len(d.MQA)+len(d.Retired)+len(d.Boards) == 0
}

// WriteDerived writes the index and leaderboards in one pipeline.
func (s *Store) WriteDerived(ctx context.Context, d Derived) error {
	filtered := map[string]map[string]int32{}
	skipped := map[string]Ranked{}
	var left []string
	leaving := map[string][]any{} // board → contacts to take off it
	cells := map[string]bool{}
	for c, b := range d.Boards {
		for _, f := range b.In {
			if f.Field == filterCell {
				cells[f.Value] = true
			}
			board := f.Board()
			if floor, full := s.boardFloor(board); full && !b.mayHold(f, floor) {
				// Not written: lost at this score, unless the board
				// already says it may have lost as much.
				r := Ranked{ID: c, Score: int64(b.Score)}
				m, ok := skipped[board]
				if !ok {
					m, ok = s.lostMark(board)
				}
				if !ok || r.above(m) {
					skipped[board] = r
				}
				continue
			}
			if filtered[board] == nil {
				filtered[board] = map[string]int32{}
			}
			filtered[board][c] = b.Score
		}
		for _, f := range b.Out {
			board := f.Board()
			left = append(left, board)
			leaving[board] = append(leaving[board], c)
		}
	}
	for _, c := range d.Retired {
		leaving["contact"] = append(leaving["contact"], c)
	}
	var ranks boardWrites
	s.rank(&ranks, "contact", d.Contacts, nil, s.LeaderboardSize)
	s.rank(&ranks, "account", d.Accounts, nil, s.LeaderboardSize)
	for board, scores := range filtered {
		var lost *Ranked
		if r, ok := skipped[board]; ok {
			lost = &r
		}
		s.rank(&ranks, board, scores, lost, s.filteredSize(board))
	}
	for board, r := range skipped {
		if _, ranked := filtered[board]; !ranked {
			s.rank(&ranks, board, nil, &r, s.filteredSize(board))
		}
	}
	var after func()
	err := s.runScript(ctx, rankScript, "write index and leaderboards", func(pipe redis.Pipeliner) {
		for c, home := range d.Where {
			pipe.HSet(ctx, s.indexKey(c), c, home)
		}
		for h, c := range d.Emails {
			pipe.HSet(ctx, s.emailKey(h), emailField(h), c)
			pipe.HDel(ctx, s.emailKey(h), h) // an entry of before, if any
		}
		if len(cells) > 0 {
			pipe.SAdd(ctx, s.cellsKey(), slices.Collect(maps.Keys(cells)))
		}
		for a, mqa := range d.MQA {
			if mqa {
				pipe.SAdd(ctx, s.mqaKey(), a)
			} else {
				pipe.SRem(ctx, s.mqaKey(), a)
			}
		}
		// One ZREM per board: many contacts leave the same few boards.
		for board, members := range leaving {
			pipe.ZRem(ctx, s.LeaderboardKey(board), members...)
		}
		after = s.queueRanks(ctx, pipe, &ranks)
		for c, at := range d.Due {
			if at == 0 {
				pipe.ZRem(ctx, s.DueKey(DueShard(c)), c)
			} else {
				pipe.ZAdd(ctx, s.DueKey(DueShard(c)), redis.Z{Score: float64(at), Member: c})
			}
		}
	})
	if err != nil {
		return err
	}
	after()
	// A board a contact left may have room now: its floor is unknown
	// until a write reads it again.
	for _, board := range left {
		if _, ranked := filtered[board]; !ranked {
			s.setBoardFloor(board, 0, false)
		}
	}
	return nil
}

// filteredSize is how many entries a filtered board or a cell keeps.
func (s *Store) filteredSize(board string) int {
	if strings.HasPrefix(board, cellBoards) {
		return s.CellSize
	}
	return s.FilteredBoardSize
}

// boardWrites are the rank script's keys and arguments for the
// leaderboards one WriteDerived writes (see rank.lua): per board, its two
// keys and a run of arguments.
type boardWrites struct {
	boards []string
	keys   []string
	args   []any
	ends   []int // where each board's arguments end in args
}

// rank adds scores to a leaderboard and trims it to the top size, with
// the rank script (see rank.lua), which also keeps the board's lost mark
// (see Lost); lost is a contact left out of the board without being
// written, or nil. Once the board is full, a score below its lowest (as
// last seen) can only update an entry already there (ZADD XX): inserting
// it would be trimmed at once, and most scores written are such.
func (s *Store) rank(w *boardWrites, by string, scores map[string]int32, lost *Ranked, size int) {
	if len(scores) == 0 && lost == nil {
		return
	}
	floor, full := s.boardFloor(by)
	adds := 0
	for _, score := range scores {
		if !full || float64(score) >= floor {
			adds++
		}
	}
	w.args = append(w.args, size, adds)
	for id, score := range scores {
		if !full || float64(score) >= floor {
			w.args = append(w.args, score, id)
		}
	}
	w.args = append(w.args, len(scores)-adds)
	for id, score := range scores {
		if full && float64(score) < floor {
			w.args = append(w.args, score, id)
		}
	}
	if lost != nil {
		w.args = append(w.args, lost.Score, lost.ID)
	} else {
		w.args = append(w.args, "", "")
	}
	w.boards = append(w.boards, by)
	w.keys = append(w.keys, s.LeaderboardKey(by), s.lostKey(by))
	w.ends = append(w.ends, len(w.args))
}

// queueRanks queues the rank script for every board of w: one call,
// except on Redis Cluster, where a call's keys must share a slot and each
// board has a call of its own. The returned func records each board's
// lowest score and lost mark once the pipeline ran.
func (s *Store) queueRanks(ctx context.Context, pipe redis.Pipeliner, w *boardWrites) func() {
	if len(w.boards) == 0 {
		return func() {}
	}
	type call struct {
		from, to int // boards
		cmd      *redis.Cmd
	}
	var calls []call
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster {
		start := 0
		for b, end := range w.ends {
			calls = append(calls, call{b, b + 1, rankScript.EvalSha(ctx, pipe, w.keys[2*b:2*b+2], w.args[start:end]...)})
			start = end
		}
	} else {
		calls = append(calls, call{0, len(w.boards), rankScript.EvalSha(ctx, pipe, w.keys, w.args...)})
	}
	return func() {
		for _, c := range calls {
			out, err := c.cmd.StringSlice()
			for b := c.from; b < c.to; b++ {
				if err != nil || len(out) != 4*(c.to-c.from) {
					s.setBoardFloor(w.boards[b], 0, false)
					continue
				}
				r := out[4*(b-c.from):]
				if low, err := strconv.ParseFloat(r[0], 64); err == nil {
					s.setBoardFloor(w.boards[b], low, true)
				} else {
					s.setBoardFloor(w.boards[b], 0, false)
				}
				if score, err := strconv.ParseInt(r[2], 10, 64); err == nil {
					s.setLostMark(w.boards[b], Ranked{ID: r[3], Score: score})
				}
			}
		}
	}
}

// boardFloor is a leaderboard's lowest score as last seen, and whether it
// was full then.
func (s *Store) boardFloor(by string) (float64, bool) {
	s.boards.Lock()
	defer s.boards.Unlock()
	f, ok := s.boards.floor[by]
	return f, ok
}

// lostMark is a leaderboard's lost mark as last seen (see Lost): it only
// rises, so the mark in Redis is at or above it.
func (s *Store) lostMark(by string) (Ranked, bool) {
	s.boards.Lock()
	defer s.boards.Unlock()
	m, ok := s.boards.lost[by]
	return m, ok
}

func (s *Store) setLostMark(by string, m Ranked) {
	s.boards.Lock()
	defer s.boards.Unlock()
	if s.boards.lost == nil {
		s.boards.lost = map[string]Ranked{}
	}
	s.boards.lost[by] = m
}

func (s *Store) setBoardFloor(by string, floor float64, full bool) {
	s.boards.Lock()
	defer s.boards.Unlock()
	if s.boards.floor == nil {
		s.boards.floor = map[string]float64{}
	}
	if full {
		s.boards.floor[by] = floor
	} else {
		delete(s.boards.floor, by)
	}
}

// LoadHome loads one home with all its contacts, for the workspace.
func (s *Store) LoadHome(ctx context.Context, id string) (*scoring.Home, *Meta, error) {
	homes, metas, err := s.Load(ctx, map[string]*Request{id: {All: true}})
	if err != nil {
		return nil, nil, err
	}
	return homes[id], metas[id], nil
}
